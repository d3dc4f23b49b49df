"""Loss shape: ``L(r)`` and ``ψ(r) = ∂L/∂r`` over a grid of residuals, beside their histogram.

Why: a loss's curve over epochs does not say what it does to the rows. Its shape does: where
MSE's ``ψ(r) = 2r`` keeps growing, Huber's is clipped at ``±δ`` (those rows sit in the linear
zone and pull with a fixed force), and the quantile loss tilts (``ψ = q`` above the fit,
``q - 1`` below). Drawn over the histogram of the current residuals it shows which rows are in
which zone.

Formulas, with ``r = y - ŷ``: every registered data loss is ``mean_i L(r_i)``
(:class:`engine.registry.LossSpec`), so

- ``L(r) = fn(ŷ = 0, y = r)`` element by element: the *registered torch function itself*,
  batched with ``torch.func.vmap`` over one-element calls (no formula is restated here, so a
  newly registered loss works unchanged);
- ``ψ(r) = ∂L/∂r`` by autograd of that same function;
- a combined loss ``Σ_k weight_k·L_k`` has ``L = Σ_k weight_k·L_k(r)`` and ``ψ`` likewise.

Sign: the engine's closed-form derivatives (:mod:`engine.losses.derivatives`) are ``φ'(e)`` of
the error ``e = ŷ - y = -r``, so ``ψ(r) = -φ'(-r)`` (MSE: ``φ'(e) = 2e``, ``ψ(r) = 2r``).
A user (``custom``) loss may depend on more than the residual (the weights, the raw pair), so it
has no ``L(r)``: :meth:`ResidualLoss.from_config` refuses it with a :class:`ConfigError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from engine.config import ConfigError, LossConfig
from engine.losses.formulas import loss_values
from engine.losses.functions import loss_function
from engine.registry import LOSSES, LossSpec

DEFAULT_POINTS = 201
"""Grid points of ``L(r)`` and ``ψ(r)`` (odd, so ``r = 0`` is on the grid)."""
DEFAULT_BINS = 30
"""Bins of the residual histogram."""


def _elementwise(
    fn: Callable[..., Tensor], params: Mapping[str, float]
) -> Callable[[Tensor], Tensor]:
    """``r -> L(r)`` element-wise (any shape) from a mean-reducing ``fn(pred, target, **p)``."""

    def one(r: Tensor) -> Tensor:
        r1 = r.reshape(1)
        return fn(torch.zeros_like(r1), r1, **params)

    batched = torch.func.vmap(one)

    def apply(r: Tensor) -> Tensor:
        if r.numel() == 0:
            return r.clone()
        out: Tensor = batched(r.reshape(-1))
        return out.reshape(r.shape)

    return apply


@dataclass(frozen=True)
class Term:
    """One registered loss with its parameter values and its weight in the sum."""

    weight: float
    spec: LossSpec
    params: dict[str, float]

    @property
    def formula(self) -> str:
        """The loss's formula with its parameters filled in."""
        return self.spec.render(self.params)


@dataclass(frozen=True)
class ResidualLoss:
    """A data loss that is ``mean_i L(r_i)`` with ``L(r) = Σ_k weight_k·L_k(r)``.

    Build one with :meth:`named` (one registered loss) or :meth:`from_config` (a run's
    ``loss`` section: single or combined). :meth:`values` and :meth:`psi` work element-wise on a
    tensor of residuals of any shape.
    """

    name: str
    terms: tuple[Term, ...]

    @classmethod
    def named(cls, name: str, params: Mapping[str, Any] | None = None) -> ResidualLoss:
        """The registered loss ``name`` with ``params`` (by name or alias; defaults otherwise),
        each checked against its range."""
        spec = LOSSES.get(name)
        if spec is None:
            raise ConfigError(
                f"unknown loss '{name}'; registered: {', '.join(LOSSES)}",
                key="loss.name",
                reason="unknown loss",
            )
        values = spec.values(params or {})
        for p in spec.params:
            if not p.in_range(values[p.name]):
                raise ConfigError(
                    f"{name}: {p.name} must be {p.range_phrase()}, got {values[p.name]:g}",
                    key=f"loss.{p.name}",
                    reason=f"must be {p.range_phrase()}",
                )
        return cls(name, (Term(1.0, spec, values),))

    @classmethod
    def from_config(cls, cfg: LossConfig) -> ResidualLoss:
        """The data loss of a ``loss`` section (penalties are not part of it)."""
        if cfg.name == "combined":
            terms = []
            for i, term in enumerate(cfg.terms or []):
                name = str(term["name"])
                spec = cls._registered(name, f"loss.terms[{i}].name")
                values = loss_values(name, term.get("params") or {}, cfg)
                terms.append(Term(float(term.get("weight", 1.0)), spec, values))
            return cls("combined", tuple(terms))
        spec = cls._registered(cfg.name, "loss.name")
        return cls(cfg.name, (Term(1.0, spec, loss_values(cfg.name, cfg.params, cfg)),))

    @staticmethod
    def _registered(name: str, key: str) -> LossSpec:
        spec = LOSSES.get(name)
        if spec is None:
            raise ConfigError(
                f"{key}: the loss lab needs a registered loss, a function of the "
                f"residual r = y - ŷ alone; '{name}' is not one "
                f"(registered: {', '.join(LOSSES)})",
                key=key,
                reason="not a registered loss",
            )
        return spec

    @property
    def formula(self) -> str:
        """``L`` as text: the term's formula, or ``w₁·formula₁ + w₂·formula₂ ...``."""
        if len(self.terms) == 1 and self.terms[0].weight == 1.0:
            return self.terms[0].formula
        return " + ".join(f"{t.weight:g}·{t.formula}" for t in self.terms)

    def values(self, r: Tensor) -> Tensor:
        """``L(r)`` element-wise, same shape and dtype as ``r``."""
        out = torch.zeros_like(r)
        for t in self.terms:
            out = out + t.weight * _elementwise(loss_function(t.spec), t.params)(r)
        return out

    def psi(self, r: Tensor) -> Tensor:
        """``ψ(r) = ∂L/∂r`` element-wise, by autograd of the registered functions."""
        with torch.enable_grad():
            x = r.detach().clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.values(x).sum(), x)
        return grad + 0.0  # -0.0 (autograd's sign at a tie) reads as 0

    def describe(self) -> dict[str, Any]:
        """Name, formula and each term's parameters, JSON-ready."""
        return {
            "name": self.name,
            "formula": self.formula,
            "terms": [
                {"name": t.spec.name, "weight": t.weight, "params": dict(t.params)}
                for t in self.terms
            ],
        }


def residual_limit(residuals: Sequence[Tensor], floor: float = 1.0) -> float:
    """Half-width of a grid that holds every residual: ``max|r|`` (``floor`` if there are
    none or all are 0)."""
    biggest = max((float(r.abs().max()) for r in residuals if r.numel()), default=0.0)
    return biggest if biggest > 0 else floor


def symmetric(half: float, count: int) -> Tensor:
    """``count`` evenly spaced values from ``-half`` to ``half``, exactly symmetric about 0 (so
    an odd count puts 0 itself on the grid)."""
    t = torch.linspace(-1.0, 1.0, count, dtype=torch.float64)
    return half * (t - t.flip(0)) / 2


def histogram(r: Tensor, edges: Tensor) -> dict[str, Any]:
    """Counts of ``r`` in the bins between ``edges`` (the last bin closed on the right), and
    the counts below and above the range."""
    bins = len(edges) - 1
    lo, hi = float(edges[0]), float(edges[-1])
    r = r.detach().double().reshape(-1)
    inside = (r >= lo) & (r <= hi)
    counts = torch.histc(r[inside], bins=bins, min=lo, max=hi) if bins else r.new_zeros(0)
    return {
        "counts": [int(c) for c in counts.tolist()],
        "below": int((r < lo).sum()),
        "above": int((r > hi).sum()),
    }


def loss_shape(
    loss: ResidualLoss,
    residuals: Mapping[str, Tensor],
    *,
    compare: ResidualLoss | None = None,
    points: int = DEFAULT_POINTS,
    bins: int = DEFAULT_BINS,
    limit: float | None = None,
) -> dict[str, Any]:
    """``L(r)`` and ``ψ(r)`` on ``points`` residuals in ``[-limit, limit]`` (default: every
    residual fits), the same for ``compare``, and the histogram of each residual set.

    ``residuals`` maps a split name (``train``, ``val``) to its residuals ``y - ŷ``. Returns
    lists, JSON-ready: ``{"loss", "r", "L", "psi", "compare", "histogram": {"edges", "centres",
    "L", "psi", <split>: {"counts", "below", "above"}}}`` (the histogram's ``L`` and ``psi`` are
    at the bin centres).
    """
    if points < 2 or bins < 1:
        raise ValueError(f"need points >= 2 and bins >= 1, got {points} and {bins}")
    half = limit if limit is not None else residual_limit(list(residuals.values()))
    if not half > 0:
        raise ValueError(f"limit must be > 0, got {half}")
    grid, edges = symmetric(half, points), symmetric(half, bins + 1)

    def curve(which: ResidualLoss) -> dict[str, Any]:
        return {
            **which.describe(),
            "L": which.values(grid).tolist(),
            "psi": which.psi(grid).tolist(),
        }

    shape = curve(loss)
    centres = (edges[:-1] + edges[1:]) / 2
    return {
        "loss": {k: shape[k] for k in ("name", "formula", "terms")},
        "r": grid.tolist(),
        "L": shape["L"],
        "psi": shape["psi"],
        "compare": curve(compare) if compare is not None else None,
        "histogram": {
            "edges": edges.tolist(),
            "centres": centres.tolist(),
            "L": loss.values(centres).tolist(),
            "psi": loss.psi(centres).tolist(),
            **{split: histogram(r, edges) for split, r in residuals.items()},
        },
    }
