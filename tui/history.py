"""The run history: the dashboard's record of one run, built only from engine events.

The epoch history lives here, outside Textual's message queue, so no epoch is ever dropped
however the redraws are coalesced. Every panel renders from it; nothing here computes training
numbers, it only files what the events say. (Named for what it is, so it never reads as the
regression model.)

Its memory is bounded however long the run: each series (losses, metrics, weights, learning
rate, gradient norm) keeps constant-size min/max buckets for the whole run and the raw values
of the last :data:`RAW_KEPT` epochs only. A long run opened from its directory starts from the
run's curve summary (:func:`engine.runs.curve_read.load_curve`, :meth:`RunHistory.seed`): the
epochs it covers are drawn from it (read from disk at the resolution a zoomed plot needs), the
epochs after it are filed here as they come.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from engine.core.errors import RunError
from engine.core.events import EpochEnded, Event, RunFinished, RunStarted, SystemSampled
from engine.core.fit_warnings import LossRange
from engine.core.report import latest
from engine.runs.curve_read import Curve
from tui.series import (
    DENSE,
    SMOOTHED_AS_FILED,
    SMOOTHING_BETAS,
    CurveSeries,
    Point,
    epoch_fields,
    window_points,
)

T = TypeVar("T")
RAW_KEPT = 20_000
"""Epochs whose raw values the history keeps (the last ones): the z windows (up to 10,000) and
a zoom into the run's end draw them exactly; older epochs come from the buckets or the disk."""


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
    system: SystemSampled | None = None
    """The trainer's latest resource sample (its CPU, memory, GPU), if the log has one."""
    train_range: LossRange = field(default_factory=LossRange)
    """The minimum and last training loss of every epoch filed (the fit warnings' input)."""
    epochs: list[int] = field(default_factory=list)
    """The last epochs filed (at most ``2 * RAW_KEPT``; all of a run up to that long)."""
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    gaps: list[float | None] = field(default_factory=list)
    lr: array[float] = field(default_factory=lambda: array("d"))
    """The learning rate at each of :attr:`epochs`."""
    grad_norm: list[float | None] = field(default_factory=list)
    """The gradient norm at each of :attr:`epochs` (None: a log from before it was logged)."""
    rows: list[tuple[int, dict[str, float | None]]] = field(default_factory=list)
    """The metrics and weights of the kept epochs that log them (a long run's log thins them
    to every ``WEIGHT_STRIDE``-th and improving epoch), as ``(epoch, {series: value})``."""
    curves: dict[str, CurveSeries] = field(default_factory=dict)
    first_filed: int | None = None
    """The first epoch filed here (after the seeded summary's, if any)."""
    base: Curve | None = None
    """The run's curve summary this history was seeded from (its epochs are not filed here)."""
    damage: str | None = None  # why epochs were left out: the log's RunError (see _from_log)
    damage_told: bool = False  # the screen has said so (tui.widgets.plot.tell_damage)
    min_positive: float = math.inf
    """Smallest positive finite loss seen, for the log-scale floor (kept incrementally)."""
    has_nonpositive: bool = False
    """Whether the plot has a value <= 0 to draw (a loss, or the optimum's loss line)."""
    _points: dict[tuple[object, ...], list[Point]] = field(
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
            self._epoch(event)
        elif isinstance(event, RunFinished):
            self.finished = event
        elif isinstance(event, SystemSampled):
            self.system = event

    def _epoch(self, event: EpochEnded) -> None:
        self.last = event
        self.train_range.add(event.train_loss)
        if event.weights is not None:
            self.last_weighted = event
        if len(self.epochs) >= 2 * RAW_KEPT:
            self._trim()
        x = event.epoch
        if self.first_filed is None:
            self.first_filed = x
        self.epochs.append(x)
        self.train_loss.append(event.train_loss)
        self.val_loss.append(event.val_loss)
        self.gaps.append(event.gap)
        self.lr.append(event.lr)
        grad = event.grad_norm
        self.grad_norm.append(grad)
        curves = self.curves
        for name, value in (("train_loss", event.train_loss), ("val_loss", event.val_loss)):
            if value is not None:
                self._curve(name).append(x, value)
        self._curve("lr").append(x, event.lr)
        if grad is not None:
            self._curve("grad_norm").append(x, grad)
        if event.metrics or event.weights is not None:
            values = epoch_fields(event)
            self.rows.append((x, values))
            for name, value in values.items():
                if value is not None and name not in DENSE:
                    (curves.get(name) or self._curve(name)).append(x, value)
        self._note(event.train_loss)
        if event.val_loss is not None:
            self._note(event.val_loss)

    def _curve(self, name: str) -> CurveSeries:
        curve = self.curves.get(name)
        if curve is None:
            curve = self.curves[name] = CurveSeries(smoothing=name in SMOOTHED_AS_FILED)
        return curve

    def _trim(self) -> None:
        """Forget the raw values of all but the last RAW_KEPT epochs (the buckets keep them)."""
        cut = len(self.epochs) - RAW_KEPT
        del self.epochs[:cut], self.train_loss[:cut], self.val_loss[:cut], self.gaps[:cut]
        del self.lr[:cut], self.grad_norm[:cut]
        first = self.epochs[0]
        self.rows = [r for r in self.rows if r[0] >= first]

    def _raw(self, name: str, i: int, j: int) -> tuple[list[int], list[float | None]]:
        """Epochs and values of series ``name`` in :attr:`epochs` ``[i:j]``, as filed."""
        if name == "train_loss":
            return self.epochs[i:j], list(self.train_loss[i:j])
        if name == "val_loss":
            return self.epochs[i:j], self.val_loss[i:j]
        if name == "lr":
            return self.epochs[i:j], list(self.lr[i:j])
        if name == "grad_norm":
            return self.epochs[i:j], self.grad_norm[i:j]
        if i >= j:
            return [], []
        lo, hi = self.epochs[i], self.epochs[j - 1]
        a = bisect.bisect_left(self.rows, lo, key=lambda r: r[0])
        b = bisect.bisect_right(self.rows, hi, key=lambda r: r[0])
        kept = self.rows[a:b]
        return [e for e, _ in kept], [v.get(name) for _, v in kept]

    def seed(self, curve: Curve) -> None:
        """Start from a run's curve summary: its RunStarted and its summarised epochs (the
        events after them are then filed with :meth:`add`)."""
        self.__init__()  # type: ignore[misc]
        if curve.started is not None:
            self.add(curve.started)
        if not len(curve):
            return
        self.base = curve
        for name in curve.fields:
            series = self.curves[name] = CurveSeries(smoothing=name in SMOOTHED_AS_FILED)
            if not series.smoothing:
                continue
            for beta in SMOOTHING_BETAS:
                points, m, t = curve.smoothed(name, beta)
                series.base_smooth[beta] = points
                ema = series._ema[beta]
                ema._m, ema._t = m, t
        if "train_loss" in curve.fields:  # the fit warnings' loss range, from the summary
            lows = curve.column("train_loss", "min")
            low = min(lows, default=math.inf)
            if math.isfinite(low):
                r = list(lows).index(low)
                self.train_range.minimum = low
                self.train_range.min_epoch = int(curve.column("first", "")[r])
            self.train_range.count = curve.last_epoch
            self.train_range.last = curve.column("train_loss", "last")[-1]
        for name in ("train_loss", "val_loss"):
            if name in curve.fields:
                lo = min(curve.column(name, "min"), default=math.inf)
                hi = max(curve.column(name, "max"), default=-math.inf)
                for y in (lo, hi):
                    if math.isfinite(y):
                        self._note(y)

    @property
    def train_curve(self) -> CurveSeries:
        return self.curves.setdefault("train_loss", CurveSeries())

    @property
    def val_curve(self) -> CurveSeries:
        return self.curves.setdefault("val_loss", CurveSeries())

    @property
    def first_epoch(self) -> int:
        """The run's first epoch drawn (1, or where a resumed log's history starts)."""
        if self.base is not None:
            return int(self.base.column("first", "")[0])
        return self.epochs[0] if self.epochs else 1

    @property
    def last_epoch(self) -> int:
        """The latest epoch filed (0 before any)."""
        if self.last is not None:
            return self.last.epoch
        return self.base.last_epoch if self.base is not None else 0

    @property
    def n_epochs(self) -> int:
        """How many epochs the run has so far (summarised and filed)."""
        return self.last_epoch - self.first_epoch + 1 if self.last_epoch else 0

    @property
    def fields(self) -> list[str]:
        """The series this run has (those with at least one finite value)."""
        names = list(self.base.fields) if self.base is not None else []
        return names + [n for n in self.curves if n not in names]

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

    def window_range(self, window: int | None) -> tuple[int, int]:
        """The epochs a last-``window``-epochs plot spans (None: the whole run)."""
        last = max(self.last_epoch, 1)
        first = self.first_epoch
        if window is not None:
            first = max(first, last - window + 1)
        return first, last

    def points(self, name: str, lo: float, hi: float, max_points: int) -> list[Point]:
        """Points of series ``name`` over epochs ``lo..hi``, at most about ``max_points``: the
        raw values where the history keeps them, else its buckets, and for the summarised
        epochs of a seeded run the summary (from disk, as fine as the range needs).

        Kept until the next epoch: the plot and the legend both ask every frame."""
        key = (name, lo, hi, max_points, self.last_epoch, len(self.epochs))
        cached = self._points.get(key)
        if cached is None:
            if len(self._points) > 16:
                self._points.clear()
            cached = self._points[key] = self._points_in(name, lo, hi, max_points)
        return cached

    def _points_in(self, name: str, lo: float, hi: float, max_points: int) -> list[Point]:
        out: list[Point] = []
        span = max(hi - lo, 1.0)
        base_last = self.base.last_epoch if self.base is not None else 0
        if self.base is not None and lo <= base_last:
            share = max(8, round(max_points * (min(hi, base_last) - lo) / span))
            out += _from_log(self, lambda b: b.points(name, lo, min(hi, base_last), share), [])
        lo = max(lo, base_last + 1)
        if hi < lo:
            return out
        share = max(8, round(max_points * (hi - lo) / span))
        curve = self.curves.get(name)
        filed = self.first_filed
        if curve is not None and filed is not None and lo <= filed and hi >= self.last_epoch:
            return out + curve.raw.points(share)  # all the epochs filed: O(width)
        if self.epochs and lo >= self.epochs[0]:
            i = bisect.bisect_left(self.epochs, lo)
            j = bisect.bisect_right(self.epochs, hi)
            xs, ys = self._raw(name, i, j)
            return out + window_points(xs, ys, share)
        if curve is not None:
            n = max(share, round(share * (self.last_epoch - base_last) / max(hi - lo, 1)))
            out += [p for p in curve.raw.points(min(n, 4096)) if lo <= p[0] <= hi]
        return out

    def value_at(self, epoch: int) -> dict[str, float | None] | None:
        """Every series' value at ``epoch`` as logged (None when the run has no such epoch):
        the raw values kept here, else that epoch's line read from the run's log."""
        i = bisect.bisect_left(self.epochs, epoch)
        if i < len(self.epochs) and self.epochs[i] == epoch:
            values: dict[str, float | None] = {
                "train_loss": self.train_loss[i],
                "val_loss": self.val_loss[i],
                "lr": self.lr[i],
                "grad_norm": self.grad_norm[i],
            }
            k = bisect.bisect_left(self.rows, epoch, key=lambda r: r[0])
            if k < len(self.rows) and self.rows[k][0] == epoch:
                values.update(self.rows[k][1])
            return values
        event = _from_log(self, lambda b: b.epoch(epoch), None)
        return epoch_fields(event) if event is not None else None

    def curve_points(self, window: int | None, max_points: int) -> tuple[list[Point], list[Point]]:
        """Train and val loss points of the whole run or of its last ``window`` epochs."""
        lo, hi = self.window_range(window)
        return (
            self.points("train_loss", lo, hi, max_points),
            self.points("val_loss", lo, hi, max_points),
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


def _from_log(history: RunHistory, read: Callable[[Curve], T], empty: T) -> T:
    """``read`` of the history's summary (which may read the run's log), else ``empty``: without
    a summary, or where the log is damaged (``history.damage`` keeps the first RunError)."""
    if history.base is None:
        return empty
    try:
        return read(history.base)
    except RunError as exc:
        history.damage = history.damage or str(exc)
        return empty
