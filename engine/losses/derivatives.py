"""Closed-form gradients of the registered losses, so the hot loop needs no autograd graph.

Every built-in data loss is ``mean(φ(e))`` of the error ``e = ŷ - y`` (``= -r``), so for the
linear model ``ŷ = X·w + b`` its gradient is ``∂L/∂w = Xᵀφ'(e)/m`` and ``∂L/∂b = Σφ'(e)/m``:
one matrix-vector product per step once ``φ'(e)`` is known. Each loss's ``φ'`` is named by its
registry entry (:attr:`engine.registry.LossSpec.derivative`, ``"module:attr"``, imported here
when a run builds its closed form); the built-ins' sit beside their functions in
:mod:`engine.losses.functions`:

- mse: ``2e``;  mae: ``sign(e)``;  log_cosh: ``tanh(e)``;
- huber(δ): ``clamp(e, -δ, δ)``;  smooth_l1(δ): ``clamp(e, -δ, δ)/δ``;
- quantile(q): ``½·sign(e) + ½ - q`` (``1-q`` above the target, ``-q`` below, and autograd's
  half-and-half ``½-q`` at a tie).

The penalties ``l1·Σ|w| + l2·Σw²`` add ``l1·sign(w) + 2·l2·w``. The loss *values* still come from
the registered torch functions (``Σφ(e) = m·fn(e, 0)``, as every built-in depends on ``y - ŷ``
only). A user loss, or a registered loss whose entry names no derivative, has no closed form:
:func:`closed_form` returns None and the trainer keeps autograd for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from engine.config import LossConfig
from engine.losses.formulas import loss_values
from engine.losses.functions import LossFn, builtin
from engine.registry import LOSSES, resolve

Derivative = Callable[[Tensor, Tensor, dict[str, float]], tuple[Tensor, float]]
"""``(e, out, params) -> (t, c)`` with ``φ'(e) = c·t``; ``t`` is ``out`` (written in place) or
``e`` itself (so mse needs no op: its factor 2 folds into the step size). ``params`` holds every
parameter of the loss by name."""


def derivative_of(name: str) -> Derivative | None:
    """The closed-form ``φ'`` the registered loss ``name`` names, or None (autograd only)."""
    spec = LOSSES.get(name)
    if spec is None or spec.derivative is None:
        return None
    derivative: Derivative = resolve(spec.derivative)
    return derivative


@dataclass(frozen=True)
class Term:
    """One weighted data-loss term (of the registered loss ``name``) with its value function
    and derivative."""

    name: str
    weight: float
    fn: LossFn
    derivative: Derivative
    params: dict[str, float]


@dataclass(frozen=True)
class ClosedForm:
    """``Σ_k weight_k·mean(φ_k(e)) + l1·Σ|w| + l2·Σw²`` with its gradient in closed form."""

    terms: tuple[Term, ...]
    l1: float
    l2: float

    @property
    def is_mse(self) -> bool:
        """A plain (possibly ridge/lasso-penalised) MSE: the sufficient-statistics case."""
        return len(self.terms) == 1 and self.terms[0].name == "mse" and self.terms[0].weight == 1.0

    def derivative(self, e: Tensor, out: Tensor) -> tuple[Tensor, float]:
        """``φ'(e) = c·t`` as ``(t, c)``; ``t`` is written into ``out`` unless it is ``e``."""
        if len(self.terms) == 1:
            term = self.terms[0]
            t, c = term.derivative(e, out, term.params)
            return t, c * term.weight
        scratch = torch.empty_like(out)
        out.zero_()
        for term in self.terms:
            t, c = term.derivative(e, scratch, term.params)
            out.add_(t, alpha=c * term.weight)
        return out, 1.0

    def data_sum(self, e: Tensor) -> Tensor:
        """``Σφ(e)`` over the rows of ``e`` (a device scalar)."""
        zero = e.new_zeros(()).expand_as(e)
        total = e.new_zeros(())
        for term in self.terms:
            total = total + term.weight * term.fn(e, zero)
        return total * e.shape[0]

    def penalty(self, w: Tensor) -> Tensor | None:
        """``l1·Σ|w| + l2·Σw²`` (None when both are 0)."""
        if not (self.l1 or self.l2):
            return None
        out = w.new_zeros(())
        if self.l1:
            out = out + self.l1 * torch.linalg.vector_norm(w, 1)
        if self.l2:
            out = out + self.l2 * torch.dot(w, w)
        return out

    def add_penalty_grad(self, grad_w: Tensor, w: Tensor) -> None:
        """``grad_w += l1·sign(w) + 2·l2·w``."""
        if self.l1:
            grad_w.add_(torch.sign(w), alpha=self.l1)
        if self.l2:
            grad_w.add_(w, alpha=2.0 * self.l2)


def _term(name: str, params: dict[str, Any], cfg: LossConfig, weight: float) -> Term | None:
    derivative = derivative_of(name)
    if derivative is None:
        return None
    values = loss_values(name, params, cfg)
    full = LOSSES[name].values(values)
    return Term(name, weight, builtin(name, **values), derivative, full)


def closed_form(cfg: LossConfig) -> ClosedForm | None:
    """The objective of the ``loss`` section in closed form, or None when it needs autograd
    (a custom loss, or a registered loss whose entry names no derivative)."""
    if cfg.name == "combined":
        terms = [
            _term(t["name"], t.get("params") or {}, cfg, float(t.get("weight", 1.0)))
            for t in cfg.terms or []
        ]
    elif cfg.name == "custom":
        return None
    else:
        terms = [_term(cfg.name, dict(cfg.params), cfg, 1.0)]
    if not terms or any(t is None for t in terms):
        return None
    return ClosedForm(tuple(terms), cfg.l1, cfg.l2)  # type: ignore[arg-type]
