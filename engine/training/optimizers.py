"""Build the optimizer a config names, from :data:`engine.optimizer_registry.OPTIMIZERS`.

Training uses :func:`make_update_rule`: the registry's optimizers as plain update rules on the
flat parameter vector (:mod:`engine.training.update_rules`; no ``torch.optim``, hence no
``torch._dynamo`` import at start-up). :func:`make_optimizer` builds the ``torch.optim`` class
the registry names: the reference the update rules are tested against, and the fallback for a
registered optimizer whose entry names no update rule. Rules are found through each entry's
``rule`` pointer (``"module:attr"``), so a registered optimizer needs no change here. The
registry itself stays torch-free so the config and the dashboard can list the choices before
torch loads.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from engine.config import Config, ConfigError
from engine.optimizer_registry import OPTIMIZERS, OptimizerSpec
from engine.registry import resolve
from engine.training.update_rules import UpdateRule


def optimizer_spec(name: str) -> OptimizerSpec:
    """The registered optimizer ``name``; an unknown name is an error, never a fall-through."""
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise ConfigError(
            f"optim.name must be one of {', '.join(OPTIMIZERS)}; got {name!r}",
            key="optim.name",
            reason=f"must be one of {', '.join(OPTIMIZERS)}",
        ) from None


def optimizer_class(spec: OptimizerSpec) -> type[torch.optim.Optimizer]:
    """The torch class named by ``spec.torch_class`` (``"torch.optim.SGD"``)."""
    module, _, attr = spec.torch_class.rpartition(".")
    cls: type[torch.optim.Optimizer] = getattr(importlib.import_module(module), attr)
    return cls


def make_optimizer(model: nn.Linear, cfg: Config) -> torch.optim.Optimizer:
    """The configured optimizer with weight decay on ``w`` only (the bias is never penalised).

    Only the hyperparameters the registry lists for this optimizer are passed (momentum only
    for sgd), so a setting that does not apply cannot leak into another optimizer.
    """
    o = cfg.optim
    spec = optimizer_spec(o.name)
    if o.weight_decay == 0:  # one group: half the optimiser's per-step bookkeeping
        # weight_decay 0 said explicitly: AdamW's own default (0.01) would decay w and b
        groups: list[dict[str, Any]] = [{"params": list(model.parameters()), "weight_decay": 0.0}]
    else:
        groups = [{"params": [model.weight], "weight_decay": o.weight_decay}]
        if model.bias is not None:
            groups.append({"params": [model.bias], "weight_decay": 0.0})
    kwargs = {name: getattr(o, name) for name in spec.hyperparams}
    return optimizer_class(spec)(groups, **kwargs)


class TorchOptimizerRule(UpdateRule):
    """A registered optimizer with no update rule of its own: its torch class, stepping on the
    model's parameters (views of the flat vector) with the flat gradient."""

    def __init__(self, theta: torch.Tensor, model: nn.Linear, cfg: Config) -> None:
        super().__init__(theta, model.weight.numel(), cfg.optim.lr, cfg.optim.weight_decay)
        self.optimizer = make_optimizer(model, cfg)
        self.param_groups = self.optimizer.param_groups
        n_w = model.weight.numel()
        model.weight.grad = self.grad[:n_w].view_as(model.weight)
        if model.bias is not None:
            model.bias.grad = self.grad[n_w:]

    def step(self, scale: float = 1.0) -> None:
        self._scaled_grad(scale)
        self.optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(saved)


def make_update_rule(theta: torch.Tensor, model: nn.Linear, cfg: Config) -> UpdateRule:
    """The configured optimizer as an update rule on ``theta`` (``[w, b]``, which the model's
    parameters view); weight decay on ``w`` only, and only the hyperparameters the registry
    lists for this optimizer (momentum only for sgd)."""
    o = cfg.optim
    spec = optimizer_spec(o.name)
    if spec.rule is None:
        return TorchOptimizerRule(theta, model, cfg)
    rule: Callable[..., UpdateRule] = resolve(spec.rule)
    kwargs: dict[str, Any] = {name: getattr(o, name) for name in spec.hyperparams if name != "lr"}
    return rule(theta, model.weight.numel(), o.lr, o.weight_decay, **kwargs)
