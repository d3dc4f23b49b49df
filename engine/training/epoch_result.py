"""An epoch's numbers once read back (:class:`EpochResult`) and the training clock.

Their own module beside :mod:`engine.training.epoch` (which re-exports both) so the epoch's
hot loop and its one host read stay a module of their own size. Torch-free.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from engine.training.early_stopping import Params


class Clock:
    """Training time: starts when the loop does and leaves out the time spent paused."""

    def __init__(self) -> None:
        self._t0 = time.perf_counter()
        self._paused_s = 0.0

    def exclude(self, seconds: float) -> None:
        self._paused_s += seconds

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self._t0 - self._paused_s


@dataclass(frozen=True)
class EpochResult:
    """One epoch's numbers on the host, after its one sync."""

    train_loss: float
    val_loss: float | None
    """None when there is no validation split."""
    weights: list[float]
    bias: float | list[float] | None
    metrics: dict[str, dict[str, float]]
    stopped: bool = False
    """Data-parallel: some rank was asked to stop during this epoch (every rank stops after it;
    the epoch is not reported, as a single process's stop during its last step is not)."""
    grad_norm: float | None = None
    """``‖∇θ L‖₂`` at the epoch's last step (see :mod:`engine.training.step_base`); None when
    no step noted it."""

    @property
    def params(self) -> Params:
        return self.weights, self.bias

    def loss(self, monitor: str) -> float:
        """The value of an early-stopping monitor ("train_loss", "val_loss" or
        "val_accuracy")."""
        if monitor == "train_loss":
            return self.train_loss
        if monitor == "val_accuracy":
            return self.metrics.get("val", {}).get("accuracy", math.nan)
        return self.val_loss if self.val_loss is not None else math.nan  # never improves


def grad_norm_of(norm: float, scale: float) -> float | None:
    """The objective's gradient norm from the host read of ``‖grad‖₂`` and its step's scale
    (None: the read carried NaN for "not noted"; see :meth:`EpochRunner.read`)."""
    return None if math.isnan(norm) else norm * scale
