"""Data-parallel full-batch regression: each rank keeps only its own rows of each split.

Why: gathering the table after a sharded read (:mod:`engine.data.shard`) leaves every rank
holding all n rows, so N ranks save parse time but not memory. A full-batch regression never
needs the rows in one place: its gradient, its Gram matrix ``ZᵀZ``, ``Zᵀy`` and its metrics are
sums over rows, which the ranks all-reduce. So each rank keeps about n/N rows.

The split is still the single process's: the seeded permutation of all n rows
(:func:`engine.data.dataset.split_indices`), which every rank computes (n integers, cheap); a
rank keeps the rows of each split that it read (the file rows ``[first, first + len)``), in the
permutation's order. Synthetic rows are drawn whole by every rank (row i's values depend on the
draws before it), then each keeps a contiguous near-equal part of each split and the draw is
freed. The standardisation statistics are the training split's over all ranks' rows, from
all-reduced float64 sums in two passes (``Σx`` and ``Σy``, then ``Σ(x - x̄)²`` and
``Σ(y - ȳ)²``), and each split's ``Σ(y - ȳ)²`` (R²'s denominator) likewise: the single
process's values up to float rounding, whatever N is.

Where the rows' order or all of them together matter, the rows are gathered as before and every
rank holds the single process's dataset: minibatch (each global batch is cut among the ranks
from one permutation of the whole training split), classification (the classes come from every
target value) and ``data.outliers`` (its quantiles come from every training row).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from engine.config import Config
from engine.data.dataset import (
    Dataset,
    Split,
    column_sq_sums,
    column_sums,
    load_dataset,
    prepare_splits,
    scaled_dataset,
    split_indices,
    split_sizes,
)
from engine.data.raw_source import RawData, read_source
from engine.data.shard import Shard, part, trace_rows

StopFlag = Callable[[], bool]


def keeps_local_rows(cfg: Config, n_train: int) -> bool:
    """Whether a data-parallel run of ``cfg`` keeps rank-local rows (see the module's docstring):
    a full-batch regression without outlier handling."""
    batch = cfg.optim.batch_size
    return (
        cfg.model.task == "regression"
        and cfg.data.outliers == "none"
        and (not batch or batch >= n_train)
    )


def load_sharded(cfg: Config, shard: Shard, stop: StopFlag | None = None) -> Dataset:
    """This rank's dataset: its own rows of each split where :func:`keeps_local_rows`, else the
    single process's whole dataset (the read parts gathered)."""
    if shard.sum_ is None or not keeps_local_rows(cfg, 2):  # n_train >= 2: only the batch varies
        return load_dataset(cfg, stop=stop, shard=shard)
    if cfg.data.source == "synthetic":
        return _synthetic(cfg, shard, stop)
    raw = read_source(cfg, stop=stop, shard=shard, local=True)
    place = raw.place
    n = place.total if place is not None else int(raw.x.shape[0])
    if not keeps_local_rows(cfg, split_sizes(n, cfg.data)[0]):
        if place is not None:  # minibatch: every rank needs every row
            both = shard.gather_rows(torch.cat((raw.x, raw.y[:, None]), 1), list(place.counts))
            raw.x, raw.y, raw.place = both[:, :-1], both[:, -1].contiguous(), None
        return prepare_splits(cfg, raw, *split_indices(n, cfg))
    first, x, y = 0, raw.x, raw.y
    if place is not None:
        first = place.first
    else:  # a file every rank read whole: keep a near-equal part of it
        first, hi = part(n, shard.rank, shard.world)
        x, y = x[first:hi], y[first:hi]
    splits = []
    for idx in split_indices(n, cfg):
        sel = idx[(idx >= first) & (idx < first + x.shape[0])] - first
        splits.append(Split(x[sel], y[sel]))
    raw.x, raw.y = raw.x[:0], raw.y[:0]
    del x, y
    return scale_local(cfg, raw, (splits[0], splits[1], splits[2]), shard)


def _synthetic(cfg: Config, shard: Shard, stop: StopFlag | None) -> Dataset:
    n = cfg.data.n_samples
    n_train, n_val, n_test = split_sizes(n, cfg.data)
    if not keeps_local_rows(cfg, n_train):
        return load_dataset(cfg, stop=stop, shard=shard)
    idx_train, idx_val, idx_test = split_indices(n, cfg)
    raw = read_source(cfg, order=torch.cat([idx_test, idx_val, idx_train]), stop=stop)
    a, b = n_test, n_test + n_val
    kept = []
    for lo, hi in ((b, n), (a, b), (0, a)):  # train, val, test in the drawn order
        mlo, mhi = part(hi - lo, shard.rank, shard.world)
        kept.append(Split(raw.x[lo + mlo : lo + mhi].clone(), raw.y[lo + mlo : lo + mhi].clone()))
    raw.x, raw.y = raw.x[:0], raw.y[:0]
    return scale_local(cfg, raw, (kept[0], kept[1], kept[2]), shard)


def scale_local(
    cfg: Config, raw: RawData, splits: tuple[Split, Split, Split], shard: Shard
) -> Dataset:
    """:func:`engine.data.dataset.scale_splits` on rank-local splits: the statistics from
    all-reduced float64 sums over every rank's rows (four all-reduces, a few numbers each)."""
    assert shard.sum_ is not None
    total = shard.sum_
    sizes = [int(v) for v in total(torch.tensor([float(len(s)) for s in splits])).tolist()]
    train, n = splits[0], sizes[0]
    first = total(torch.cat((column_sums(train.x), train.y.double().sum().reshape(1))))
    mean, y_mean = (first[:-1] / n).float(), float(first[-1] / n)
    yc = train.y.double() - y_mean
    second = total(torch.cat((column_sq_sums(train.x, mean), torch.dot(yc, yc).reshape(1))))
    std, y_std = (second[:-1] / n).sqrt().float(), math.sqrt(float(second[-1]) / n) or 1.0
    ds = scaled_dataset(cfg, raw, splits, (mean, std, y_mean, y_std), 0)
    scaled = (ds.train, ds.val, ds.test)
    sums = total(torch.stack([s.y.double().sum() for s in scaled]))
    means = [float(v) / max(m, 1) for v, m in zip(sums.tolist(), sizes)]
    tot = total(torch.stack([_sq(s.y, m) for s, m in zip(scaled, means)])).tolist()
    for s, m, t in zip(scaled, sizes, tot):
        s.n_total, s.ss_tot = m, t
    trace_rows(
        shard,
        {
            "kept": {"train": len(ds.train), "val": len(ds.val), "test": len(ds.test)},
            "sizes": sizes,
            "x_mean": mean.tolist(),
            "x_std": std.tolist(),
            "y_mean": y_mean,
            "y_std": y_std,
        },
    )
    return ds


def _sq(y: Tensor, mean: float) -> Tensor:
    """``Σ(y - mean)²`` in float64."""
    c = y.double() - mean
    return torch.dot(c, c)
