"""The classification losses (``model.task`` binary or multiclass), on logits.

The model is still linear: ``z = x·w + b`` is a *logit* (binary: one per row; multiclass: a
row of K, from ``nn.Linear(d, K)``), ``y`` is the class label (binary: 0 or 1; multiclass:
0..K-1, held as floats like every target) and ``s = 2y - 1`` is the binary label as ±1. Every
loss is a mean over rows; the penalties ``l1·Σ|w| + l2·Σw²`` (bias not penalised) are added on
top by :class:`engine.losses.functions.Objective`, as for regression. So ``log_loss`` with
``l2 = λ`` is scikit-learn's ``LogisticRegression(C = 1/(2·λ·n))`` and ``hinge`` with
``l2 = λ`` is ``LinearSVC(loss="hinge", C = 1/(2·λ·n))`` (up to LinearSVC's penalised
intercept).

None of them has a closed-form derivative here: they train through autograd
(:class:`engine.training.steps.AutogradSteps`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def log_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Log loss (binary cross-entropy) on logits: ``mean(softplus(-s·z))``, ``s = 2y - 1``.

    Equal to ``mean(-y·log σ(z) - (1-y)·log(1 - σ(z)))``, computed by PyTorch's
    ``binary_cross_entropy_with_logits``, which never overflows for large ``|z|``.
    """
    return F.binary_cross_entropy_with_logits(pred, target)


def hinge(pred: Tensor, target: Tensor) -> Tensor:
    """Hinge loss of the linear SVM: ``mean(max(0, 1 - s·z))``, ``s = 2y - 1``."""
    s = 2.0 * target - 1.0
    return torch.clamp(1.0 - s * pred, min=0.0).mean()


def squared_hinge(pred: Tensor, target: Tensor) -> Tensor:
    """Squared hinge: ``mean(max(0, 1 - s·z)²)``, ``s = 2y - 1`` (smooth; LinearSVC's default)."""
    s = 2.0 * target - 1.0
    m = torch.clamp(1.0 - s * pred, min=0.0)
    return (m * m).mean()


def cross_entropy(pred: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy of softmax regression: ``mean(-log softmax(z)_y)`` over rows of K logits
    (PyTorch's ``cross_entropy``: log-sum-exp, stable)."""
    return F.cross_entropy(pred, target.long())
