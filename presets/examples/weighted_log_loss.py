"""Worked user loss 3: a binary log loss that weighs the positive class more (given logits).

With ``model.task: binary`` a user loss receives the logits ``z`` (one per row) and the labels
``y`` in {0, 1}. This is the log loss with the positive rows' term weighted by ``pos_weight``:
``mean(pos_weight·y·softplus(-z) + (1-y)·softplus(z))`` (``softplus(-z) = -log σ(z)``), what
``torch.nn.BCEWithLogitsLoss(pos_weight=...)`` computes, stable for any logit. With
``pos_weight = 3`` missing a positive costs three times as much as a false alarm, which moves the
decision boundary towards the negatives: more rows are called positive.

Use it in a preset::

    model:
      task: binary
    loss:
      name: custom
      callable: examples/weighted_log_loss.py:weighted_log_loss
      params: {pos_weight: 3.0}

Check it with::

    linreg-tui check-loss presets/examples/weighted_log_loss.py:weighted_log_loss --task binary
"""

import torch
import torch.nn.functional as F
from torch import Tensor


def weighted_log_loss(logits: Tensor, labels: Tensor, pos_weight: float = 3.0) -> Tensor:
    """mean(pos_weight·y·softplus(-z) + (1-y)·softplus(z))"""
    weight = torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, labels, pos_weight=weight)
