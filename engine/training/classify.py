"""Classification metrics: accuracy, log loss, F1, ROC AUC and the confusion matrix.

The same definitions as ``sklearn.metrics``: ``accuracy_score``; ``log_loss`` (the mean
cross-entropy of the predicted probabilities, computed from the logits so it never takes
``log 0``); ``f1_score`` (binary: of class 1; multiclass: the unweighted mean over classes,
``average="macro"``, a class with no true or predicted row scoring 0); ``roc_auc_score``
(binary: of the logit, the Mann-Whitney statistic with ties counted half; multiclass:
one-vs-rest of the softmax probabilities, averaged over classes, ``multi_class="ovr"``); and
``confusion_matrix`` (row: true class, column: predicted class).

Per epoch the trainer keeps, per split, ``[Σ log loss, confusion counts]`` in one device vector
(:func:`class_sums`, no host sync); the epoch's single read turns it into
accuracy / log loss / F1 (:func:`from_class_sums`). The AUC needs a sort, so it is computed at
the end of a run only (:func:`roc_auc`), with the confusion matrix.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def n_classes(k_outputs: int) -> int:
    """Classes of a model with ``k_outputs`` logits per row (one logit: two classes)."""
    return 2 if k_outputs == 1 else k_outputs


def predicted_class(logits: Tensor) -> Tensor:
    """The class of each row: ``z > 0`` for one logit (probability > ½), else ``argmax z``."""
    if logits.dim() == 1:
        return (logits > 0).long()
    return logits.argmax(dim=1)


def probabilities(logits: Tensor) -> Tensor:
    """``σ(z)`` (the probability of class 1) for one logit, ``softmax(z)`` rows for K."""
    return torch.sigmoid(logits) if logits.dim() == 1 else torch.softmax(logits, dim=1)


def cross_entropy_sum(logits: Tensor, y: Tensor) -> Tensor:
    """``Σ -log p(y)`` over rows (the log loss times n), from the logits."""
    if logits.dim() == 1:
        return F.binary_cross_entropy_with_logits(logits, y, reduction="sum")
    return F.cross_entropy(logits, y.long(), reduction="sum")


def class_sums(logits: Tensor, y: Tensor, k: int) -> Tensor:
    """``[Σ log loss, confusion counts (k·k, row = true class)]`` as one device vector."""
    idx = y.long() * k + predicted_class(logits)
    counts = torch.zeros(k * k, dtype=logits.dtype, device=logits.device)
    counts.index_add_(0, idx, torch.ones_like(idx, dtype=logits.dtype))
    return torch.cat((cross_entropy_sum(logits.detach(), y).reshape(1), counts))


def confusion(counts: list[float], k: int) -> list[list[int]]:
    """The k×k confusion matrix from its flat counts."""
    return [[int(counts[i * k + j]) for j in range(k)] for i in range(k)]


def from_class_sums(sums: list[float], n: int, k: int) -> dict[str, float]:
    """``{accuracy, log_loss, f1}`` from :func:`class_sums` read back over ``n`` rows."""
    if n == 0:
        return {}
    cm = confusion(sums[1:], k)
    correct = sum(cm[i][i] for i in range(k))
    f1s = []
    for c in range(k):
        tp = cm[c][c]
        fp = sum(cm[i][c] for i in range(k)) - tp
        fn = sum(cm[c]) - tp
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    f1 = f1s[1] if k == 2 else sum(f1s) / k
    return {"accuracy": correct / n, "log_loss": sums[0] / n, "f1": f1}


def _auc(score: Tensor, positive: Tensor) -> float:
    """The binary ROC AUC: ``(Σ ranks of positives - P(P+1)/2) / (P·N)`` with average ranks
    for ties (NaN when a class is absent, where scikit-learn raises)."""
    p = int(positive.sum())
    n = int(positive.numel()) - p
    if p == 0 or n == 0:
        return math.nan
    _, inverse, counts = torch.unique(score, sorted=True, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    ranks = (ends - (counts.double() - 1) / 2)[inverse]
    return float((ranks[positive].sum() - p * (p + 1) / 2) / (p * n))


def roc_auc(logits: Tensor, y: Tensor) -> float:
    """ROC AUC as ``roc_auc_score`` gives it (one-vs-rest macro average for K logits)."""
    logits, labels = logits.detach().double().cpu(), y.detach().long().cpu()
    if logits.dim() == 1:
        return _auc(logits, labels == 1)
    prob = torch.softmax(logits, dim=1)
    aucs = [_auc(prob[:, c], labels == c) for c in range(prob.shape[1])]
    return sum(aucs) / len(aucs)


@torch.no_grad()
def evaluate_classes(logits: Tensor, y: Tensor, k: int) -> tuple[dict[str, float], list[list[int]]]:
    """Every metric of one split's logits, the AUC and the confusion matrix (host syncs: for
    the end of a run, not the hot loop)."""
    n = int(y.shape[0])
    if n == 0:
        return {}, []
    sums = class_sums(logits, y, k).tolist()
    metrics = from_class_sums(sums, n, k)
    metrics["roc_auc"] = roc_auc(logits, y)
    return metrics, confusion(sums[1:], k)
