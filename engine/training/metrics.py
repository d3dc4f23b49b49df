"""Evaluation metrics: MSE, RMSE, MAE, median absolute error and R² in the target's original
units, and the error of learned coefficients against known true ones.

The trainer accumulates residual sums on the device and reads them once per epoch; these helpers
turn the sums into numbers (the same definitions as scikit-learn's ``mean_squared_error``,
``mean_absolute_error``, ``median_absolute_error`` and ``r2_score``).

Why a median: on data with gross outliers (``huber-outliers``) every mean-based metric is
dominated by the outlier rows, so a robust fit that ignores them *looks* worse than MSE's fit
that chases them. ``medae`` scores the bulk of the rows, and ``coef_rmse`` (synthetic data,
where the true weights are known) scores the fit itself: together they show what a robust loss
buys.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def median_abs(r: Tensor) -> Tensor:
    """``median(|r|)`` as numpy and scikit-learn take it (the mean of the two middle values
    when the length is even), as a 0-d device tensor: no host sync.

    ``torch.median`` returns the *lower* middle value; the upper one is ``-median(-|r|)``.
    """
    a = r.abs()
    if a.numel() % 2:
        return torch.median(a)
    return (torch.median(a) - torch.median(a.neg())) / 2


def residual_sums(pred: Tensor, y: Tensor, *, median: bool = False) -> Tensor:
    """``[Σr², Σ|r|]`` with ``r = y - ŷ``, and ``median|r|`` last when ``median``, as one
    device tensor (no host sync)."""
    r = y - pred
    parts = [torch.dot(r, r).reshape(1), torch.linalg.vector_norm(r, 1).reshape(1)]
    if median:
        parts.append(median_abs(r).reshape(1))
    return torch.cat(parts)


def from_sums(
    sq: float, ab: float, n: int, ss_tot: float, y_std: float = 1.0, medae: float | None = None
) -> dict[str, float]:
    """Metrics from ``Σr²``, ``Σ|r|`` and ``Σ(y - ȳ)²`` over ``n`` rows (scaled by ``y_std``),
    with ``medae`` when the median ``median|r|`` (in the same scaled units) is given.

    ``R² = 1 - Σr² / Σ(y - ȳ)²`` (NaN when y is constant, as scikit-learn warns).
    """
    if n == 0:
        return {}
    mse = sq * y_std**2 / n
    out = {"mse": mse, "rmse": math.sqrt(mse) if mse >= 0 else math.nan, "mae": ab * y_std / n}
    if medae is not None:
        out["medae"] = medae * y_std
    out["r2"] = 1.0 - sq / ss_tot if ss_tot > 0 else math.nan
    return out


def evaluate(pred: Tensor, y: Tensor, y_std: float = 1.0) -> dict[str, float]:
    """All metrics of one prediction vector, ``medae`` included (one host sync)."""
    n = int(y.shape[0])
    if n == 0:
        return {}
    yc = y - y.mean()
    sq, ab, med, tot = torch.cat(
        (residual_sums(pred, y, median=True), torch.dot(yc, yc).reshape(1))
    ).tolist()
    return from_sums(sq, ab, n, tot, y_std, medae=med)


def coef_rmse(
    weights: Sequence[float],
    bias: float | None,
    true_weights: Sequence[float] | None,
    true_bias: float | None,
) -> float | None:
    """``sqrt(mean((learned - true)²))`` over the coefficients that have a true value: each
    weight the truth covers and the bias when the model has one. None without a truth.

    Both sides must be in the data's raw units (the learned weights mapped back when anything
    was standardised). The pairs are exactly the coefficient table's rows that show a ``true``
    value: polynomial terms past the truth's features are not counted, as the table shows no
    truth for them. Host numbers only (the epoch's one read has them already).
    """
    if true_weights is None:
        return None
    k = min(len(weights), len(true_weights))
    learned, truth = list(weights[:k]), list(true_weights[:k])
    if bias is not None and true_bias is not None:
        learned.append(bias)
        truth.append(true_bias)
    if not learned:
        return None
    return math.dist(learned, truth) / math.sqrt(len(learned))  # C loop: ~2 µs for 200
