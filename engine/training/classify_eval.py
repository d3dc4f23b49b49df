"""The end of a classification run: every metric of the weights it leaves, on each split.

The counterpart of :func:`engine.training.epoch.evaluate_splits` for ``model.task`` binary or
multiclass: accuracy, log loss, F1, ROC AUC and the confusion matrix
(:mod:`engine.training.classify`), and the objective on the splits asked for. A few host reads
(the AUC sorts on the host): the end of a run, not the hot loop.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.losses.functions import Objective
from engine.training.classify import evaluate_classes
from engine.training.early_stopping import Params
from engine.training.epoch import DeviceSplit, params_on_host, predict


@torch.no_grad()
def evaluate_class_splits(
    model: nn.Linear,
    splits: dict[str, DeviceSplit],
    k: int,
    objective: Objective | None = None,
    loss_of: tuple[str, ...] = (),
) -> tuple[dict[str, float], dict[str, dict[str, float]], dict[str, list[list[int]]], Params]:
    """``({split: objective}, {split: metrics}, {split: confusion matrix}, params)`` over the
    non-empty splits; the objective (maybe user code) only on those in ``loss_of``."""
    losses: dict[str, float] = {}
    metrics: dict[str, dict[str, float]] = {}
    matrices: dict[str, list[list[int]]] = {}
    for name, s in splits.items():
        if not s.n:
            continue
        logits = predict(model, s.x)
        if objective is not None and name in loss_of:
            value = float(objective(logits, s.y, model.weight))
            losses[name] = value if math.isfinite(value) else math.nan
        metrics[name], matrices[name] = evaluate_classes(logits, s.y, k)
    return losses, metrics, matrices, params_on_host(model)
