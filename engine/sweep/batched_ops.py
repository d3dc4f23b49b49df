"""The arithmetic of batched trials: losses, their derivatives and update rules on K columns.

:mod:`engine.sweep.batched` trains K trials as one tensor program: the parameters are a
``(d+1)×K`` matrix ``Θ`` (one column per trial, the bias in the last row), the residuals of a
block of rows an ``m×K`` matrix ``E = ZΘ - y`` (``Z = [X | 1]``), and every per-trial setting a
``1×K`` row that broadcasts over them. This module holds what acts on those matrices, column by
column exactly as the single run's closed-form path acts on its vector
(:mod:`engine.losses.derivatives`, :mod:`engine.training.update_rules`), so each column follows
the iterates of its trial trained alone, to float32 rounding:

- data loss ``mean(φ(e))`` per column, with ``e = ŷ - y``: mse ``e²``; mae ``|e|``; huber(δ)
  ``½e²`` where ``|e| < δ`` else ``δ(|e| - ½δ)``; smooth_l1(δ) that divided by δ; log_cosh
  ``|e| + softplus(-2|e|) - log 2``; quantile(q) ``max(q·r, (q-1)·r)`` with ``r = -e``;
- its derivative ``φ'(e) = c·t``: mse ``t = e, c = 2``; mae ``sign(e)``; huber
  ``clamp(e, -δ, δ)``; smooth_l1 the same with ``c = 1/δ``; log_cosh ``tanh(e)``; quantile
  ``t = sign(e) + 1 - 2q, c = ½``;
- penalties ``l1·Σ|w| + l2·Σw²`` per column (bias never penalised), gradient
  ``l1·sign(w) + 2·l2·w``;
- sgd: ``g = pre·grad (+ penalty gradient) + wd·w``; ``buf = μ·buf + g``; ``θ += α·buf``, where
  ``pre``/``α`` are ``1``/``-lr·c/m`` for a trial with neither penalty, decay nor momentum (the
  single run's fused step) and ``c/m``/``-lr`` otherwise (``μ = 0`` makes ``buf = g``);
- adam/adamw: ``g = (c/m)·grad (+ penalty gradient)``; adam ``g += wd·w``, adamw
  ``w *= 1 - lr·wd``; ``m = lerp(m, g, 1-β1)``; ``v = β2·v + (1-β2)·g²``;
  ``θ -= lr/(1-β1ᵗ) · m / (√v/√(1-β2ᵗ) + ε)``.

Per-trial constants are computed in float64 and rounded once to float32, as the single run's
Python floats are when they meet a float32 tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

Row = Tensor
"""A ``1×k`` float32 row of per-trial values that broadcasts over an ``m×k`` block."""


@dataclass(frozen=True)
class LossOps:
    """One built-in loss on a block of columns: ``φ``, ``φ'/c`` and ``c``."""

    value: Callable[[Tensor, Row], Tensor]
    """``(E, p) -> φ(E)`` elementwise; ``p`` is the loss parameter's row (δ or q)."""
    derivative: Callable[[Tensor, Row, Tensor], Tensor]
    """``(E, p, out) -> t`` with ``φ'(E) = c·t``; ``t`` is ``out`` or ``E`` itself (mse)."""
    factor: Callable[[float], float]
    """``c`` from the trial's parameter value."""
    param: str | None = None
    """The loss parameter (``delta``, ``quantile``), or None."""


def _huber(e: Tensor, d: Row) -> Tensor:
    a = e.abs()
    return torch.where(a < d, 0.5 * e * e, d * (a - 0.5 * d))


def _smooth_l1(e: Tensor, d: Row) -> Tensor:
    a = e.abs()
    return torch.where(a < d, 0.5 * e * e / d, a - 0.5 * d)


def _log_cosh(e: Tensor, p: Row) -> Tensor:
    a = e.abs()
    return a + F.softplus(-2.0 * a) - math.log(2.0)


def _quantile(e: Tensor, q: Row) -> Tensor:
    r = -e
    return torch.maximum(q * r, (q - 1.0) * r)


def _clamp(e: Tensor, d: Row, out: Tensor) -> Tensor:
    return torch.clamp(e, min=-d, max=d, out=out)


LOSS_OPS: dict[str, LossOps] = {
    "mse": LossOps(lambda e, p: e * e, lambda e, p, out: e, lambda p: 2.0),
    "mae": LossOps(lambda e, p: e.abs(), lambda e, p, out: torch.sign(e, out=out), lambda p: 1.0),
    "huber": LossOps(_huber, _clamp, lambda p: 1.0, "delta"),
    "smooth_l1": LossOps(_smooth_l1, _clamp, lambda p: 1.0 / p, "delta"),
    "log_cosh": LossOps(_log_cosh, lambda e, p, out: torch.tanh(e, out=out), lambda p: 1.0),
    "quantile": LossOps(
        _quantile,
        lambda e, p, out: torch.sign(e, out=out).add_(1.0 - 2.0 * p),
        lambda p: 0.5,
        "quantile",
    ),
}
"""The built-in losses the batched program can train, by registry name: exactly
:data:`engine.sweep.batched_plan.BATCHED_LOSSES`, i.e. every built-in loss (:mod:`engine.registry`)
not listed in :data:`~engine.sweep.batched_plan.NOT_BATCHED_LOSSES` with its reason
(``tests/test_registry_batched.py`` holds them to that). A custom, combined or run-time
registered loss trains alone."""


class Penalty:
    """``l1·Σ|w| + l2·Σw²`` per column (the bias row is never passed in); no ops at all where
    no column has a penalty."""

    def __init__(self, l1: list[float], l2: list[float], like: Tensor) -> None:
        self.l1_values, self.l2_values = l1, l2
        self.has_l1, self.has_l2 = any(l1), any(l2)
        self.l1, self.l2 = _row(l1, like), _row(l2, like)

    def part(self, sl: slice) -> Penalty:
        """The penalty of the columns ``sl``."""
        return Penalty(self.l1_values[sl], self.l2_values[sl], self.l1)

    def value(self, w: Tensor) -> Tensor | None:
        """The penalty of each column of ``w`` (``d×k``), or None when all are 0."""
        out = None
        if self.has_l1:
            out = self.l1[0] * w.abs().sum(0)
        if self.has_l2:
            sq = self.l2[0] * (w * w).sum(0)
            out = sq if out is None else out + sq
        return out

    def add_grad(self, grad_w: Tensor, w: Tensor) -> None:
        """``grad_w += l1·sign(w) + 2·l2·w`` column by column."""
        if self.has_l1:
            grad_w.add_(torch.sign(w) * self.l1)
        if self.has_l2:
            grad_w.add_(w * (2.0 * self.l2))


class ColumnRule:
    """An update rule on a slice of ``Θ``'s columns; the rows below ``n_weights`` are the bias."""

    def __init__(self, theta: Tensor, n_weights: int, penalty: Penalty) -> None:
        self.theta, self.n_weights, self.penalty = theta, n_weights, penalty
        self._rows: dict[int, tuple[Row, Row]] = {}

    def step(self, grad: Tensor, scale: list[float], key: int) -> None:
        """Apply one update with the gradient ``scale·grad`` (``scale``: per column, host
        numbers; their rows are cached under ``key``, the batch size) plus the penalties'
        gradient. ``grad`` is overwritten."""
        rows = self._rows.get(key)
        if rows is None:
            rows = self._rows[key] = self._coefficients(scale)
        self._step(grad, *rows)

    def _coefficients(self, scale: list[float]) -> tuple[Row, Row]:
        raise NotImplementedError

    def _step(self, grad: Tensor, pre: Row, alpha: Row) -> None:
        raise NotImplementedError


class ColumnSGD(ColumnRule):
    """sgd, with per-column lr, momentum and weight decay (see the module docstring)."""

    def __init__(
        self,
        theta: Tensor,
        n_weights: int,
        penalty: Penalty,
        lr: list[float],
        momentum: list[float],
        weight_decay: list[float],
    ) -> None:
        super().__init__(theta, n_weights, penalty)
        penalised = [bool(a or b) for a, b in zip(penalty.l1_values, penalty.l2_values)]
        self.lr, self.plain = (
            lr,
            [not (m or wd or p) for m, wd, p in zip(momentum, weight_decay, penalised)],
        )
        self.mu, self.wd = _row(momentum, theta), _row(weight_decay, theta)
        self.uses_momentum, self.decays = any(momentum), any(weight_decay)
        self.buf: Tensor | None = None

    def _coefficients(self, scale: list[float]) -> tuple[Row, Row]:
        """``pre`` and ``α`` (see the module docstring)."""
        pre = [1.0 if p else s for p, s in zip(self.plain, scale)]
        alpha = [-lr * s if p else -lr for p, lr, s in zip(self.plain, self.lr, scale)]
        return _row(pre, self.theta), _row(alpha, self.theta)

    def _step(self, grad: Tensor, pre: Row, alpha: Row) -> None:
        d = self.n_weights
        g = grad.mul_(pre)
        w, g_w = self.theta[:d], g[:d]
        self.penalty.add_grad(g_w, w)
        if self.decays:
            g_w.add_(w * self.wd)
        if self.uses_momentum:
            if self.buf is None:
                self.buf = g.clone()
            else:
                self.buf.mul_(self.mu).add_(g)
            g = self.buf
        self.theta.add_(g * alpha)


class ColumnAdam(ColumnRule):
    """adam and adamw side by side (``decoupled`` per column), torch's β = (0.9, 0.999),
    ε = 1e-8; the step count is shared (every trial of a batch starts together)."""

    def __init__(
        self,
        theta: Tensor,
        n_weights: int,
        penalty: Penalty,
        lr: list[float],
        weight_decay: list[float],
        decoupled: list[bool],
    ) -> None:
        super().__init__(theta, n_weights, penalty)
        self.beta1, self.beta2, self.eps = 0.9, 0.999, 1e-8
        coupled = [0.0 if dec else wd for wd, dec in zip(weight_decay, decoupled)]
        self.wd = _row(coupled, theta)
        self.couples = any(coupled)
        self.decay = _row(
            [1.0 - lr_ * wd if dec else 1.0 for lr_, wd, dec in zip(lr, weight_decay, decoupled)],
            theta,
        )
        self.decouples = any(w and dec for w, dec in zip(weight_decay, decoupled))
        wide = torch.float64 if theta.device.type != "mps" else torch.float32
        self.neg_lr = torch.tensor([[-x for x in lr]], dtype=wide, device=theta.device)
        self.m = torch.zeros_like(theta)
        self.v = torch.zeros_like(theta)
        self.t = 0

    def _coefficients(self, scale: list[float]) -> tuple[Row, Row]:
        row = _row(scale, self.theta)
        return row, row

    def _step(self, grad: Tensor, pre: Row, alpha: Row) -> None:
        d = self.n_weights
        g = grad.mul_(pre)
        w, g_w = self.theta[:d], g[:d]
        self.penalty.add_grad(g_w, w)
        if self.decouples:
            w.mul_(self.decay)
        if self.couples:
            g_w.add_(w * self.wd)
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        self.m.lerp_(g, 1 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (self.v.sqrt() / (1 - b2**self.t) ** 0.5).add_(self.eps)
        step_size = (self.neg_lr / (1 - b1**self.t)).to(self.theta.dtype)
        self.theta.add_(self.m / denom * step_size)


def _row(values: list[float], like: Tensor) -> Row:
    """Host numbers as a ``1×k`` row in ``like``'s dtype and device (one rounding each)."""
    return torch.tensor([values], dtype=like.dtype, device=like.device)
