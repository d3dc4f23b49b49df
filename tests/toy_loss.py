"""A toy loss and a toy optimizer for the registry tests: registered at test time, never built-ins.

Each is declared once here (:data:`TOY_LOSS`, :data:`TOY_OPTIMIZER`) with the code its entry
points at; :func:`registered_toys` adds both to the registries and removes them again, and the
tests then look for them everywhere the registries reach (config, form, check-loss, the
optimum, the fast path, a training run).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from engine.optimizer_registry import OptimizerSpec, register_optimizer, unregister_optimizer
from engine.registry import LossSpec, ParamSpec, register_loss, unregister_loss
from engine.training.update_rules import UpdateRule


def scaled_mse(pred: Tensor, target: Tensor, scale: float = 1.0) -> Tensor:
    """Scaled MSE: ``scale·mean((y - ŷ)²)``; same minimiser as MSE, values times scale."""
    return scale * torch.mean((target - pred) ** 2)


def scaled_mse_derivative(e: Tensor, out: Tensor, p: dict[str, float]) -> tuple[Tensor, float]:
    """``φ(e) = s·e²``, so ``φ'(e) = 2s·e``: ``e`` itself with the factor ``2s``."""
    return e, 2.0 * p["scale"]


TOY_LOSS = LossSpec(
    "toy",
    "MSE times a scale",
    "{scale:g}·mean((y-ŷ)²)",
    (ParamSpec("scale", 1.0, "Factor on the MSE. Default 1; > 0.", "s", {"gt": 0.0}),),
    smooth=True,
    optimum="reference",
    fn="tests.toy_loss:scaled_mse",
    derivative="tests.toy_loss:scaled_mse_derivative",
)
"""One parameter (``loss.params.scale``, > 0), a function, a derivative, a reference optimum."""


class HeavyBall(UpdateRule):
    """Gradient descent with heavy-ball momentum, written independently of the built-in sgd:
    ``g = ∇L + wd·w``; ``b = g`` at the first step, then ``b = μ·b + g``; ``θ -= lr·b``. The
    same iterates as ``torch.optim.SGD(lr, momentum)``."""

    def __init__(
        self, theta: Tensor, n_weights: int, lr: float, weight_decay: float, momentum: float
    ) -> None:
        super().__init__(theta, n_weights, lr, weight_decay, momentum=momentum)

    def step(self, scale: float = 1.0) -> None:
        group = self.param_groups[0]
        g = self._scaled_grad(scale)
        self.grad_w.add_(self.w, alpha=group["weight_decay"])  # the bias is never decayed
        buf = self.state.get("momentum_buffer")
        if buf is None:
            buf = self.state["momentum_buffer"] = g.clone()
        else:
            buf.mul_(group["momentum"]).add_(g)
        self.theta.add_(buf, alpha=-group["lr"])


TOY_OPTIMIZER = OptimizerSpec(
    "toy_heavy_ball",
    "torch.optim.SGD",
    ("lr", "momentum"),
    "heavy-ball gradient descent, for the registry tests",
    rule="tests.toy_loss:HeavyBall",
    formula="g = ∇L + wd·w; b = μ·b + g; θ -= lr·b",
)
"""An optimizer whose update rule lives here; checked against ``torch.optim.SGD``."""


@contextmanager
def registered_toys() -> Iterator[tuple[LossSpec, OptimizerSpec]]:
    """:data:`TOY_LOSS` and :data:`TOY_OPTIMIZER` in the registries for the ``with`` block."""
    register_loss(TOY_LOSS)
    register_optimizer(TOY_OPTIMIZER)
    try:
        yield TOY_LOSS, TOY_OPTIMIZER
    finally:
        unregister_loss(TOY_LOSS.name)
        unregister_optimizer(TOY_OPTIMIZER.name)
