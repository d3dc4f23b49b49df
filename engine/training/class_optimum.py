"""The reference optimum of a classification objective, and the separable-classes warning.

No closed form: the optimum is full-batch L-BFGS (strong Wolfe line search) in float64 from
zero weights, on the run's own objective (``data loss + l1·Σ|w| + l2·Σw²``, bias not
penalised), labelled ``reference``. For ``log_loss`` + l2 this is scikit-learn's
``LogisticRegression(C = 1/(2·l2·n))`` (lbfgs); for ``cross_entropy`` its multinomial fit.

Separable classes: when a linear model classifies every training row correctly, log loss and
cross-entropy have no minimum without l2 (scaling the weights up always lowers the loss, so
gradient descent runs them off to infinity), and hinge losses reach 0 on a whole cone of
weights. The check is an unpenalised cross-entropy fit: if it gets every training row right,
the classes are separable; a warning says so and, where there is no minimum, no optimum is
shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from engine.config import Config
from engine.data.dataset import Dataset
from engine.losses.functions import Objective
from engine.training.classify import cross_entropy_sum, predicted_class
from engine.training.lbfgs import float64_lbfgs

Stop = Callable[[], bool]
NO_MINIMUM = ("log_loss", "cross_entropy")
"""Losses without a minimum on separable classes unless l2 > 0."""


def _logits(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    z = x @ w.T + b
    return z.squeeze(-1) if w.shape[0] == 1 else z


def lbfgs_fit(
    loss: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    outputs: int,
    bias: bool,
    stop: Stop,
    chunks: int = 20,
    done: Callable[[Tensor, Tensor], bool] | None = None,
    start: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """Minimise ``loss(w, b)`` over ``w`` (outputs×d) and ``b`` (outputs) by float64 L-BFGS
    from zero (or ``start``), in chunks of at most 50 iterations so a stop is seen quickly; it
    ends when a chunk lowers the loss by less than 1e-13 (relative), or when ``done(w, b)``."""
    if start is None:
        start = (
            torch.zeros(outputs, x.shape[1], dtype=torch.float64),
            torch.zeros(outputs, dtype=torch.float64),
        )
    w = start[0].clone().requires_grad_(True)
    b = start[1].clone().requires_grad_(bias)
    opt = float64_lbfgs([w, b] if bias else [w], tolerance_change=1e-16)

    def closure() -> Tensor:
        opt.zero_grad()
        value = loss(w, b)
        value.backward()  # type: ignore[no-untyped-call]
        return value

    for _ in range(chunks):
        if stop():
            break
        before = float(loss(w, b).detach())
        opt.step(closure)  # type: ignore[no-untyped-call]
        if before - float(loss(w, b).detach()) <= 1e-13 * max(1.0, abs(before)):
            break  # converged: a chunk no longer lowers it
        if done is not None and done(w.detach(), b.detach()):
            break
    return w.detach(), b.detach()


SMOOTHING = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
"""Temperatures of the smoothed hinge, each fit starting from the previous one's optimum."""


def _smoothed_hinge(
    x: Tensor, y: Tensor, objective: Objective, bias: bool, stop: Stop
) -> tuple[Tensor, Tensor]:
    """A start for the hinge's L-BFGS: its kink at margin 1 defeats a quasi-Newton method
    (it stalls ~1e-3 above the minimum), so the hinge ``max(0, m)``, ``m = 1 - s·z``, is
    replaced by ``τ·softplus(m/τ)`` (at most ``τ·log 2`` above it) and minimised for
    τ = 0.1 down to 1e-6, each fit warm-started from the last."""
    s = 2 * y - 1
    w, b = torch.zeros(1, x.shape[1], dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    for tau in SMOOTHING:

        def smooth(w: Tensor, b: Tensor, tau: float = tau) -> Tensor:
            m = 1 - s * _logits(x, w, b)
            return tau * torch.nn.functional.softplus(m / tau).mean() + objective.penalty(w)

        w, b = lbfgs_fit(smooth, x, 1, bias, stop, start=(w, b))
    return w, b


def separable(x: Tensor, y: Tensor, outputs: int, bias: bool, stop: Stop) -> bool:
    """Whether a linear model classifies every row right: an unpenalised cross-entropy fit
    (which, on separable classes, drives the loss towards 0) gets them all."""
    n, labels = x.shape[0], y.long()

    def all_right(w: Tensor, b: Tensor) -> bool:
        return bool((predicted_class(_logits(x, w, b)) == labels).all())

    w, b = lbfgs_fit(
        lambda w, b: cross_entropy_sum(_logits(x, w, b), y) / n,
        x,
        outputs,
        bias,
        stop,
        chunks=10,
        done=all_right,
    )
    return all_right(w, b)


def class_optimum(
    ds: Dataset, cfg: Config, objective: Objective, stop: Stop, warnings: list[str]
) -> dict[str, Any] | None:
    """``{kind: reference, method, loss, weights, bias}`` (multiclass: weights K×d row by row,
    bias K values), or None (stopped, a failing user loss, or no minimum); appends the
    separable-classes warning to ``warnings``."""
    x, y = ds.train.x.double(), ds.train.y.double()
    outputs, bias, loss = ds.n_outputs, cfg.model.bias, cfg.loss
    if separable(x, y, outputs, bias, stop) and not stop():
        if loss.name in NO_MINIMUM and not loss.l2:
            warnings.append(
                f"classes are separable on the training split: {loss.name} has no "
                "minimum without l2 (the weights grow without bound); set "
                "loss.l2 > 0 for a finite optimum"
            )
            return None
        warnings.append(
            "classes are separable on the training split"
            + (": without l2 the minimum is not unique" if not loss.l2 else "")
        )
    try:
        start = _smoothed_hinge(x, y, objective, bias, stop) if loss.name == "hinge" else None
        w, b = lbfgs_fit(
            lambda w, b: objective(_logits(x, w, b), y, w), x, outputs, bias, stop, start=start
        )
        value = float(objective(_logits(x, w, b), y, w))
    except (RuntimeError, ValueError, TypeError):  # a user loss that fails in float64
        return None
    if stop() or not math.isfinite(value):
        return None
    bias_out: Any = (b.tolist() if outputs > 1 else float(b[0])) if bias else None
    return {
        "kind": "reference",
        "method": "L-BFGS (float64, full batch)",
        "loss": value,
        "weights": w.reshape(-1).tolist(),
        "bias": bias_out,
    }
