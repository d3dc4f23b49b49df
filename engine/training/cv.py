"""K-fold cross-validation, headless: each fold trains with the run's config on the other folds.

Folds partition the non-test rows (``data.test_fraction`` still holds its rows out) and are
deterministic from the seed. Each fold's held-out rows are its validation split, so early
stopping on ``val_loss`` watches the fold it is scored on — slightly optimistic; disable early
stopping or monitor ``train_loss`` for a strict estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from engine.config import Config
from engine.core.control import Control
from engine.core.events import CrossValidated, Event, FoldFinished
from engine.core.report import METRIC_KEYS
from engine.data.dataset import fold_indices, prepare_splits, split_indices
from engine.data.raw_source import read_source
from engine.training.trainer import run_training


def cross_validate(
    cfg: Config,
    folds: int,
    emit: Callable[[Event], None],
    control: Control | None = None,
    on_run_event: Callable[[Event], None] | None = None,
) -> CrossValidated:
    """Run every fold, emitting :class:`FoldFinished` each and :class:`CrossValidated` last."""
    control = control or Control()
    raw = read_source(cfg)
    _, _, idx_test = split_indices(int(raw.x.shape[0]), cfg)
    keep = torch.ones(raw.x.shape[0], dtype=torch.bool)
    keep[idx_test] = False
    parts = fold_indices(torch.nonzero(keep).flatten(), folds, cfg.seed)
    results: list[dict[str, float]] = []
    for k, val_idx in enumerate(parts, start=1):
        train_idx = torch.cat([p for i, p in enumerate(parts, start=1) if i != k])
        ds = prepare_splits(cfg, raw, train_idx, val_idx, idx_test)
        fin = run_training(cfg, on_run_event or (lambda ev: None), control, dataset=ds)
        metrics = fin.metrics.get("val", {})
        results.append(metrics)
        emit(
            FoldFinished(
                fold=k,
                folds=folds,
                n_train=len(ds.train),
                n_val=len(ds.val),
                reason=fin.reason,
                epochs_run=fin.epochs_run,
                metrics=metrics,
            )
        )
        if control.stopped:
            break
    mean, std = {}, {}
    for m in METRIC_KEYS:
        values = [r[m] for r in results if m in r]
        if values:
            mu = sum(values) / len(values)
            mean[m] = mu
            std[m] = math.sqrt(sum((v - mu) ** 2 for v in values) / len(values))
    done = CrossValidated(folds=len(results), mean=mean, std=std)
    emit(done)
    return done
