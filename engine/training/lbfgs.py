"""The float64 L-BFGS both reference optima use (regression losses and classification).

One configuration, so the two references converge alike: strong-Wolfe line search, a 50-step
history carried across calls of ``step`` (each of at most 50 iterations, so the caller can see a
stop between them) and gradient/change tolerances near float64's resolution.
"""

from __future__ import annotations

import torch
from torch import Tensor


def float64_lbfgs(params: list[Tensor], *, tolerance_change: float) -> torch.optim.LBFGS:
    """``torch.optim.LBFGS`` over ``params`` (float64 leaves) with the references' settings."""
    return torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=50,
        tolerance_grad=1e-12,
        tolerance_change=tolerance_change,
        history_size=50,
        line_search_fn="strong_wolfe",
    )
