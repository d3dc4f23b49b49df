"""Loss formulas as text, for the README, the CLI and the dashboard's help.

Torch-free on purpose: the dashboard shows the formula of the current choice before torch is
imported. ``r = y - ŷ``; every data loss is a mean over samples; the bias is never penalised.
"""

from __future__ import annotations

from engine.config import LossConfig

FORMULAS: dict[str, str] = {
    "mse": "mean((y-ŷ)²)",
    "mae": "mean(|y-ŷ|)",
    "huber": "mean(½r² if |r|≤δ else δ(|r|-½δ)), r=y-ŷ, δ={delta:g}",
    "smooth_l1": "mean(½r²/δ if |r|<δ else |r|-½δ), r=y-ŷ, δ={delta:g}",
    "log_cosh": "mean(log(cosh(y-ŷ)))",
    "quantile": "mean(max(q·r, (q-1)·r)), r=y-ŷ, q={q:g}",
}
"""One-line formula of each built-in loss, formatted with its parameters."""


def formula(name: str, *, delta: float = 1.0, q: float = 0.5) -> str:
    """The formula of a built-in loss with its parameters filled in."""
    return FORMULAS[name].format(delta=delta, q=q)


def penalty_formula(l1: float, l2: float) -> str:
    """``+ l2·Σw² + l1·Σ|w|`` for the non-zero penalties ('' if none)."""
    out = ""
    if l2:
        out += f" + {l2:g}·Σw²"
    if l1:
        out += f" + {l1:g}·Σ|w|"
    return out


def describe(cfg: LossConfig) -> str:
    """The objective's formula from the config alone (no user code is imported)."""
    if cfg.name == "custom":
        return f"custom {cfg.callable}(ŷ, y)" + penalty_formula(cfg.l1, cfg.l2)
    if cfg.name == "combined":
        parts = []
        for term in cfg.terms or []:
            p = term.get("params") or {}
            if term["name"] == "custom":
                text = f"custom {p.get('callable')}"
            else:
                text = formula(term["name"], delta=float(p.get("delta", cfg.delta)),
                               q=float(p.get("quantile", p.get("q", cfg.quantile))))
            parts.append(f"{float(term.get('weight', 1.0)):g}·{text}")
        return " + ".join(parts) + penalty_formula(cfg.l1, cfg.l2)
    return formula(cfg.name, delta=cfg.delta, q=cfg.quantile) + penalty_formula(cfg.l1, cfg.l2)
