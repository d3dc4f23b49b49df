"""Sufficient statistics of a split, so MSE trials of a batch need no pass over the data.

For MSE on the full batch the single run takes its gradient from ``ZᵀZ`` and ``Zᵀy``
(:class:`engine.training.gram_steps.GramSteps`); :class:`Gram` is the same, for K columns at once.
Its loss still needs the residuals, one pass over X per epoch; here it comes from the split's
centred moments instead, in float64: with ``x̄``, ``ȳ`` the split's means, ``X_c = X - x̄``,
``y_c = y - ȳ`` and per trial ``c = b + x̄·w - ȳ`` (``b = 0`` without a bias)::

    Σ(Xw + b - y)² = wᵀ(X_cᵀX_c)w - 2·wᵀ(X_cᵀy_c) + y_cᵀy_c + n·c²

(the cross terms vanish because ``X_c`` and ``y_c`` sum to zero). Centring keeps the
cancellation down to the share of the target's spread the fit explains, so the value agrees
with the single run's float32 sum to float32 rounding. An MSE epoch then costs ``O(d²·K)``
whatever the number of rows.
"""

from __future__ import annotations

import torch
from torch import Tensor

BLOCK_ROWS = 16384
"""Rows per float64 block while the statistics are built (as the single run's GramSteps)."""


class Gram:
    """``ZᵀZ`` and ``Zᵀy`` in float64: the MSE gradient ``ZᵀZθ - Zᵀy = Zᵀe`` of every column."""

    def __init__(self, z: Tensor, y: Tensor) -> None:
        cols = z.shape[1]
        self.gram = torch.zeros(cols, cols, dtype=torch.float64, device=z.device)
        self.zty = torch.zeros(cols, 1, dtype=torch.float64, device=z.device)
        for start in range(0, z.shape[0], BLOCK_ROWS):
            zb = z[start : start + BLOCK_ROWS].double()
            yb = y[start : start + BLOCK_ROWS].double()
            self.gram.addmm_(zb.t(), zb)
            self.zty.addmm_(zb.t(), yb.reshape(-1, 1))

    def gradient(self, theta: Tensor) -> Tensor:
        """``ZᵀZΘ - Zᵀy`` (float64) for the columns of ``Θ``."""
        return torch.addmm(self.zty, self.gram, theta.double(), beta=-1.0)


class Moments:
    """A split's centred second moments: ``Σ(Zθ - y)²`` of any column in ``O(d²)``."""

    def __init__(self, x: Tensor, y: Tensor, bias: bool) -> None:
        n, d = x.shape
        self.n, self.d, self.bias = int(n), int(d), bias
        f64 = torch.float64
        self.x_mean = torch.zeros(d, dtype=f64, device=x.device)
        y_sum = torch.zeros((), dtype=f64, device=x.device)
        for start in range(0, self.n, BLOCK_ROWS):
            self.x_mean += x[start : start + BLOCK_ROWS].double().sum(0)
            y_sum += y[start : start + BLOCK_ROWS].double().sum()
        self.x_mean /= max(self.n, 1)
        self.y_mean = y_sum / max(self.n, 1)
        self.xtx = torch.zeros(d, d, dtype=f64, device=x.device)
        self.xty = torch.zeros(d, dtype=f64, device=x.device)
        self.yty = torch.zeros((), dtype=f64, device=x.device)
        for start in range(0, self.n, BLOCK_ROWS):
            xc = x[start : start + BLOCK_ROWS].double() - self.x_mean
            yc = y[start : start + BLOCK_ROWS].double() - self.y_mean
            self.xtx.addmm_(xc.t(), xc)
            self.xty.addmv_(xc.t(), yc)
            self.yty += torch.dot(yc, yc)

    def squared_errors(self, theta: Tensor) -> Tensor:
        """``Σ(Xw + b - y)²`` of each column of ``Θ`` (float64, length K)."""
        th = theta.double()
        w = th[: self.d]
        c = self.x_mean @ w - self.y_mean
        if self.bias:
            c = c + th[self.d]
        return (w * (self.xtx @ w)).sum(0) - 2.0 * (self.xty @ w) + self.yty + self.n * c * c
