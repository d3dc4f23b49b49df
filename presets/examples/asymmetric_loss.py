"""Worked user loss 2: an asymmetric squared error that penalises under-prediction more.

With ``r = y - ŷ`` (positive when the model predicts too low), each squared residual is weighted
by ``under`` when ``r > 0`` and by ``over`` otherwise. With ``under = 3, over = 1`` predicting too
low costs three times as much as predicting too high by the same amount, so the fit shifts up:
for Gaussian noise of std σ the intercept moves by about +0.44σ (this is expectile regression:
the minimiser is the τ-expectile of the noise, τ = under / (under + over) = 0.75).

Used by the ``asymmetric`` preset::

    loss:
      name: custom
      callable: examples/asymmetric_loss.py:asymmetric_mse
      params: {under: 3.0, over: 1.0}

Check it with::

    linreg-tui check-loss presets/examples/asymmetric_loss.py:asymmetric_mse --params under=3
"""

import torch
from torch import Tensor


def asymmetric_mse(pred: Tensor, target: Tensor, under: float = 3.0, over: float = 1.0) -> Tensor:
    """mean(a·r²), r=y-ŷ, a=under if r>0 (ŷ too low) else over"""
    r = target - pred
    scale = torch.where(r > 0, torch.full_like(r, under), torch.full_like(r, over))
    return torch.mean(scale * r**2)
