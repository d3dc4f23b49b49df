"""Early stopping, divergence and each trial's end, for K columns at once, on the device.

The semantics are :mod:`engine.training.early_stopping`'s, column by column: an epoch improves
when ``monitor < best - min_delta`` (NaN never improves; the first non-NaN value always does),
``wait`` counts epochs since the last improvement and a trial stops once ``wait >= patience``
(only when early stopping is enabled; it tracks its best either way); a non-finite train or
validation loss or weight ends a trial at once as "diverged", before early stopping is asked;
the best weights are the epoch's end weights, or its start weights when the monitor was
measured there (full batch, ``train_loss``); ``restore_best`` puts them back at the end however
the trial ended. The comparison runs in float64, as the single run's Python floats do.

State is a handful of length-K tensors updated with ``where``: no host sync.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from engine.config import Config
from engine.core.events import Reason

COMPLETED, EARLY_STOPPED, DIVERGED, CANCELLED = 0, 1, 2, 3
REASONS: tuple[Reason, ...] = ("completed", "early_stopped", "diverged", "cancelled")
"""The stop reason of each code."""


class ColumnStopping:
    """Per-column early-stopping settings and state, and the weights to restore."""

    def __init__(self, cfgs: Sequence[Config], theta: Tensor, full_batch: bool) -> None:
        device, k = theta.device, theta.shape[1]
        self.wide = torch.float64 if device.type != "mps" else torch.float32
        es = [c.early_stopping for c in cfgs]

        def vec(values: list[float] | list[int] | list[bool], dtype: torch.dtype) -> Tensor:
            return torch.tensor(values, dtype=dtype, device=device)

        self.patience = vec([e.patience for e in es], torch.int64)
        self.min_delta = vec([e.min_delta for e in es], self.wide)
        self.enabled = vec([e.enabled for e in es], torch.bool)
        self.restore = vec([e.enabled and e.restore_best for e in es], torch.bool)
        self.on_train = vec([e.monitor == "train_loss" for e in es], torch.bool)
        self.any_starts = full_batch and any(e.monitor == "train_loss" for e in es)
        """Some column's monitor is measured at the weights its epoch starts from."""
        self.epochs = vec([c.train.epochs for c in cfgs], torch.int64)
        self.active = torch.ones(k, dtype=torch.bool, device=device)
        self.epochs_run = torch.zeros(k, dtype=torch.int64, device=device)
        self.reason = torch.zeros(k, dtype=torch.int64, device=device)
        self.best = torch.zeros(k, dtype=self.wide, device=device)
        self.has_best = torch.zeros(k, dtype=torch.bool, device=device)
        self.best_epoch = torch.zeros(k, dtype=torch.int64, device=device)
        self.wait = torch.zeros(k, dtype=torch.int64, device=device)
        self.best_theta = theta.clone()

    def update(
        self,
        epoch: int,
        train: Tensor,
        val: Tensor | None,
        start: Tensor,
        end: Tensor,
        n_weights: int,
    ) -> None:
        """Fold in one epoch of every active column: its losses, the weights it started from
        (``start``) and ended at (``end``)."""
        active = self.active
        other = val if val is not None else torch.full_like(train, math.nan)
        monitor = torch.where(self.on_train, train, other).to(self.wide)
        improved = active & (
            (monitor < self.best - self.min_delta) | (~self.has_best & ~torch.isnan(monitor))
        )
        self.best = torch.where(improved, monitor, self.best)
        self.best_epoch = torch.where(improved, epoch, self.best_epoch)
        self.has_best |= improved
        self.wait = (self.wait + active) * ~improved
        kept = torch.where(self.on_train, start, end) if self.any_starts else end
        self.best_theta = torch.where(improved, kept, self.best_theta)
        finite = _finite(train) & _finite(end[:n_weights]).all(0)
        if val is not None:
            finite &= _finite(val)
        diverged = active & ~finite
        early = active & finite & self.enabled & (self.wait >= self.patience)
        done = active & (self.epochs <= epoch)
        self.epochs_run += active
        self.reason = torch.where(
            diverged, DIVERGED, torch.where(early, EARLY_STOPPED, self.reason)
        )
        self.active = active & ~(diverged | early | done)

    def cancel(self, columns: Tensor) -> None:
        """End the still-active columns among ``columns`` (a bool mask) as cancelled."""
        hit = self.active & columns
        self.reason = torch.where(hit, CANCELLED, self.reason)
        self.active = self.active & ~hit

    def final(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """The weights each column leaves (its best ones where restoring is on) and whether
        they differ from ``theta``, its last epoch's (a restore that changed something)."""
        use_best = self.restore & self.has_best
        final = torch.where(use_best, self.best_theta, theta)
        changed = use_best & (self.best_theta != theta).any(0)
        return final, changed


def _finite(t: Tensor) -> Tensor:
    """``isfinite`` in two ops (``x - x`` is 0 exactly when ``x`` is finite; torch's own is
    four, and this runs every epoch)."""
    return (t - t) == 0
