"""A toy loss for the registry test: registered at test time, never a built-in."""

from __future__ import annotations

import torch
from torch import Tensor


def scaled_mse(pred: Tensor, target: Tensor, scale: float = 1.0) -> Tensor:
    """Scaled MSE: ``scale·mean((y - ŷ)²)``; same minimiser as MSE, values times scale."""
    return scale * torch.mean((target - pred) ** 2)
