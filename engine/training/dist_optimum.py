"""The exact MSE optimum of a data-parallel run from all-reduced sums, without gathering rows.

With rank-local rows (:mod:`engine.data.rank_rows`) each rank holds only its part of the
training split. For ``mse`` (with ``l2`` and/or ``l1``) the optimum depends on the rows only
through their sufficient statistics, so every rank sums its part in float64 and one all-reduce
per pass adds them up (two passes, so the centring is exact rather than ``Σxxᵀ - n·x̄x̄ᵀ``):

1. ``n``, ``Σx``, ``Σy`` give the means ``x̄``, ``ȳ`` (zero without a bias, as
   :func:`engine.training.optimum.gram` leaves the data uncentred then);
2. ``G = Σ(x - x̄)(x - x̄)ᵀ``, ``c = Σ(x - x̄)(y - ȳ)``, ``s = Σ(y - ȳ)²``.

Rank 0 (the writer) then runs the single process's solvers on them: ``ridge_solution`` for
``(G/n + l2·I) w = c/n``, or ``elastic_net_cd(G/n, c/n, l1, l2)``, ``b = ȳ - x̄·w``, and the
objective's value from the same sums::

    mean((y - Xw - b)²) + l1·Σ|w| + l2·Σw²  =  (s - 2·wᵀc + wᵀGw)/n + l1·Σ|w| + l2·Σw²

(bias not penalised; the penalty is the objective's own :meth:`Objective.penalty`). Wide data
(more features than rows) and a rank-deficient ``X`` (infinite condition number, where the
single process solves from the rows themselves) are not this path: every rank sees the same
reduced sums, so every rank agrees to fall back to gathering the rows (:func:`sums_optimum`
returns None on all of them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from engine.config import Config
from engine.data.dataset import Dataset
from engine.losses.functions import Objective
from engine.training.distributed import Dist, reduce_sum
from engine.training.optimum import (
    CD_MAX_FEATURES,
    CHUNK,
    OptimumStopped,
    Stop,
    condition_number,
    elastic_net_cd,
    optimum_method,
    ridge_solution,
)

Reduce = Callable[[Tensor], Tensor]
"""A float64 CPU tensor summed over the ranks (:func:`engine.training.distributed.reduce_sum`)."""


def _never() -> bool:
    return False


def takes_sums(ds: Dataset, cfg: Config) -> bool:
    """Whether the optimum can come from sums: an exact (``least_squares``) regression loss
    and no more features than rows overall. Every rank decides alike (config and sizes)."""
    n = ds.train.n_total if ds.train.n_total is not None else int(ds.train.x.shape[0])
    return (
        ds.classes is None
        and optimum_method(cfg.loss) == "least_squares"
        and int(ds.train.x.shape[1]) <= n
    )


def reduced_gram(
    x: Tensor, y: Tensor, center: bool, reduce: Reduce
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, int]:
    """``(G, c, s, x̄, ȳ, n)`` over every rank's rows (see the module's docstring): two
    all-reduces of float64 sums, chunked to bound memory. Collective: every rank calls it."""
    n_local, d = x.shape
    first = torch.zeros(d + 2, dtype=torch.float64)  # [Σx, Σy, n]
    for i in range(0, n_local, CHUNK):
        first[:d] += x[i : i + CHUNK].double().sum(0)
        first[d] += y[i : i + CHUNK].double().sum()
    first[d + 1] = n_local
    first = reduce(first)
    n = round(float(first[d + 1]))
    mx, my = first[:d] / n, first[d] / n
    if not center:
        mx, my = torch.zeros_like(mx), torch.zeros_like(my)
    second = torch.zeros(d * d + d + 1, dtype=torch.float64)  # [G, c, s]
    g, xy = second[: d * d].view(d, d), second[d * d : d * d + d]
    for i in range(0, n_local, CHUNK):
        xc = x[i : i + CHUNK].double() - mx
        yc = y[i : i + CHUNK].double() - my
        g += xc.T @ xc
        xy += xc.T @ yc
        second[-1] += yc @ yc
    second = reduce(second)
    g, xy, yy = second[: d * d].view(d, d), second[d * d : d * d + d], second[-1]
    return g, xy, yy, first[:d] / n, first[d] / n, n


def sums_optimum(
    ds: Dataset,
    cfg: Config,
    objective: Objective,
    dist: Dist,
    stop: Stop = _never,
    reduce: Reduce = reduce_sum,
) -> tuple[dict[str, Any] | None, float] | None:
    """``(optimum, condition number)`` of an exact MSE objective from all-reduced sums, or None
    (on every rank alike) when the condition number is infinite and the caller should gather
    the rows instead. Collective: every rank calls it (when :func:`takes_sums`); only the
    writer solves, the others get ``(None, cond)``. The optimum is None, as in
    :func:`engine.training.optimum.optimum_info`, when stopped meanwhile, when elastic net has
    more than :data:`CD_MAX_FEATURES` features, or when its value is not finite."""
    bias, loss = cfg.model.bias, cfg.loss
    g, xy, yy, mx, my, n = reduced_gram(ds.train.x, ds.train.y, bias, reduce)
    cond = condition_number(g)
    if math.isinf(cond):
        return None
    if not dist.writer:
        return None, cond
    d = g.shape[0]
    if loss.l1:
        if d > CD_MAX_FEATURES:
            return None, cond
        try:
            w = elastic_net_cd(g / n, xy / n, loss.l1, loss.l2, stop=stop)
        except OptimumStopped:
            return None, cond
        how = "coordinate descent"
    else:
        w, how = ridge_solution(g, xy, n, loss.l2)
    b = float(my - mx @ w) if bias else 0.0
    data = (yy - 2 * (w @ xy) + w @ g @ w) / n
    value = float(data + objective.penalty(w.unsqueeze(0)))
    if not math.isfinite(value):
        return None, cond
    return {
        "kind": "exact",
        "method": f"{how} (sums over {dist.world} ranks)",
        "loss": value,
        "weights": w.tolist(),
        "bias": b if bias else None,
    }, cond
