"""``events.jsonl``: a run's event stream on disk, one JSON line per event, and its only reader.

The training process appends one line per event (the ``--json`` format, thinned after
``FULL_WEIGHT_EPOCHS``) and flushes it, so any number of readers see whole epochs as they come.
A process killed mid-line leaves a torn last line: a reader leaves it (it may still be being
written) and goes on from the last newline next time. :class:`RunLog` is that writer and every
reader (the follower, ``runs``, the runs screen, resume, comparisons, the curve summary's zooms
and rebuilds: :meth:`RunLog.lines` reads any byte range), so the lines are parsed in one place
and a damaged one is the same one-line :class:`RunError` naming its line wherever it is read.
Losses are logged for every epoch, so an epoch that does not follow on from the one before it
(a line lost from the middle) is damage too. Torch-free.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from engine.core.errors import RunError
from engine.core.events import EpochEnded, Event, RunStarted
from engine.runs.files import atomic_write
from engine.runs.log_lines import EVENT_CLASSES, LogLine, decode, event_from_dict, follows

__all__ = [
    "EVENT_CLASSES",
    "FULL_WEIGHT_EPOCHS",
    "LOG_NAME",
    "TAIL_BYTES",
    "WEIGHT_STRIDE",
    "LogLine",
    "RunLog",
    "decode",
    "epochs_until",
    "event_from_dict",
    "event_line",
    "read_events",
    "thin",
]

LOG_NAME = "events.jsonl"
FULL_WEIGHT_EPOCHS = 1000
"""Every epoch's weights are logged up to here; later only every ``WEIGHT_STRIDE``-th and
improving epochs keep them and the per-epoch metrics (losses are never thinned). Keeps a
100,000-epoch run with 20 features under 50 MB (measured in tests/test_run_store.py)."""
WEIGHT_STRIDE = 10
TAIL_BYTES = 1 << 16
"""How much of a log's end :meth:`RunLog.ends` reads for its latest event."""


def thin(event: Event) -> dict[str, Any]:
    """The JSON form of ``event`` as logged.

    Epochs after ``FULL_WEIGHT_EPOCHS`` that neither improve nor fall on the stride keep their
    losses, early-stopping state and speed but drop ``weights``/``weights_original`` (None) and
    ``metrics`` ({}): a reader shows the latest epoch that has them. The final weights and
    metrics are always in RunFinished.
    """
    data = event.to_dict()
    if (
        isinstance(event, EpochEnded)
        and event.epoch > FULL_WEIGHT_EPOCHS
        and event.epoch % WEIGHT_STRIDE
        and not event.improved
    ):
        data.update(weights=None, weights_original=None, metrics={})
    return data


def event_line(event: Event) -> bytes:
    """One log line: the thinned event, compact JSON, a newline."""
    return json.dumps(thin(event), separators=(",", ":")).encode() + b"\n"


class RunLog:
    """The ``events.jsonl`` of the run directory ``run``: append to it, or read it from any
    byte offset (whole lines only)."""

    def __init__(self, run: Path) -> None:
        self.run = run
        self.path = run / LOG_NAME
        self._out: BinaryIO | None = None
        self._lines_at: tuple[int, int | None] = (0, 0)
        """(byte offset, lines before it) after the last read: a damaged line's number."""
        self._epoch_at: tuple[int, int | None] = (0, None)
        """(byte offset, the epoch the log is at there) where the last read got to."""
        self.where = f"{run.name}/{LOG_NAME}"
        """The log as errors name it (run folder and file: fits one line)."""

    # -- writing (the run's own process) ---------------------------------------------------------

    @property
    def writing(self) -> bool:
        return self._out is not None

    def replace(self, lines: bytes) -> None:
        """Make ``lines`` the whole log, atomically (a resume keeps the epochs it goes on from,
        under its own ``RunStarted``)."""
        atomic_write(self.path, lines)

    def open(self) -> None:
        """Open for appending (the file is created when missing)."""
        self._out = open(self.path, "ab")  # noqa: SIM115 - kept open for the run's appends

    def append(self, event: Event) -> tuple[bytes, int]:
        """Write ``event``'s line and flush it: a reader (or a ``kill -9``) sees whole lines.
        Returns the line and the byte offset it starts at (the curve summary indexes it)."""
        if self._out is None:
            raise RunError(f"{self.path}: the log is not open for writing")
        line, start = event_line(event), self._out.tell()
        self._out.write(line)
        self._out.flush()
        return line, start

    def sync(self) -> None:
        """Make what was appended durable (at the end of a run)."""
        if self._out is not None:
            os.fsync(self._out.fileno())

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    # -- reading (anyone) ------------------------------------------------------------------------

    def read(self, offset: int = 0, *, after_epoch: int | None = None) -> tuple[list[Event], int]:
        """The events from byte ``offset``, and the offset to go on from.

        A last line without its newline is a write in progress (or torn by a kill): it is left
        for the next call. A complete line that is not an event, or an epoch that does not
        follow on from the one before it (known when the read starts at the log's start or
        where this reader's last read ended; ``after_epoch``: the epoch before ``offset``, when
        the caller knows it), is an error naming the line. No log yet reads as no events; a run
        directory that is gone is an error.
        """
        try:
            with open(self.path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            if not self.run.exists():
                raise RunError(f"{self.run}: run directory is gone") from None
            return [], offset
        except OSError as exc:
            raise RunError(f"{self.path}: unreadable ({exc.strerror or exc})") from None
        end = data.rfind(b"\n") + 1
        after = self._epoch_at[1] if offset and self._epoch_at[0] == offset else after_epoch
        events = [self.event(ln) for ln in self._parse(_whole_lines(data), offset, after)]
        before = self._known_lines(offset)  # counted only when known: a read from the middle
        self._lines_at = (  # of a long log (its curve summary's end) must not read all before
            offset + end,
            None if before is None else before + data[:end].count(b"\n"),
        )
        return events, offset + end

    def lines(
        self, start: int = 0, end: int | None = None, *, after_epoch: int | None = None
    ) -> Iterator[LogLine]:
        """Each whole line from byte ``start`` up to byte ``end`` (None: the log's end, read as
        it streams; a torn last line is left) as a :class:`LogLine`, its JSON object checked by
        :func:`decode` (every field: :meth:`event`). A line that is not an event, or an epoch
        that does not follow on from the one before it (``after_epoch``: the epoch before
        ``start``, when the caller knows it), raises :class:`RunError` naming the line by its
        number in the whole file. No log yet reads as no lines."""
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed when the lines are done
        except FileNotFoundError:
            if not self.run.exists():
                raise RunError(f"{self.run}: run directory is gone") from None
            return
        except OSError as exc:
            raise RunError(f"{self.path}: unreadable ({exc.strerror or exc})") from None
        with fh:
            fh.seek(start)
            raw: Iterable[bytes] = fh if end is None else _whole_lines(fh.read(max(0, end - start)))
            yield from self._parse(raw, start, after_epoch)

    def event(self, line: LogLine) -> Event:
        """The event a line of :meth:`lines` holds, every field checked (a :class:`RunError`
        naming the line when one is wrong)."""
        try:
            return event_from_dict(line.data)
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            raise self._damaged(self._line_number(line.start) + 1, exc) from None

    def _parse(self, raw: Iterable[bytes], offset: int, after: int | None) -> Iterator[LogLine]:
        """The log's one parser: the lines ``raw`` (each with its newline; one without is a
        torn last line, the end) read from byte ``offset``, each as its JSON object, the
        epochs checked to follow on from ``after`` (the epoch before ``offset``, None:
        unknown). Where it got to is kept in :attr:`_epoch_at` (a next read goes on from it)."""
        at, epoch = offset, after
        for n, line in enumerate(raw, start=1):
            if not line.endswith(b"\n"):
                return
            start, at = at, at + len(line)
            if not line.strip():
                self._epoch_at = (at, epoch)
                continue
            try:
                data = decode(line)
                epoch = follows(data, epoch)
            except (ValueError, TypeError, KeyError, RecursionError) as exc:
                raise self._damaged(self._line_number(offset) + n, exc) from None
            self._epoch_at = (at, epoch)
            yield LogLine(start, at, line, data)

    def _damaged(self, number: int, why: BaseException | str) -> RunError:
        """The one error a damaged line is: the log, the line's number, what is wrong."""
        return RunError(
            f"{self.where}: bad event line {number} ({str(why)[:80]}): the log is damaged"
        )

    def _known_lines(self, offset: int) -> int | None:
        if offset == 0:
            return 0
        return self._lines_at[1] if self._lines_at[0] == offset else None

    def _line_number(self, offset: int) -> int:
        """How many lines the log has before byte ``offset`` (remembered from the last read,
        else counted: only to name a damaged line)."""
        known = self._known_lines(offset)
        if known is not None:
            return known
        try:
            with open(self.path, "rb") as fh:
                return fh.read(offset).count(b"\n")
        except OSError:
            return 0

    def ends(self, *, strict: bool = False) -> tuple[RunStarted | None, Event | None]:
        """The run's ``RunStarted`` (its first line) and its latest whole event (read from the
        last ``TAIL_BYTES``), without reading a long log; unreadable lines count as absent
        (``strict``: raise :class:`RunError` naming the file and what is wrong)."""
        try:
            with open(self.path, "rb") as fh:
                first = fh.readline(TAIL_BYTES)
                fh.seek(0, 2)
                size = fh.tell()
                fh.seek(max(0, size - TAIL_BYTES))
                tail = fh.read()
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            if strict:
                raise RunError(f"{self.path}: unreadable ({exc.strerror or exc})") from None
            return None, None
        started = last = None
        lines = [ln for ln in tail.split(b"\n")[:-1] if ln.strip()]  # drop a torn last line
        ends = [("first", first)] if first.endswith(b"\n") and first.strip() else []
        for where, raw in ends + [("last", ln) for ln in lines[-1:]]:
            try:
                event = event_from_dict(decode(raw))
            except (ValueError, TypeError, KeyError, RecursionError) as exc:
                if strict:
                    raise RunError(
                        f"{self.where}: bad event line, the {where} "
                        f"({str(exc)[:80]}): the log is damaged"
                    ) from None
                continue
            if isinstance(event, RunStarted):
                started = event
            else:
                last = event
        return started, last

    def epochs_until(self, epoch: int) -> bytes:
        """The ``EpochEnded`` lines up to ``epoch`` (what a resume from there keeps): not the
        RunStarted, any later epoch, an end, or a torn last line."""
        kept = []
        self.read()  # every field of every line checked: a damaged line is a RunError naming it
        for line in self.lines():
            kind = line.data["type"]
            if kind == "EpochEnded":
                if line.data["epoch"] > epoch:
                    break
                kept.append(line.raw)
            elif kind == "RunFinished":
                break
        return b"".join(kept)


def _whole_lines(data: bytes) -> list[bytes]:
    """The whole lines of ``data``, each with its newline (what follows the last newline, a
    torn line, is left out)."""
    return [ln + b"\n" for ln in data.split(b"\n")[:-1]]


def read_events(run: Path, *, offset: int = 0) -> tuple[list[Event], int]:
    """:meth:`RunLog.read` of ``run``'s log."""
    return RunLog(run).read(offset)


def epochs_until(run: Path, epoch: int) -> bytes:
    """:meth:`RunLog.epochs_until` of ``run``'s log."""
    return RunLog(run).epochs_until(epoch)
