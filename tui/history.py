"""The run history: the dashboard's record of one run, built only from engine events.

The epoch history lives here, in plain lists outside Textual's message queue, so no epoch is ever
dropped however the redraws are coalesced. Every panel renders from it; nothing here computes
training numbers, it only files what the events say. (Named for what it is, so it never reads as
the regression model.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from engine.events import EpochEnded, Event, RunFinished, RunStarted

from tui.series import DebiasedEMA, Downsampler

SMOOTHING_BETAS: tuple[float, ...] = (0.9, 0.99)
"""EMA strengths the smoothing key cycles through (after "off")."""


@dataclass
class CurveSeries:
    """One loss curve: raw points, and one smoothed copy per EMA strength, all downsampled."""

    raw: Downsampler = field(default_factory=Downsampler)
    smooth: dict[float, Downsampler] = field(
        default_factory=lambda: {b: Downsampler() for b in SMOOTHING_BETAS})
    _ema: dict[float, DebiasedEMA] = field(
        default_factory=lambda: {b: DebiasedEMA(b) for b in SMOOTHING_BETAS})

    def append(self, x: float, y: float) -> None:
        """Add a finite value (a plot cannot draw inf or nan; those stay in the history)."""
        if not math.isfinite(y):
            return
        self.raw.append(x, y)
        for beta, ema in self._ema.items():
            self.smooth[beta].append(x, ema.update(y))


@dataclass
class RunHistory:
    """Everything the screen shows about the current (or last) run."""

    started: RunStarted | None = None
    last: EpochEnded | None = None
    finished: RunFinished | None = None
    epochs: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    train_curve: CurveSeries = field(default_factory=CurveSeries)
    val_curve: CurveSeries = field(default_factory=CurveSeries)
    min_positive: float = math.inf
    """Smallest positive finite loss seen, for the log-scale floor (kept incrementally)."""
    has_nonpositive: bool = False
    """Whether the plot has a value <= 0 to draw (a loss, or the optimum's loss line)."""

    def add(self, event: Event) -> None:
        """File one event; a RunStarted begins a fresh history."""
        if isinstance(event, RunStarted):
            self.__init__()  # type: ignore[misc]
            self.started = event
            opt_loss = (event.optimum or {}).get("loss")
            self.has_nonpositive = opt_loss is not None and opt_loss <= 0
        elif isinstance(event, EpochEnded):
            self.last = event
            self.epochs.append(event.epoch)
            self.train_loss.append(event.train_loss)
            self.val_loss.append(event.val_loss)
            self.train_curve.append(event.epoch, event.train_loss)
            self._note(event.train_loss)
            if event.val_loss is not None:
                self.val_curve.append(event.epoch, event.val_loss)
                self._note(event.val_loss)
        elif isinstance(event, RunFinished):
            self.finished = event

    def _note(self, y: float) -> None:
        if not math.isfinite(y):
            return
        if y > 0:
            self.min_positive = min(self.min_positive, y)
        else:
            self.has_nonpositive = True

    @property
    def log_floor(self) -> float:
        """A decade under the smallest positive loss: where zero and negatives are drawn on log-y."""
        return self.min_positive / 10.0 if math.isfinite(self.min_positive) else 1e-12
