"""The end of a data-parallel run on rank-local rows: every split's metrics from summed parts.

:func:`engine.training.epoch.evaluate_splits` reads whole splits; with rank-local rows
(:mod:`engine.data.rank_rows`) each rank holds only its share of each split, so each computes
its sums (``n_r·objective``, ``Σr²``, ``Σ|r|``) and one all-reduce adds them; the one number that
is not a sum, ``median|r|``, is taken by rank 0 over every rank's residuals gathered to it (one
column per split, not the features). Other ranks report no ``medae``: only rank 0's events are
kept.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from engine.losses.functions import Objective
from engine.training.distributed import Dist, gather_to_root
from engine.training.early_stopping import Params
from engine.training.epoch import DeviceSplit, predict, split_params
from engine.training.metrics import from_sums, median_abs


@torch.no_grad()
def evaluate_local_splits(
    model: nn.Linear,
    splits: dict[str, DeviceSplit],
    y_std: float,
    dist: Dist,
    objective: Objective | None = None,
    loss_of: tuple[str, ...] = (),
) -> tuple[dict[str, float], dict[str, dict[str, float]], Params]:
    """:func:`engine.training.epoch.evaluate_splits` over the ranks' rows of each split
    (every rank calls it: it runs collectives)."""
    named = [(name, s) for name, s in splits.items() if s.n]
    parts, residuals = [], []
    for name, s in named:
        rows = int(s.y.shape[0])
        pred = predict(model, s.x) if rows else s.y
        r = s.y - pred
        loss = s.y.new_zeros(1)
        if objective is not None and name in loss_of and rows:
            loss = objective(pred, s.y, model.weight).reshape(1) * rows
        parts += [loss, torch.dot(r, r).reshape(1), torch.linalg.vector_norm(r, 1).reshape(1)]
        residuals.append(r.abs())
    summed = dist.sum_(torch.cat(parts)).tolist() if parts else []
    medians = [_median(r) for r in residuals]
    params = [model.weight.detach().reshape(-1)]
    if model.bias is not None:
        params.append(model.bias.detach().reshape(-1))
    flat = torch.cat(params).tolist()
    losses, metrics = {}, {}
    for i, (name, s) in enumerate(named):
        loss, sq, ab = summed[3 * i : 3 * i + 3]
        if objective is not None and name in loss_of:
            losses[name] = loss / s.n
        metrics[name] = from_sums(sq, ab, s.n, float(s.ss_tot), y_std, medae=medians[i])
    return losses, metrics, split_params(flat, model)


def _median(abs_r: Tensor) -> float | None:
    """``median|r|`` of every rank's residuals, on rank 0 (None elsewhere: not reported)."""
    every = gather_to_root(abs_r[:, None])
    if every is None:
        return None
    return float(median_abs(every[:, 0])) if every.shape[0] else math.nan
