"""Row influence: which rows carry the loss, and how much more they would under MSE.

Why: a handful of outliers can carry most of an MSE fit's loss (and so steer its gradient);
a robust loss caps what one row may contribute. Seeing the shares, the top rows and their robust
z-scores side by side for MSE and the chosen loss shows that directly.

Formulas, with ``r_i = y_i - ŷ_i`` over the ``n`` rows of one split:

- contribution ``c_i = L(r_i) / n``, so ``Σ_i c_i = mean_i L(r_i)``, the data loss itself
  (penalties excluded: they belong to no row);
- the share carried by the top ``p`` of rows: the sum of the ``⌈p·n⌉`` largest ``c_i`` over
  ``Σ_i c_i`` (None when the loss is 0);
- robust z: ``z_i = (r_i - median(r)) / (1.4826·MAD)``, ``MAD = median|r - median(r)|``
  (1.4826 makes MAD the standard deviation of normal data); medians as numpy takes them (the
  mean of the two middle values). With ``MAD = 0`` every row off the median is infinitely far:
  ``±inf``, written as None in the JSON form.
- MSE beside it: ``c_i = r_i² / n``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from engine.lab.shape import ResidualLoss

TOP_FRACTIONS = (0.01, 0.10)
"""The top shares reported: 1% and 10% of the rows."""
MAD_SCALE = 1.4826
"""``1/Φ⁻¹(3/4)``: MAD times this estimates a normal distribution's standard deviation."""
DEFAULT_TOP_K = 10


def number(value: float) -> float | None:
    """``value`` if finite, else None (strict JSON has no inf or NaN)."""
    return value if math.isfinite(value) else None


def clean(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (strict JSON), recursively."""
    if isinstance(value, float):
        return number(value)
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def contributions(loss: ResidualLoss, r: Tensor) -> Tensor:
    """``c_i = L(r_i) / n`` for every row (they sum to the data loss)."""
    n = r.shape[0]
    return loss.values(r) / n if n else r.clone()


def top_share(c: Tensor, fraction: float) -> float | None:
    """Share of ``Σc`` carried by the ``⌈fraction·n⌉`` largest contributions (None: Σc = 0)."""
    n = c.shape[0]
    total = float(c.sum())
    if n == 0 or total == 0:
        return None
    k = min(n, max(1, math.ceil(fraction * n - 1e-9)))
    return float(torch.topk(c, k).values.sum()) / total


def robust_z(r: Tensor) -> Tensor:
    """``(r - median) / (1.4826·MAD)``; ``±inf`` off the median when MAD is 0 (0 on it)."""
    if r.numel() == 0:
        return r.clone()
    rd = r.double()
    med = torch.quantile(rd, 0.5)
    mad = torch.quantile((rd - med).abs(), 0.5)
    return (
        (rd - med) / (MAD_SCALE * mad)
        if float(mad) > 0
        else torch.where(rd == med, 0.0, torch.sign(rd - med) * math.inf)
    )


def shares(c: Tensor) -> dict[str, Any]:
    """Total and top shares of one set of contributions, JSON-ready."""
    return {
        "total": float(c.sum()),
        "share_top": {f"{round(p * 100)}%": top_share(c, p) for p in TOP_FRACTIONS},
    }


def row_influence(
    loss: ResidualLoss,
    y: Tensor,
    pred: Tensor,
    *,
    rows: Tensor | None = None,
    k: int = DEFAULT_TOP_K,
) -> dict[str, Any]:
    """Contributions of the chosen loss and of MSE, their top shares, and the ``k`` rows with
    the largest contribution to the chosen loss.

    ``rows`` names each row where the data can (its row number in the source); otherwise a
    row is its index in the split (``rows_from`` says which). Every number is in the units the
    model trained in.
    """
    y, pred = y.detach().double().reshape(-1), pred.detach().double().reshape(-1)
    r = y - pred
    c, c_mse = contributions(loss, r), contributions(ResidualLoss.named("mse"), r)
    z = robust_z(r)
    ids = rows if rows is not None else torch.arange(len(r))
    order = torch.topk(c, min(k, len(r))).indices if len(r) else torch.zeros(0, dtype=torch.long)
    top = [
        {
            "row": int(ids[i]),
            "y": float(y[i]),
            "pred": float(pred[i]),
            "residual": float(r[i]),
            "contribution": float(c[i]),
            "mse_contribution": float(c_mse[i]),
            "robust_z": number(float(z[i])),
        }
        for i in order.tolist()
    ]
    return {
        "n": len(r),
        "rows_from": "data" if rows is not None else "split",
        "loss": {"name": loss.name, **shares(c)},
        "mse": {"name": "mse", **shares(c_mse)},
        "top": top,
    }
