"""Worked user loss 1: the classic "MSE + λ·L2 on the weights", written as an ``nn.Module``.

Used by the ``ridge-custom`` preset::

    loss:
      name: custom
      callable: examples/ridge_loss.py:MSEWithL2
      params: {lam: 0.1}

It is the same objective as the built-in ``loss.name: mse`` with ``loss.l2: 0.1`` (the ``ridge``
preset), so the two presets train to the same weights. Check it with::

    linreg-tui check-loss presets/examples/ridge_loss.py:MSEWithL2 --params lam=0.1
"""

import torch
from torch import Tensor, nn


class MSEWithL2(nn.Module):
    """mean((y-ŷ)²) + λ·Σw² (ridge; bias not penalised)"""

    def __init__(self, lam: float = 0.1) -> None:
        super().__init__()
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        self.lam = lam

    def forward(self, pred: Tensor, target: Tensor, weights: Tensor) -> Tensor:
        """``pred``, ``target``: shape (n,); ``weights``: the model's w, shape (1, d), no bias.

        Everything stays a tensor operation (no ``.item()``, no ``.detach()``), so autograd
        carries the gradient back to both the predictions and the weights.
        """
        data = torch.mean((target - pred) ** 2)
        penalty = self.lam * torch.sum(weights**2)
        return data + penalty
