"""``events.jsonl``: a run's event stream on disk, one JSON line per event, and its only reader.

The training process appends one line per event (the ``--json`` format, thinned after
``FULL_WEIGHT_EPOCHS``) and flushes it, so any number of readers see whole epochs as they come.
A process killed mid-line leaves a torn last line: a reader leaves it (it may still be being
written) and goes on from the last newline next time. :class:`RunLog` is that writer and every
reader (the follower, ``runs``, the runs screen, resume, comparisons), so the lines are parsed in
one place. Torch-free.
"""

from __future__ import annotations

import json
import math
import os
import types
import typing
from pathlib import Path
from typing import Any, BinaryIO

from engine.core.errors import RunError
from engine.core.events import (
    CrossValidated,
    EpochEnded,
    Event,
    FoldFinished,
    RunFinished,
    RunStarted,
    SystemSampled,
)
from engine.runs.files import atomic_write

LOG_NAME = "events.jsonl"
FULL_WEIGHT_EPOCHS = 1000
"""Every epoch's weights are logged up to here; later only every ``WEIGHT_STRIDE``-th and
improving epochs keep them and the per-epoch metrics (losses are never thinned). Keeps a
100,000-epoch run with 20 features under 50 MB (measured in tests/test_run_store.py)."""
WEIGHT_STRIDE = 10
TAIL_BYTES = 1 << 16
"""How much of a log's end :meth:`RunLog.ends` reads for its latest event."""

EVENT_CLASSES: dict[str, type[Event]] = {
    c.__name__: c
    for c in (RunStarted, EpochEnded, RunFinished, FoldFinished, CrossValidated, SystemSampled)
}
_TEXT_FIELDS = frozenset(
    {
        "config",
        "message",
        "reason",
        "device",
        "device_name",
        "loss_formula",
        "feature_names",
        "warnings",
    }
)
_THINNED = frozenset({"weights", "weights_original"})
"""EpochEnded fields :func:`thin` writes as null past ``FULL_WEIGHT_EPOCHS``."""
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _numbers(value: Any) -> Any:
    """Undo ``to_dict``'s strings for non-finite floats (in number fields only)."""
    if isinstance(value, str):
        return _NON_FINITE.get(value, value)
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def _fits(value: Any, hint: Any) -> bool:
    """Whether a value read from JSON has the type ``hint`` names (a float may be an int)."""
    if hint is Any:
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if hint is type(None):
        return value is None
    if isinstance(value, bool) or hint is bool:
        return hint is bool and isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float))
    if hint in (int, str):
        return isinstance(value, hint)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple)) and all(_fits(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            isinstance(k, str) and _fits(v, args[1]) for k, v in value.items()
        )
    return True


_HINTS: dict[str, dict[str, Any]] = {}


def _hints(cls: type[Event]) -> dict[str, Any]:
    """The field types of an event class (resolved once)."""
    if cls.__name__ not in _HINTS:
        _HINTS[cls.__name__] = typing.get_type_hints(cls)
    return _HINTS[cls.__name__]


def event_from_dict(data: dict[str, Any]) -> Event:
    """The event a JSON line holds: ``event_from_dict(e.to_dict())`` equals ``e``. A line that
    is not one (unknown type, missing or unknown field, a value of the wrong type such as
    ``"train_loss": "abc"``) raises ``ValueError`` naming the field."""
    if not isinstance(data, dict) or data.get("type") not in EVENT_CLASSES:
        kind = data.get("type") if isinstance(data, dict) else None
        raise ValueError(
            f"unknown event type {json.dumps(kind)[:30]}"
            if kind is not None
            else "not an event object"
        )
    cls = EVENT_CLASSES[data["type"]]
    hints = _hints(cls)
    kwargs = {k: (v if k in _TEXT_FIELDS else _numbers(v)) for k, v in data.items() if k != "type"}
    for key, value in kwargs.items():
        if key not in hints:
            raise ValueError(f"{data['type']} has no field '{key[:40]}'")
        hint = hints[key]
        if key == "data_shape":
            hint = list[int]
        if cls is EpochEnded and key in _THINNED and value is None:
            continue  # a thinned epoch (see thin): its weights are in a later event
        if not _fits(value, hint):
            raise ValueError(
                f"{data['type']}.{key} is {str(json.dumps(value))[:30]}, "
                f"not {str(hint).replace('typing.', '')[:40]}"
            )
    if "data_shape" in kwargs:
        kwargs["data_shape"] = tuple(kwargs["data_shape"])
    return cls(**kwargs)


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
        self.where = f"{run.name}/{LOG_NAME}"
        """The log as errors name it (run folder and file: fits one line)."""
        """(byte offset, lines before it) after the last read: a damaged line's number."""

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

    def read(self, offset: int = 0) -> tuple[list[Event], int]:
        """The events from byte ``offset``, and the offset to go on from.

        A last line without its newline is a write in progress (or torn by a kill): it is left
        for the next call. A complete line that is not an event is an error naming the line. No
        log yet reads as no events; a run directory that is gone is an error.
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
        events = []
        for i, line in enumerate(data[:end].split(b"\n")[:-1]):
            if not line.strip():
                continue
            try:
                events.append(event_from_dict(json.loads(line)))
            except (ValueError, TypeError, KeyError, RecursionError) as exc:
                raise RunError(
                    f"{self.where}: bad event line {self._line_number(offset) + i + 1} "
                    f"({str(exc)[:80]}): the log is damaged"
                ) from None
        before = self._known_lines(offset)  # counted only when known: a read from the middle
        self._lines_at = (  # of a long log (its curve summary's end) must not read all before
            offset + end,
            None if before is None else before + data[:end].count(b"\n"),
        )
        return events, offset + end

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
                event = event_from_dict(json.loads(raw))
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
        self.read()  # a damaged line anywhere but a torn last one: RunError naming it
        raw = self.path.read_bytes() if self.path.exists() else b""
        for line in raw[: raw.rfind(b"\n") + 1].split(b"\n")[:-1]:
            line += b"\n"
            if not line.strip():
                continue
            data = json.loads(line)
            if data.get("type") == "EpochEnded":
                if data.get("epoch", 0) > epoch:
                    break
                kept.append(line)
            elif data.get("type") == "RunFinished":
                break
        return b"".join(kept)


def read_events(run: Path, *, offset: int = 0) -> tuple[list[Event], int]:
    """:meth:`RunLog.read` of ``run``'s log."""
    return RunLog(run).read(offset)


def epochs_until(run: Path, epoch: int) -> bytes:
    """:meth:`RunLog.epochs_until` of ``run``'s log."""
    return RunLog(run).epochs_until(epoch)
