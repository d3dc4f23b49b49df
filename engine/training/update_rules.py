"""Optimizer update rules on one flat parameter vector ``θ = [w, b]``, without ``torch.optim``.

Why not ``torch.optim``: constructing the first ``torch.optim`` optimizer imports
``torch._dynamo`` (about 1.8 s of a short run's start-up), and its per-step bookkeeping (hooks,
parameter groups, ``_use_grad``) costs more than the update itself for a model of ``d + 1``
numbers. These rules apply the same arithmetic as torch's single-tensor implementations, in the
same order, so they give the same iterates (``tests/test_fast_paths.py`` checks them against
``torch.optim`` for every registered optimizer). Each registry entry names its rule
(:attr:`engine.optimizer_registry.OptimizerSpec.rule`, e.g. ``"engine.training.update_rules:sgd"``):

- sgd: ``g += wd·w``; with momentum ``buf = g`` on the first step, then ``buf = μ·buf + g``;
  ``θ -= lr·buf`` (or ``lr·g`` without momentum);
- adam: ``g += wd·w``; ``m = lerp(m, g, 1-β1)``; ``v = β2·v + (1-β2)·g²``;
  ``θ -= lr/(1-β1ᵗ) · m / (√v/√(1-β2ᵗ) + ε)``;
- adamw: ``w *= 1 - lr·wd`` (decoupled), then adam without ``wd``.

Weight decay never touches the bias (the last entry of θ when the model has one).

A rule owns the gradient buffer ``grad`` (the fast paths write the gradient into it, no
allocation per step) and offers what checkpoints and the epoch event need from an optimizer:
``param_groups[0]["lr"]``, ``state_dict()`` / ``load_state_dict()`` of tensors and plain values
(loadable with ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class UpdateRule:
    """Base: the flat parameters, their gradient buffer and the hyperparameters (one group)."""

    def __init__(
        self, theta: Tensor, n_weights: int, lr: float, weight_decay: float, **hyper: Any
    ) -> None:
        self.theta = theta
        self.grad = torch.zeros_like(theta)
        self.w, self.grad_w = theta[:n_weights], self.grad[:n_weights]
        self.param_groups: list[dict[str, Any]] = [
            {"lr": lr, "weight_decay": weight_decay, **hyper, "params": [0]}
        ]
        self.state: dict[str, Any] = {}

    @property
    def lr(self) -> float:
        return float(self.param_groups[0]["lr"])

    @property
    def weight_decay(self) -> float:
        return float(self.param_groups[0]["weight_decay"])

    def step(self, scale: float = 1.0) -> None:
        """Apply one update with the gradient ``scale·grad`` (``grad`` may be overwritten)."""
        raise NotImplementedError

    def _scaled_grad(self, scale: float) -> Tensor:
        if scale != 1.0:
            self.grad.mul_(scale)
        return self.grad

    def state_dict(self) -> dict[str, Any]:
        """Like ``torch.optim.Optimizer.state_dict()``: tensors and plain values only."""
        state = {k: v.detach().clone() for k, v in self.state.items()}
        groups = [
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
            for g in self.param_groups
        ]
        return {"state": {0: state} if state else {}, "param_groups": groups}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (a resumed run): hyperparameters and buffers."""
        group = dict(saved["param_groups"][0])
        group["params"] = [0]
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
        self.param_groups = [group]
        state = saved["state"].get(0, saved["state"].get("0", {}))
        self.state = {
            k: v.to(self.theta.device, self.theta.dtype) if k != "step" else v.detach().clone()
            for k, v in state.items()
        }


class SGD(UpdateRule):
    """Stochastic gradient descent with optional (heavy-ball, undampened) momentum."""

    def __init__(
        self,
        theta: Tensor,
        n_weights: int,
        lr: float,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
    ) -> None:
        super().__init__(theta, n_weights, lr, weight_decay, momentum=momentum)

    def step(self, scale: float = 1.0) -> None:
        group = self.param_groups[0]
        lr, wd, momentum = group["lr"], group["weight_decay"], group["momentum"]
        if not wd and not momentum:  # the hot case: one fused op
            self.theta.add_(self.grad, alpha=-lr * scale)
            return
        g = self._scaled_grad(scale)
        if wd:
            self.grad_w.add_(self.w, alpha=wd)
        if momentum:
            buf = self.state.get("momentum_buffer")
            if buf is None:
                buf = self.state["momentum_buffer"] = g.clone()
            else:
                buf.mul_(momentum).add_(g)
            g = buf
        self.theta.add_(g, alpha=-lr)


class Adam(UpdateRule):
    """Adam (``decoupled=True``: AdamW), torch's defaults β = (0.9, 0.999), ε = 1e-8."""

    def __init__(
        self,
        theta: Tensor,
        n_weights: int,
        lr: float,
        weight_decay: float = 0.0,
        decoupled: bool = False,
    ) -> None:
        super().__init__(theta, n_weights, lr, weight_decay, betas=(0.9, 0.999), eps=1e-8)
        self.decoupled = decoupled

    def step(self, scale: float = 1.0) -> None:
        group = self.param_groups[0]
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        if not self.state:
            self.state = {
                "step": torch.tensor(0.0),
                "exp_avg": torch.zeros_like(self.theta),
                "exp_avg_sq": torch.zeros_like(self.theta),
            }
        g = self._scaled_grad(scale)
        if wd:
            if self.decoupled:
                self.w.mul_(1 - lr * wd)
            else:
                self.grad_w.add_(self.w, alpha=wd)
        step_t, m, v = self.state["step"], self.state["exp_avg"], self.state["exp_avg_sq"]
        step_t += 1
        step = float(step_t)  # a CPU tensor: no device sync
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        denom = (v.sqrt() / bias_correction2_sqrt).add_(eps)
        self.theta.addcdiv_(m, denom, value=-lr / (1 - beta1**step))


# The update rule of each built-in optimizer, named by its registry entry's ``rule``; each takes
# the flat parameters, the number of weights (the rest is the bias), ``lr``, ``weight_decay``
# and the other hyperparameters the entry lists, by name.


def sgd(
    theta: Tensor, n_weights: int, lr: float, weight_decay: float, momentum: float = 0.0
) -> UpdateRule:
    """The ``sgd`` entry's rule."""
    return SGD(theta, n_weights, lr, weight_decay, momentum)


def adam(theta: Tensor, n_weights: int, lr: float, weight_decay: float) -> UpdateRule:
    """The ``adam`` entry's rule."""
    return Adam(theta, n_weights, lr, weight_decay)


def adamw(theta: Tensor, n_weights: int, lr: float, weight_decay: float) -> UpdateRule:
    """The ``adamw`` entry's rule."""
    return Adam(theta, n_weights, lr, weight_decay, decoupled=True)
