"""The sufficient-statistics step for full-batch MSE: :class:`GramSteps` and when it pays.

Its own module because it is the one strategy of :mod:`engine.training.steps` that changes the
arithmetic (float64 statistics built once, then O(d²) per epoch) rather than only the order of
the same operations, and because the batched sweep (:mod:`engine.sweep.batched_program`) asks
the same question, :func:`gram_pays`, for K models at once. For plain or penalised MSE the
gradient is ``(2/n)·(ZᵀZ·θ - Zᵀy)`` with ``Z = [X | 1]``, so an epoch needs X only for the
residual vector (one matrix-vector product, which the epoch's reported train loss and ``Σ|r|``
metric need anyway). Data-parallel, each rank builds the statistics of its rows and one
all-reduce sums them (``ZᵀZ = Σ_ranks Z_rᵀZ_r``): after that the gradient needs no
communication at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from engine.core.control import Control
from engine.losses.derivatives import ClosedForm
from engine.training.steps import EpochSums, FullBatchSteps, Interrupted, Placement
from engine.training.update_rules import UpdateRule

if TYPE_CHECKING:
    from engine.training.epoch import Clock

GRAM_BLOCK_ROWS = 16384
"""Rows per float64 block while ``ZᵀZ`` and ``Zᵀy`` are built (a stop is checked between)."""


class GramSteps(FullBatchSteps):
    """Penalised MSE on the full batch from ``ZᵀZ`` and ``Zᵀy`` (``Z = [X | 1]``), in float64.

    The statistics are built once, block by block on the first epoch (a stop is honoured
    between blocks); each epoch then costs one matrix-vector product for the residuals plus
    O(d²) for the gradient, instead of a full forward and backward pass.
    """

    def __init__(
        self,
        rule: UpdateRule,
        loss: ClosedForm,
        x: Tensor,
        y: Tensor,
        bias: bool,
        control: Control,
        clock: Clock,
    ) -> None:
        super().__init__(rule, loss, x, y, bias, control, clock)
        self.blocks = []  # the residuals are one addmv over all of X
        self.gram: Tensor | None = None
        self.xty: Tensor | None = None

    def _statistics(self) -> bool:
        """Build ``ZᵀZ`` and ``Zᵀy`` in float64; False when a stop came first."""
        n, d = self.x.shape
        cols = d + 1 if self.bias else d
        f64: Placement = {"dtype": torch.float64, "device": self.x.device}
        gram, xty = torch.zeros(cols, cols, **f64), torch.zeros(cols, **f64)
        xtx, col_sums = torch.zeros(d, d, **f64), torch.zeros(d, **f64)
        for start in range(0, n, GRAM_BLOCK_ROWS):
            if self.control.stopped:
                return False
            xb = self.x[start : start + GRAM_BLOCK_ROWS].double()
            yb = self.y[start : start + GRAM_BLOCK_ROWS].double()
            xtx.addmm_(xb.t(), xb)
            xty[:d].addmv_(xb.t(), yb)
            if self.bias:
                col_sums.add_(xb.sum(0))
                xty[d:] += yb.sum()
        gram[:d, :d] = xtx
        if self.bias:
            gram[:d, d] = gram[d, :d] = col_sums
            gram[d, d] = float(n)
        if self.dist is not None:  # every rank's rows: one all-reduce of both, once
            both = self.dist.sum_(torch.cat((gram.reshape(-1), xty)))
            gram, xty = both[: cols * cols].view(cols, cols).clone(), both[cols * cols :].clone()
        self.gram, self.xty = gram, xty
        return True

    grad_is_local = False

    def residuals_and_grad(self) -> float:
        self._offset()
        torch.addmv(self.offset, self.x, self.rule.w, out=self.residuals)
        assert self.gram is not None and self.xty is not None
        self.rule.grad.copy_(
            torch.addmv(self.xty, self.gram, self.rule.theta.double(), beta=-1.0)
        )  # ZᵀZθ - Zᵀy = Zᵀe
        return 2.0

    def run(self) -> EpochSums | Interrupted:
        if self.gram is None and not self._statistics():
            return Interrupted(partial=False)
        return super().run()


def gram_pays(n: int, d: int, epochs: int, device: torch.device) -> bool:
    """Whether the sufficient statistics are worth building: their one-off cost is about ``d``
    epochs of data passes (``n·d²`` vs ``n·d`` work), each later epoch saves about half a pass;
    float64 must exist on the device (not on Apple MPS) and ``(d+1)²`` stay small."""
    return device.type != "mps" and d <= 2048 and n >= d and epochs >= max(8, d)
