"""Evaluation metrics: MSE, RMSE, MAE and R² in the target's original units.

The trainer accumulates residual sums on the device and reads them once per epoch; these helpers
turn the sums into numbers (the same definitions as scikit-learn's ``mean_squared_error``,
``mean_absolute_error`` and ``r2_score``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def residual_sums(pred: Tensor, y: Tensor) -> Tensor:
    """``[Σr², Σ|r|]`` with ``r = y - ŷ``, as one device tensor (no host sync)."""
    r = y - pred
    return torch.stack((torch.dot(r, r), torch.linalg.vector_norm(r, 1)))


def from_sums(sq: float, ab: float, n: int, ss_tot: float, y_std: float = 1.0) -> dict[str, float]:
    """Metrics from ``Σr²``, ``Σ|r|`` and ``Σ(y - ȳ)²`` over ``n`` rows (scaled by ``y_std``).

    ``R² = 1 - Σr² / Σ(y - ȳ)²`` (NaN when y is constant, as scikit-learn warns).
    """
    if n == 0:
        return {}
    mse = sq * y_std**2 / n
    return {
        "mse": mse,
        "rmse": math.sqrt(mse) if mse >= 0 else math.nan,
        "mae": ab * y_std / n,
        "r2": 1.0 - sq / ss_tot if ss_tot > 0 else math.nan,
    }


def evaluate(pred: Tensor, y: Tensor, y_std: float = 1.0) -> dict[str, float]:
    """All metrics of one prediction vector (one host sync)."""
    n = int(y.shape[0])
    if n == 0:
        return {}
    yc = y - y.mean()
    sq, ab, tot = torch.cat((residual_sums(pred, y), torch.dot(yc, yc).reshape(1))).tolist()
    return from_sums(sq, ab, n, tot, y_std)
