"""The exact, slow CSV scan: the reference for what a good cell is and where a bad one sits.

The fast columnar reader (:mod:`engine.data.tables`) hands every file it has any doubt about to
:func:`exact_scan`, which walks the file with Python's ``csv`` module so that a message names
the true file line (header = line 1; blank lines, CRLF, a BOM and quoted cells, even quoted
newlines, counted as a text editor counts them) and the column by name.
"""

from __future__ import annotations

import csv
import io
import re
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

import torch
from torch import Tensor

from engine.config import ConfigError
from engine.config.yaml_io import short_repr

FLOAT32_MAX = 3.4028234663852886e38
"""Largest finite float32: tensors here are float32, so a larger cell would become inf."""
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
"""A plain decimal number. ``float()`` also takes ``1_000``, non-ASCII digits and ``nan``."""
STOP_EVERY_ROWS = 2_000
"""Rows scanned between two looks at the stop flag (well under 0.1 s)."""


class Stopped(Exception):
    """Loading or generating data was stopped by the user (Ctrl-C, SIGTERM, SIGHUP)."""


def source_error(path: Path, key: str | None, problem: str) -> ConfigError:
    """``data.path: CSV file not found: …`` (or without the key, for ``predict``)."""
    kind = "Parquet" if path.suffix.lower() in (".parquet", ".pq") else "CSV"
    prefix = f"{key}: " if key else ""
    if problem == "not found":
        return ConfigError(
            f"{prefix}{kind} file not found: {path}",
            key=key,
            reason="file not found",
            where=str(path),
        )
    return ConfigError(
        f"{prefix}{problem.replace('cannot read:', f'cannot read {path}:')}",
        key=key,
        reason="cannot read",
        where=str(path),
    )


def _open(path: Path, key: str | None) -> TextIO:
    try:
        return path.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise source_error(path, key, "not found") from None
    except OSError as exc:
        raise source_error(path, key, f"cannot read: {exc}") from None


def read_header(path: Path, key: str | None = "data.path") -> list[str]:
    """The checked header row of a CSV: every column named, no name twice."""
    with _open(path, key) as fh:
        try:
            first = next(csv.reader(fh), None)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise source_error(path, key, f"cannot read: {exc}") from None
    if first is None:
        raise ConfigError(
            f"{path}: the CSV is empty (expected a header row)",
            key=key,
            reason="empty file",
            where=str(path),
        )
    header = [h.strip() for h in first]
    check_header(path, header)
    return header


def check_header(path: Path, header: list[str]) -> None:
    """Refuse an unnamed or repeated column name (line 1 of the file)."""
    seen: set[str] = set()
    for i, h in enumerate(header):
        if not h:
            raise ConfigError(
                f"{path}:1: column {i + 1} of the header has no name",
                key="data.path",
                reason="unnamed column",
                where=str(path),
                line=1,
            )
        if h in seen:
            raise ConfigError(
                f"{path}:1: column name '{h}' appears twice in the header",
                key="data.path",
                reason="duplicate column",
                where=str(path),
                line=1,
            )
        seen.add(h)


def exact_scan(
    path: Path, header: list[str], names: list[str], *, stop: Callable[[], bool] | None = None
) -> Tensor:
    """Columns ``names`` as float32 [n, k], raising a ConfigError at the first bad cell or row.

    Blank lines (or rows of blank cells) are skipped. Values are kept as float32 in an
    ``array`` (4 bytes each), not as Python floats.
    """
    try:
        with _open(path, "data.path") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            values = _scan(reader, path, header, names, reader.line_num, stop)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise source_error(path, "data.path", f"cannot read: {exc}") from None
    if not values:
        raise ConfigError(
            f"{path}: no data rows after the header",
            key="data.path",
            reason="no rows",
            where=str(path),
        )
    return torch.frombuffer(values, dtype=torch.float32).clone().view(-1, len(names))


def scan_text(
    text: str,
    path: Path,
    header: list[str],
    names: list[str],
    first_line: int,
    *,
    stop: Callable[[], bool] | None = None,
) -> Tensor:
    """:func:`exact_scan` of a piece of the file's data lines (a data-parallel rank's share,
    :mod:`engine.data.shard`) whose first line is file line ``first_line``: the same checks and
    messages, numbered as in the whole file. No rows is an empty ``[0, k]`` tensor."""
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        values = _scan(reader, path, header, names, first_line - 1, stop)
    except csv.Error as exc:
        raise source_error(path, "data.path", f"cannot read: {exc}") from None
    if not values:
        return torch.empty(0, len(names))
    return torch.frombuffer(values, dtype=torch.float32).clone().view(-1, len(names))


def _scan(
    reader: Iterator[list[str]],
    path: Path,
    header: list[str],
    names: list[str],
    before: int,
    stop: Callable[[], bool] | None,
) -> array[float]:
    """The records of ``reader`` (a ``csv.reader``) as float32 values, row after row; its
    ``line_num`` plus ``offset`` is the file line (``before``: the file line read last)."""
    cols = [header.index(c) for c in names]
    values = array("f")
    offset = before - getattr(reader, "line_num", 0)
    end = before
    for count, row in enumerate(reader):
        lineno, end = end + 1, getattr(reader, "line_num", 0) + offset  # where the record starts
        if count % STOP_EVERY_ROWS == 0 and stop is not None and stop():
            raise Stopped("stopped while reading data")
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise ConfigError(
                f"{path}:{lineno}: expected {len(header)} fields, got {len(row)}",
                key="data.path",
                reason="ragged row",
                where=str(path),
                line=lineno,
            )
        values.extend(cell_value(row[c], path, lineno, header[c]) for c in cols)
    return values


def cell_value(raw: str, path: Path, lineno: int, column: str) -> float:
    """One CSV cell as a float32-representable number, else a ConfigError naming the cell."""
    cell = raw.strip()
    if not cell:
        reason = "is empty (expected a number)"
    elif not _PLAIN_NUMBER.fullmatch(cell):
        finite = cell.lower().lstrip("+-") not in ("nan", "inf", "infinity")
        reason = "is not a number" if finite else "is not a finite number"
    elif abs(float(cell)) > FLOAT32_MAX:  # float("1e999") is inf, also caught here
        reason = "is too large (beyond ±3.4e38, the float32 range)"
    else:
        return float(cell)
    shown = f": {short_repr(cell)}" if cell else ""
    raise ConfigError(
        f"{path}:{lineno}: column '{column}'{shown} {reason}",
        key="data.path",
        reason=reason,
        where=str(path),
        line=lineno,
    )
