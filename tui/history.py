"""The run history: the dashboard's record of one run, built only from engine events.

The epoch history lives here, in plain lists outside Textual's message queue, so no epoch is ever
dropped however the redraws are coalesced. Every panel renders from it; nothing here computes
training numbers, it only files what the events say. (Named for what it is, so it never reads as
the regression model.)
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from engine.core.events import EpochEnded, Event, RunFinished, RunStarted
from engine.core.report import latest
from tui.series import DebiasedEMA, Downsampler, Point, window_points

SMOOTHING_BETAS: tuple[float, ...] = (0.9, 0.99)
"""EMA strengths the smoothing key cycles through (after "off")."""


@dataclass
class CurveSeries:
    """One loss curve: raw points, and one smoothed copy per EMA strength, all downsampled."""

    raw: Downsampler = field(default_factory=Downsampler)
    smooth: dict[float, Downsampler] = field(
        default_factory=lambda: {b: Downsampler() for b in SMOOTHING_BETAS}
    )
    _ema: dict[float, DebiasedEMA] = field(
        default_factory=lambda: {b: DebiasedEMA(b) for b in SMOOTHING_BETAS}
    )

    def append(self, x: float, y: float) -> None:
        """Add a finite value (a plot cannot draw inf or nan; those stay in the history)."""
        if not math.isfinite(y):
            return
        self.raw.append(x, y)
        for beta, ema in self._ema.items():
            self.smooth[beta].append(x, ema.update(y))


@dataclass(frozen=True)
class EpochLosses:
    """The losses of the model at the end of one epoch (see :meth:`RunHistory.losses_at`)."""

    epoch: int
    train_loss: float
    val_loss: float | None
    gap: float | None


@dataclass
class RunHistory:
    """Everything the screen shows about the current (or last) run."""

    started: RunStarted | None = None
    last: EpochEnded | None = None
    last_weighted: EpochEnded | None = None
    """The latest epoch that carries weights and metrics: a run's log keeps them for every
    epoch up to :data:`engine.runs.store.FULL_WEIGHT_EPOCHS`, later only for improving and every
    ``WEIGHT_STRIDE``-th epoch (see :func:`engine.runs.store.thin`)."""
    finished: RunFinished | None = None
    epochs: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    gaps: list[float | None] = field(default_factory=list)
    train_curve: CurveSeries = field(default_factory=CurveSeries)
    val_curve: CurveSeries = field(default_factory=CurveSeries)
    min_positive: float = math.inf
    """Smallest positive finite loss seen, for the log-scale floor (kept incrementally)."""
    has_nonpositive: bool = False
    """Whether the plot has a value <= 0 to draw (a loss, or the optimum's loss line)."""
    _points: dict[tuple[int, int | None, int], tuple[list[Point], list[Point]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def add(self, event: Event) -> None:
        """File one event; a RunStarted begins a fresh history."""
        if isinstance(event, RunStarted):
            self.__init__()  # type: ignore[misc]
            self.started = event
            opt_loss = (event.optimum or {}).get("loss")
            self.has_nonpositive = opt_loss is not None and opt_loss <= 0
        elif isinstance(event, EpochEnded):
            self.last = event
            if event.weights is not None:
                self.last_weighted = event
            self.epochs.append(event.epoch)
            self.train_loss.append(event.train_loss)
            self.val_loss.append(event.val_loss)
            self.gaps.append(event.gap)
            self.train_curve.append(event.epoch, event.train_loss)
            self._note(event.train_loss)
            if event.val_loss is not None:
                self.val_curve.append(event.epoch, event.val_loss)
                self._note(event.val_loss)
        elif isinstance(event, RunFinished):
            self.finished = event

    @property
    def current(self) -> EpochEnded | RunFinished | None:
        """What the coefficient and metric panels show: the finished run's (restored)
        parameters, else the latest epoch with weights (a thinned epoch has none, and showing
        it blanked those lines between two epochs that have them)."""
        return latest(self.last_weighted, self.finished)

    def losses_at(self, epoch: int) -> EpochLosses | None:
        """The losses of the model as it was at the end of ``epoch`` (None if not recorded).

        ``val_loss`` is measured at the weights an epoch ends with, but a full-batch epoch's
        ``train_loss`` (and its gap) at the weights it started from: so for full batch the train
        loss and gap at the end of ``epoch`` are the next epoch's, when there is one. With
        minibatches no event has that number, and the epoch's own (mean over its steps) is shown.
        """
        i = bisect.bisect_left(self.epochs, epoch)
        if i >= len(self.epochs) or self.epochs[i] != epoch:
            return None
        j = i
        if self.full_batch and i + 1 < len(self.epochs) and self.epochs[i + 1] == epoch + 1:
            j = i + 1
        return EpochLosses(epoch, self.train_loss[j], self.val_loss[i], self.gaps[j])

    @property
    def full_batch(self) -> bool:
        """Whether the run trains on the whole training split each step: what its RunStarted
        says; a log written before RunStarted said it is read by the rule the trainer uses
        (``optim.batch_size`` null or at least the training rows)."""
        if self.started is None:
            return True
        if self.started.full_batch is not None:
            return self.started.full_batch
        size = (self.started.config.get("optim") or {}).get("batch_size")
        return not size or size >= self.started.n_train

    def shown_losses(self) -> EpochLosses | None:
        """The losses the run panel shows: the restored epoch's once a run that restored its
        best weights has finished (they go with the weights and metrics shown), else the
        latest epoch's. The restored numbers are RunFinished's own when it has them, else
        looked up in the history (:meth:`losses_at`)."""
        fin, last = self.finished, self.last
        if fin is not None and fin.restored_epoch is not None:
            if fin.train_loss is not None:  # the engine measured the restored parameters
                return EpochLosses(fin.restored_epoch, fin.train_loss, fin.val_loss, fin.gap)
            restored = self.losses_at(fin.restored_epoch)  # a log from before it did
            if restored is not None:
                return restored
        if last is None:
            return None
        return EpochLosses(last.epoch, last.train_loss, last.val_loss, last.gap)

    def window_start(self, window: int | None) -> int:
        """Index into the epoch lists where a last-``window``-epochs plot starts (0: all)."""
        return 0 if window is None else max(0, len(self.epochs) - window)

    def curve_points(self, window: int | None, max_points: int) -> tuple[list[Point], list[Point]]:
        """Train and val points to draw, at most about ``max_points`` each: the whole run from
        the constant-cost buckets, or the last ``window`` epochs from the raw values.

        Kept until the next epoch: the plot and the legend's decades both ask every frame."""
        key = (len(self.epochs), window, max_points)
        cached = self._points.get(key)
        if cached is None:
            if len(self._points) > 8:
                self._points.clear()
            cached = self._points[key] = self._curve_points(window, max_points)
        return cached

    def _curve_points(self, window: int | None, max_points: int) -> tuple[list[Point], list[Point]]:
        if window is None or window >= len(self.epochs):
            return self.train_curve.raw.points(max_points), self.val_curve.raw.points(max_points)
        i = self.window_start(window)
        xs = self.epochs[i:]
        return (
            window_points(xs, self.train_loss[i:], max_points),
            window_points(xs, self.val_loss[i:], max_points),
        )

    def y_range(self, window: int | None) -> tuple[float, float] | None:
        """Smallest and largest loss a plot of this window draws (None before any epoch)."""
        train, val = self.curve_points(window, 512)
        ys = [y for _, y in train + val]
        return (min(ys), max(ys)) if ys else None

    def _note(self, y: float) -> None:
        if not math.isfinite(y):
            return
        if y > 0:
            self.min_positive = min(self.min_positive, y)
        else:
            self.has_nonpositive = True

    @property
    def log_floor(self) -> float:
        """A decade under the smallest positive loss: where zero and negatives go on log-y."""
        return self.min_positive / 10.0 if math.isfinite(self.min_positive) else 1e-12
