"""Early stopping as a small state machine over a sequence of monitored values.

Semantics (Keras, Lightning, skorch, scikit-learn agree): an epoch improves when
``value < best - min_delta``; NaN never improves; ``wait`` counts epochs since the last
improvement and the run should stop once ``wait >= patience``. Stopping is a flag the loop reads,
not an exception, so the end-of-run work (restoring the best weights) always happens. Pure Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class EarlyStopping:
    """Tracks the best monitored value; ``enabled=False`` tracks but never asks to stop."""

    patience: int
    min_delta: float = 0.0
    enabled: bool = True
    best: float | None = None
    best_epoch: int | None = None
    wait: int = 0

    def update(self, epoch: int, value: float) -> bool:
        """Record ``value`` for ``epoch``; return whether it is an improvement."""
        improved = not math.isnan(value) and (
            self.best is None or value < self.best - self.min_delta)
        if improved:
            self.best, self.best_epoch, self.wait = value, epoch, 0
        else:
            self.wait += 1
        return improved

    @property
    def should_stop(self) -> bool:
        """Whether patience has run out (never when disabled)."""
        return self.enabled and self.wait >= self.patience
