"""Loss formulas as text, for the README, the CLI and the dashboard's help.

Torch-free on purpose: the dashboard shows the formula of the current choice before torch is
imported. ``r = y - ŷ``; every data loss is a mean over samples; the bias is never penalised.
The templates themselves are declared with each loss in :mod:`engine.registry`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.config import LossConfig
from engine.registry import LOSS_FIELD_PARAMS, LOSSES, LossSpec, any_loss


def _spec(name: str) -> LossSpec:
    """The regression or classification loss ``name`` (KeyError if there is none)."""
    spec = any_loss(name)
    if spec is None:
        raise KeyError(name)
    return spec


class _Formulas(Mapping[str, str]):
    """``name -> formula template`` of every registered loss (a live view of the registry)."""

    def __getitem__(self, name: str) -> str:
        return _spec(name).formula

    def __iter__(self) -> Iterator[str]:
        return iter(LOSSES)

    def __len__(self) -> int:
        return len(LOSSES)


FORMULAS: Mapping[str, str] = _Formulas()
"""One-line formula template of each registered loss, formatted with its parameters."""


def formula(name: str, **params: Any) -> str:
    """The formula of a registered loss with its parameters (by name or alias) filled in."""
    return _spec(name).render(params)


def loss_values(name: str, params: Mapping[str, Any], cfg: LossConfig) -> dict[str, float]:
    """The parameter values a loss trains with: ``params`` (a term's, or ``loss.params``), else
    the ``loss.delta`` / ``loss.quantile`` fields, else the registry default."""
    fields = {n: getattr(cfg, n) for n in LOSS_FIELD_PARAMS}
    return _spec(name).values(fields, params)


def penalty_formula(l1: float, l2: float) -> str:
    """``+ l2·Σw² + l1·Σ|w|`` for the non-zero penalties ('' if none)."""
    out = ""
    if l2:
        out += f" + {l2:g}·Σw²"
    if l1:
        out += f" + {l1:g}·Σ|w|"
    return out


def _term_text(name: str, params: Mapping[str, Any], cfg: LossConfig) -> str:
    if name == "custom":
        return f"custom {params.get('callable')}"
    return _spec(name).render(loss_values(name, params, cfg))


def describe(cfg: LossConfig) -> str:
    """The objective's formula from the config alone (no user code is imported)."""
    if cfg.name == "custom":
        return f"custom {cfg.callable}(ŷ, y)" + penalty_formula(cfg.l1, cfg.l2)
    if cfg.name == "combined":
        parts = [
            f"{float(term.get('weight', 1.0)):g}·"
            + _term_text(term["name"], term.get("params") or {}, cfg)
            for term in cfg.terms or []
        ]
        return " + ".join(parts) + penalty_formula(cfg.l1, cfg.l2)
    return _term_text(cfg.name, cfg.params, cfg) + penalty_formula(cfg.l1, cfg.l2)
