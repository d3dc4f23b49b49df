"""``curve.bin``: a run's curves summarised beside its log, so a long run opens at once.

Reading a 1,000,000-epoch ``events.jsonl`` means parsing a million JSON lines (seconds) just to
draw a plot 80 cells wide. So the run's writer also keeps a summary: one fixed-size record of
float64s per :data:`BUCKET` epochs, holding the epochs it covers, the byte offsets of its lines
in the log (an index: any epoch's own line is one seek away) and, for each series (losses,
metrics, learning rate, gradient norm, the first :data:`MAX_WEIGHTS` weights), the ``min``,
``max``, ``last``, ``sum`` and count of its finite values. A reader reads O(epochs / BUCKET)
numbers with one ``array.frombytes`` and only the few epochs after the last whole bucket from
the log, then follows the log. The file starts with a :data:`HEADER_BYTES` JSON header (the
series' names, a hash of the run's ``RunStarted`` line); records are appended and flushed
whole, so a torn last record is simply not read yet.

A run written before this file existed, or a summary that no longer matches its log (a resume
rewrote the log), is rebuilt from the log (:mod:`engine.runs.curve_read`). Torch-free.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from array import array
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from engine.core.events import EpochEnded, Event, RunStarted

CURVE_NAME = "curve.bin"
BUCKET = 16
"""Epochs per record: 1,000,000 epochs are 62,500 records (a few MB), and a zoom down to
single epochs reads at most this many lines per record from the log."""
HEADER_BYTES = 1024
MAX_WEIGHTS = 6
"""Weights summarised (``w1``..): a plot of more trajectories is unreadable at 80 columns."""
STATS = ("min", "max", "last", "sum", "n")
HEAD = ("first", "last", "start", "end")
"""Each record begins with its first and last epoch and the byte offsets where the first
epoch's line starts and the last one's ends."""
VERSION = 1


def started_hash(line: bytes) -> str:
    """What ties a summary to its log: a hash of the log's ``RunStarted`` line (a resume writes
    a new one)."""
    return hashlib.sha1(line.rstrip(b"\n")).hexdigest()[:16]


def epoch_values(data: Mapping[str, Any], fields: list[str]) -> list[float | None]:
    """The value of each series in an ``EpochEnded`` as logged (its JSON mapping)."""
    metrics = data.get("metrics") or {}
    weights = data.get("weights")
    out: list[float | None] = []
    for name in fields:
        value: Any
        if name in ("train_loss", "val_loss", "lr", "gap", "grad_norm"):
            value = data.get(name)
        elif name.startswith("w") and name[1:].isdigit():
            i = int(name[1:]) - 1
            value = weights[i] if isinstance(weights, list) and i < len(weights) else None
        else:
            split, _, metric = name.partition(".")
            value = (metrics.get(split) or {}).get(metric)
        out.append(float(value) if isinstance(value, (int, float)) else None)
    return out


def fields_for(data: Mapping[str, Any]) -> list[str]:
    """The series summarised for a run, from its first epoch as logged: the losses, the
    learning rate, the gradient norm (when the run logs one: a log from before
    ``EpochEnded.grad_norm`` has none, and its summary's header lists no such series, so an
    old ``curve.bin`` still matches its old log), each metric of each split, the first
    weights."""
    fields = ["train_loss", "val_loss", "lr"]
    if data.get("grad_norm") is not None:
        fields.append("grad_norm")
    for split, metrics in sorted((data.get("metrics") or {}).items()):
        if isinstance(metrics, Mapping):
            fields += [f"{split}.{name}" for name in sorted(metrics)]
    weights = data.get("weights")
    n = len(weights) if isinstance(weights, list) else 0
    fields += [f"w{i + 1}" for i in range(min(n, MAX_WEIGHTS))]
    return fields


def record_size(fields: list[str]) -> int:
    """Float64s per record."""
    return len(HEAD) + len(STATS) * len(fields)


class Bucket:
    """The record being filled: the epochs of one bucket, folded in as they come."""

    def __init__(self, n_fields: int) -> None:
        self.n_fields = n_fields
        self.count = 0
        self.head = [0.0, 0.0, 0.0, 0.0]
        self.stats = [[math.inf, -math.inf, math.nan, 0.0, 0.0] for _ in range(n_fields)]

    def add(self, epoch: int, values: list[float | None], start: int, end: int) -> None:
        if self.count == 0:
            self.head[0], self.head[2] = float(epoch), float(start)
        self.head[1], self.head[3] = float(epoch), float(end)
        self.count += 1
        for s, v in zip(self.stats, values):
            if v is None or not math.isfinite(v):
                continue
            if v < s[0]:
                s[0] = v
            if v > s[1]:
                s[1] = v
            s[2] = v
            s[3] += v
            s[4] += 1.0

    def record(self) -> array[float]:
        out = array("d", self.head)
        for s in self.stats:
            out.extend(s)
        return out


def header_bytes(fields: list[str], started: str) -> bytes:
    """The file's header: JSON padded to :data:`HEADER_BYTES` (ending in a newline)."""
    text = json.dumps({"version": VERSION, "bucket": BUCKET, "fields": fields, "started": started})
    raw = text.encode()
    if len(raw) >= HEADER_BYTES:
        raise ValueError("curve header too long")
    return raw + b" " * (HEADER_BYTES - len(raw) - 1) + b"\n"


def parse_header(raw: bytes) -> dict[str, Any] | None:
    """The header's mapping, or None if it is not a header of this version."""
    try:
        head = json.loads(raw[:HEADER_BYTES])
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(head, dict) or head.get("version") != VERSION:
        return None
    if head.get("bucket") != BUCKET or not isinstance(head.get("fields"), list):
        return None
    return head


class CurveBuilder:
    """Folds log lines (as JSON mappings, with their byte spans) into records. The writer feeds
    it each epoch as it is logged; a rebuild feeds it the whole log."""

    def __init__(self) -> None:
        self.started = ""
        self.fields: list[str] = []
        self.bucket: Bucket | None = None
        self.done: list[array[float]] = []
        """Records completed since :meth:`take` was last called."""

    def start(self, line: bytes) -> None:
        """A ``RunStarted`` line: a new history begins (a resume's log starts with one)."""
        self.started = started_hash(line)
        self.fields, self.bucket, self.done = [], None, []

    def epoch(self, data: Mapping[str, Any], start: int, end: int) -> None:
        if not self.fields:
            self.fields = fields_for(data)
        if self.bucket is None:
            self.bucket = Bucket(len(self.fields))
        epoch = data.get("epoch")
        self.bucket.add(
            int(epoch) if isinstance(epoch, int) else 0, epoch_values(data, self.fields), start, end
        )
        if self.bucket.count == BUCKET:
            self.done.append(self.bucket.record())
            self.bucket = None

    def take(self) -> list[array[float]]:
        done, self.done = self.done, []
        return done


class CurveWriter:
    """The summary of the run directory ``run``, kept by its writer as the log grows."""

    def __init__(self, run: Path) -> None:
        self.path = run / CURVE_NAME
        self._out: BinaryIO | None = None
        self._builder = CurveBuilder()
        self._header_written = False

    def open(self, log_path: Path) -> None:
        """Start the summary over from what the log already holds (a resume keeps its epochs)."""
        self.close()
        self._builder = CurveBuilder()
        self._header_written = False
        with contextlib.suppress(FileNotFoundError), open(log_path, "rb") as fh:
            offset = 0
            for line in fh:
                if not line.endswith(b"\n"):
                    break
                self.line(line, offset, offset + len(line))
                offset += len(line)

    def __call__(self, event: Event, line: bytes, start: int) -> None:
        """Fold in one logged event (``line`` as written, from byte ``start``)."""
        if isinstance(event, (RunStarted, EpochEnded)):
            self.line(line, start, start + len(line))

    def line(self, line: bytes, start: int, end: int) -> None:
        if line.startswith(b'{"type":"RunStarted"'):
            self._builder.start(line)
            self._header_written = False
            return
        if not line.startswith(b'{"type":"EpochEnded"'):
            return
        try:
            data = json.loads(line)
        except ValueError:
            return
        self._builder.epoch(data, start, end)
        done = self._builder.take()
        if done:
            self._write(done)

    def _write(self, records: list[array[float]]) -> None:
        """Append whole records. The summary is an index: if it cannot be written (a full
        disk, say), it is dropped, readers rebuild it from the log, and the run goes on."""
        try:
            if not self._header_written:
                self.close()
                self._out = open(self.path, "wb")  # noqa: SIM115 - kept open for the appends
                self._out.write(header_bytes(self._builder.fields, self._builder.started))
                self._header_written = True
            if self._out is None:
                return
            self._out.write(b"".join(r.tobytes() for r in records))
            self._out.flush()
        except (OSError, ValueError):
            self.close()
            self._header_written = True  # no more appends to a summary that is gone
            with contextlib.suppress(OSError):
                self.path.unlink()

    def close(self) -> None:
        if self._out is not None:
            with contextlib.suppress(OSError):
                self._out.close()
            self._out = None
