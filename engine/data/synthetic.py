"""Synthetic data drawn in place: row blocks straight into their split's rows, in float32.

Drawing ``X`` in blocks of rows consumes the generator exactly as one ``torch.randn(n, d)``
does (blocks are whole multiples of 16 values, the width of torch's normal sampler), so a seed
gives the same X as before, while peak memory stays at the data itself plus one block, and a
stop request is seen between blocks.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from engine.config import DataConfig
from engine.data.table_scan import Stopped

OUTLIER_STDS = 10.0
"""A synthetic outlier's target is shifted up by this many standard deviations of the clean y."""
BLOCK_VALUES = 1 << 20
"""Values drawn per block (4 MB): a stop is seen within a few milliseconds."""


def block_rows(d: int) -> int:
    """Rows per block: a multiple of 16 (so every block is a multiple of 16 values)."""
    return 16 * max(1, BLOCK_VALUES // (16 * d))


def synthetic(
    cfg: DataConfig,
    seed: int,
    *,
    order: Tensor | None = None,
    stop: Callable[[], bool] | None = None,
) -> tuple[Tensor, Tensor, Tensor, float]:
    """Draw ``X ~ N(0, 1)``, true ``w ~ N(0, 2²)``, ``b ~ N(0, 1)``, ``y = Xw + b + noise·ε``.

    A fraction ``outlier_fraction`` of rows get ``y += 10·std(y)`` (gross one-sided errors, so
    MSE's pull towards them is visible next to Huber or MAE). Returns X, y, w, b.

    ``order`` (a permutation of the rows) returns the rows already permuted, row ``order[p]``
    of the draw at position ``p``, so a split is a slice and needs no copy.
    """
    gen = torch.Generator().manual_seed(seed)
    n, d = cfg.n_samples, cfg.n_features
    x = torch.empty(n, d)
    place = None
    if order is not None:  # the inverse permutation: where each drawn row goes
        place = torch.empty_like(order).index_copy_(0, order, torch.arange(n))
    step = block_rows(d)
    start = 0
    while start < n:
        if stop is not None and stop():
            raise Stopped("stopped while drawing data")
        end = n if n - start < 2 * step else start + step  # the last block is never tiny
        if place is None:
            x[start:end].normal_(generator=gen)
        else:
            x.index_copy_(0, place[start:end], torch.empty(end - start, d).normal_(generator=gen))
        start = end
    w = 2.0 * torch.randn(d, generator=gen)
    b = float(torch.randn((), generator=gen))
    xw = x @ w
    if order is not None:  # back to the order of the draw, for the noise and outliers
        xw = torch.empty_like(xw).index_copy_(0, order, xw)
    y = xw + b + cfg.noise * torch.randn(n, generator=gen)
    k = round(cfg.outlier_fraction * n)
    if k:
        rows = torch.randperm(n, generator=gen)[:k]
        y[rows] += OUTLIER_STDS * float(y.std())
    return x, (y if order is None else y[order]), w, b
