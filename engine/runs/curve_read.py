"""Reading a run's curve summary (``curve.bin``, see :mod:`engine.runs.curve`) and its log's end.

:func:`load_curve` is how a dashboard opens a run of any length: the summary's records (one
``frombytes``), checked against the log (the ``RunStarted`` line's hash, and the last record's
last line really being that epoch's), then only the log's lines from the last record on, parsed
into events. A summary that is missing (a run from before it existed) or stale (a resume
rewrote the log) is rebuilt from the log, reporting progress, and saved when no trainer is
writing the run. :meth:`Curve.points` draws any epoch range at any width from the records, or
from the log's own lines once a range is narrow enough; :meth:`Curve.epoch` reads one epoch's
line through the records' byte offsets. Torch-free.
"""

from __future__ import annotations

import contextlib
import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.events import EpochEnded, Event, RunStarted
from engine.runs.curve import (
    BUCKET,
    CURVE_NAME,
    HEAD,
    HEADER_BYTES,
    STATS,
    CurveBuilder,
    epoch_values,
    header_bytes,
    parse_header,
    record_size,
    started_hash,
)
from engine.runs.files import atomic_write
from engine.runs.log import LOG_NAME, TAIL_BYTES, LogLine, RunLog

Point = tuple[float, float]
Progress = Callable[[int, int], None]
"""Called while a summary is rebuilt with (bytes read, bytes in the log)."""
PROGRESS_EVERY = 20_000
"""Lines between two progress reports of a rebuild."""


@dataclass
class Curve:
    """A run's summarised epochs (``records``), then the events after them (``tail``, parsed)
    and where its log goes on (``offset``: a follower starts there)."""

    run: Path
    fields: list[str] = field(default_factory=list)
    records: array[float] = field(default_factory=lambda: array("d"))
    started: RunStarted | None = None
    tail: list[Event] = field(default_factory=list)
    offset: int = 0
    rebuilt: bool = False
    """The summary was missing or stale and was rebuilt from the log."""

    @property
    def size(self) -> int:
        return record_size(self.fields)

    def __len__(self) -> int:
        return len(self.records) // self.size if self.fields else 0

    @property
    def last_epoch(self) -> int:
        """The last epoch the records cover (0: none)."""
        return int(self.records[-self.size + 1]) if len(self) else 0

    def column(self, name: str, stat: str) -> array[float]:
        """One number of every record: a HEAD entry (``first``, ``end``) or a series' stat."""
        if name in HEAD:
            return self.records[HEAD.index(name) :: self.size]
        i = len(HEAD) + len(STATS) * self.fields.index(name) + STATS.index(stat)
        return self.records[i :: self.size]

    def _span(self, lo: float, hi: float) -> tuple[int, int]:
        """Indices of the records overlapping epochs ``lo..hi``."""
        import bisect

        firsts, lasts = self.column("first", ""), self.column("last", "")
        return bisect.bisect_left(lasts, lo), bisect.bisect_right(firsts, hi)

    def points(self, name: str, lo: float, hi: float, n_points: int) -> list[Point]:
        """Min/max points of series ``name`` over epochs ``lo..hi`` (records only), at most
        about ``n_points``: from the records' stats, or from the log's own lines when the range
        holds no more than ``n_points`` epochs."""
        if name not in self.fields or not len(self):
            return []
        a, b = self._span(lo, hi)
        if a >= b:
            return []
        if (b - a) * BUCKET <= max(n_points, 2 * BUCKET):  # a few records: their lines
            return [(x, y) for x, y in self._raw(name, a, b) if lo <= x <= hi]
        mins, maxs = self.column(name, "min")[a:b], self.column(name, "max")[a:b]
        firsts, lasts = self.column("first", "")[a:b], self.column("last", "")[a:b]
        groups = max(1, n_points // 2)
        step = max(1, math.ceil((b - a) / groups))
        out: list[Point] = []
        for g in range(0, b - a, step):
            y_lo, y_hi = min(mins[g : g + step]), max(maxs[g : g + step])
            if y_lo > y_hi:  # no finite value in the group
                continue
            x = (firsts[g] + lasts[min(g + step, b - a) - 1]) / 2
            out += [(x, y_lo)] if y_lo == y_hi else [(x, y_lo), (x, y_hi)]
        return out

    def _lines(self, a: int, b: int) -> list[dict[str, Any]]:
        """The log's epoch lines of records ``a..b`` as JSON mappings, read by the log's one
        parser (:meth:`RunLog.lines`): a damaged line, or an epoch missing between them, is
        a :class:`RunError` naming its line."""
        return [line.data for line in self._log_lines(a, b) if line.data["type"] == "EpochEnded"]

    def _log_lines(self, a: int, b: int) -> list[LogLine]:
        start, end = int(self.column("start", "")[a]), int(self.column("end", "")[b - 1])
        after = int(self.column("last", "")[a - 1]) if a > 0 else None
        return list(RunLog(self.run).lines(start, end, after_epoch=after))

    def _raw(self, name: str, a: int, b: int) -> list[Point]:
        out = []
        for data in self._lines(a, b):
            (y,) = epoch_values(data, [name])
            if y is not None and math.isfinite(y):
                out.append((float(data["epoch"]), y))
        return out

    def epoch(self, epoch: int) -> EpochEnded | None:
        """That epoch's event as logged (its line found through the records), or None; a
        damaged line is a :class:`RunError` naming it."""
        a, b = self._span(epoch, epoch)
        if a >= b:
            return None
        log = RunLog(self.run)
        for line in self._log_lines(a, b):
            if line.data["type"] == "EpochEnded" and line.data["epoch"] == epoch:
                event = log.event(line)
                return event if isinstance(event, EpochEnded) else None
        return None

    def smoothed(
        self, name: str, beta: float, max_points: int = 2048
    ) -> tuple[list[Point], float, int]:
        """The debiased EMA of series ``name`` over the records, at most ``max_points`` of it:
        records are taken in groups (each group's mean folded in with weight ``1 - beta**n``,
        ``n`` its values), so a 1,000,000-epoch run costs what a 100,000-epoch one does; and
        the EMA's state (m, t), so the epochs after the records go on from it."""
        if name not in self.fields or not len(self):
            return [], 0.0, 0
        sums, ns = self.column(name, "sum"), self.column(name, "n")
        lasts = self.column("last", "")
        step = max(1, math.ceil(len(sums) / max_points))
        m, t, out = 0.0, 0, []
        for g in range(0, len(sums), step):
            n = sum(ns[g : g + step])
            if n <= 0:
                continue
            k = int(n)
            decay = beta**k
            m = decay * m + (1.0 - decay) * (sum(sums[g : g + step]) / n)
            t += k
            out.append((lasts[min(g + step, len(sums)) - 1], m / (1.0 - beta**t)))
        return out, m, t


def _first_line(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            line = fh.readline(TAIL_BYTES)
    except FileNotFoundError:
        return b""
    return line if line.endswith(b"\n") else b""


def _read_summary(run: Path, started: bytes) -> Curve | None:
    """The summary on disk when it matches the log, else None."""
    try:
        raw = (run / CURVE_NAME).read_bytes()
    except OSError:
        return None
    head = parse_header(raw)
    if head is None or head.get("started") != started_hash(started):
        return None
    curve = Curve(run, [str(f) for f in head["fields"]])
    size = curve.size * 8
    body = raw[HEADER_BYTES:]
    curve.records.frombytes(body[: len(body) // size * size])
    if len(curve) and not _matches(curve):
        return None
    return curve


def _matches(curve: Curve) -> bool:
    """Whether the log's line ending where the last record says is that record's last epoch."""
    end, epoch = int(curve.records[-curve.size + 3]), curve.last_epoch
    try:
        with open(curve.run / LOG_NAME, "rb") as fh:
            fh.seek(max(0, end - TAIL_BYTES))
            raw = fh.read(min(end, TAIL_BYTES))
    except OSError:
        return False
    if not raw.endswith(b"\n"):
        return False
    line = raw[raw.rfind(b"\n", 0, len(raw) - 1) + 1 :]
    return line.startswith(b'{"type":"EpochEnded","epoch":%d,' % epoch)


def rebuild(run: Path, progress: Progress | None = None) -> Curve:
    """The summary built from the whole log (for a run without one, or a stale one); a
    damaged line, or an epoch missing from the middle, is a :class:`RunError` naming it."""
    builder, records = CurveBuilder(), array("d")
    log = RunLog(run)
    total = log.path.stat().st_size if log.path.exists() else 0
    offset = 0
    for i, line in enumerate(log.lines()):  # the log's one parser: damage is a RunError
        kind = line.data["type"]
        if kind == "RunStarted":
            builder.start(line.raw)
            records = array("d")
        elif kind == "EpochEnded":
            builder.epoch(line.data, line.start, line.end)
            for record in builder.take():
                records.extend(record)
        offset = line.end
        if progress is not None and i % PROGRESS_EVERY == PROGRESS_EVERY - 1:
            progress(offset, total)
    if progress is not None:
        progress(offset, total)
    curve = Curve(run, builder.fields, records, rebuilt=True)
    if builder.fields and len(curve) and _idle(run):
        with contextlib.suppress(OSError, ValueError):
            atomic_write(
                run / CURVE_NAME, header_bytes(builder.fields, builder.started) + records.tobytes()
            )
    return curve


def _idle(run: Path) -> bool:
    """No trainer writes this run (only then may a reader save a rebuilt summary)."""
    from engine.runs import lock

    return lock.held_elsewhere(run) is not True and not lock.held_here(run)


def load_curve(run: Path, progress: Progress | None = None, *, events_up_to: int = 0) -> Curve:
    """The run's summary and the events after it (see the module's docstring). Errors as
    :meth:`RunLog.read` raises them (a run directory that is gone, a damaged line).

    ``events_up_to``: a run whose summary covers no more epochs than this is read as events
    from its first line (a short run costs little either way, and its reader gets every epoch).
    """
    log = RunLog(run)
    first = _first_line(log.path)
    curve = _read_summary(run, first) if first else None
    if curve is None:
        curve = rebuild(run, progress) if first else Curve(run)
    if len(curve) > 1 and curve.last_epoch > events_up_to:
        # the last record's epochs are read as events too: the latest weights are among them
        start = int(curve.column("start", "")[-1])
        del curve.records[-curve.size :]
    else:
        start, curve.records = 0, array("d")
    curve.tail, curve.offset = log.read(start, after_epoch=curve.last_epoch or None)
    for line in log.lines(0, len(first)):
        started = log.event(line)
        curve.started = started if isinstance(started, RunStarted) else None
    return curve
