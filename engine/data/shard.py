"""Sharded reading: under N data-parallel ranks each rank reads and parses only its part of a file.

A CSV's data lines are cut into N byte ranges ``[start, end)`` after the header; a line belongs
to the rank whose range holds its first byte (a rank whose range starts mid-line skips to the
next newline, and reads on past ``end`` to finish its last line). A Parquet file's row groups
are dealt out by their first row (the footer gives every group's row count, so each rank knows
the file row of its rows). Each rank checks its own cells; the line (CSV) or row (Parquet) a bad
cell is named by is its place in the whole file: the ranks exchange how many lines they read
first. The lowest rank with an error is the first bad cell in file order, the one a single
process names, and every rank raises it (no rank is left waiting in a collective).

:func:`read_shard_local` hands each rank its own rows and their place in the file: a
full-batch regression keeps only those (:mod:`engine.data.rank_rows`), so a rank holds about
n/N rows. :func:`read_shard` gathers the parts instead, so every rank holds the whole table, in
file order, as a single process reads it (minibatch, classification and outlier handling need
it): the split, outlier handling, standardisation and the optimum that follow are then exactly
the single process's (bit for bit), whatever N is.

A CSV with a double quote anywhere, or a carriage return that is not part of CRLF, is read whole
by every rank, with a note: a quoted cell may hold a newline, so a byte range could start inside
a record (each rank proves its own range has none: no extra read). The collectives come from the
caller (:class:`Shard`, built by :mod:`engine.training.distributed`): this package does not
import ``torch.distributed``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from engine.config import ConfigError
from engine.data.table_scan import Stopped, scan_text, source_error
from engine.data.tables import csv_options, fill_row_groups, parquet_file, parse_csv

TRACE_ENV = "LINREG_TUI_SHARD_TRACE"
"""A folder: each rank writes ``shard-rank<R>.json`` there, saying which bytes (CSV) or row
groups (Parquet) of the file it read, and ``rows-rank<R>.json``, the rows of each split it kept
(:mod:`engine.data.rank_rows`). For tests and benchmarks."""
WHOLE_NOTE = (
    "data: {path} has quoted cells or bare carriage returns (a record may span lines), so "
    "every rank read the whole file"
)


@dataclass(frozen=True)
class Shard:
    """This process's place among ``world`` ranks and the two collectives sharded reading needs.

    ``gather(obj)``: every rank's ``obj`` in rank order (``all_gather_object``).
    ``gather_rows(t, counts)``: every rank's float32 rows (``counts[r]`` rows from rank r),
    concatenated in rank order on the CPU.
    ``sum_(t)``: a CPU tensor summed over the ranks (``all_reduce``), returned; None where no
    process group gives one (rank-local rows then need it).
    """

    rank: int
    world: int
    gather: Callable[[Any], list[Any]]
    gather_rows: Callable[[Tensor, list[int]], Tensor]
    sum_: Callable[[Tensor], Tensor] | None = None


@dataclass(frozen=True)
class LocalRows:
    """This rank's rows of a file: ``values`` float32, the file rows ``[first, first + len)``
    of ``total`` data rows in all."""

    values: Tensor
    first: int
    total: int
    counts: tuple[int, ...] = ()
    """Every rank's number of rows, in rank order."""


def part(n: int, rank: int, world: int) -> tuple[int, int]:
    """``[lo, hi)`` of ``n`` for ``rank`` of ``world``: contiguous, near-equal (the first
    ``n mod world`` ranks one longer)."""
    q, r = divmod(n, world)
    lo = rank * q + min(rank, r)
    return lo, lo + q + (1 if rank < r else 0)


def byte_range(data_start: int, size: int, rank: int, world: int) -> tuple[int, int]:
    """The bytes ``[start, end)`` of the data lines ``[data_start, size)`` whose lines ``rank``
    owns (those whose first byte lies in it)."""
    lo, hi = part(size - data_start, rank, world)
    return data_start + lo, data_start + hi


def row_groups(counts: list[int], rank: int, world: int) -> tuple[list[int], int]:
    """The row groups (of ``counts`` rows each) ``rank`` reads, and the file row of the first:
    a group goes to the rank whose near-equal share of the rows holds the group's first row."""
    lo, hi = part(sum(counts), rank, world)
    groups, first, row = [], None, 0
    for g, c in enumerate(counts):
        if lo <= row < hi and c:
            groups.append(g)
            first = row if first is None else first
        row += c
    return groups, first if first is not None else 0


def read_shard(
    path: Path,
    header: list[str],
    names: list[str],
    shard: Shard,
    *,
    parquet: bool,
    stop: Callable[[], bool] | None = None,
) -> Tensor | None:
    """Columns ``names`` of the whole checked file as float32, each rank having read its share
    (see the module's docstring); None when a CSV must be read whole (:data:`WHOLE_NOTE`).

    Every rank calls this with the same arguments and gets the same answer or error."""
    mine = read_shard_local(path, header, names, shard, parquet=parquet, stop=stop)
    if mine is None:
        return None
    return shard.gather_rows(mine.values.contiguous(), list(mine.counts))


def read_shard_local(
    path: Path,
    header: list[str],
    names: list[str],
    shard: Shard,
    *,
    parquet: bool,
    stop: Callable[[], bool] | None = None,
) -> LocalRows | None:
    """:func:`read_shard` without the gather: this rank's rows and their place in the file."""
    if parquet:
        return _parquet(path, names, shard, stop)
    return _csv(path, header, names, shard, stop)


def _parquet(
    path: Path, names: list[str], shard: Shard, stop: Callable[[], bool] | None
) -> LocalRows:
    error: BaseException | None = None
    local = torch.empty(0, len(names))
    with parquet_file(path, names) as f:
        counts = [f.metadata.row_group(g).num_rows for g in range(f.num_row_groups)]
        groups, first = row_groups(counts, shard.rank, shard.world)
        _trace(shard, {"path": str(path), "row_groups": groups, "first_row": first})
        try:
            local = fill_row_groups(f, path, names, groups, first, stop)
        except (ConfigError, Stopped) as exc:
            error = exc
        except (OSError, ValueError) as exc:  # a damaged group (pyarrow.ArrowInvalid)
            error = source_error(path, "data.path", f"cannot read: {exc}")
    return _agree(path, local, error, shard, "no data rows")


def _csv(
    path: Path, header: list[str], names: list[str], shard: Shard, stop: Callable[[], bool] | None
) -> LocalRows | None:
    error: BaseException | None = None
    data, whole = b"", False
    try:
        data, whole = _my_lines(path, shard)
    except OSError as exc:
        error = source_error(path, "data.path", f"cannot read: {exc}")
    lines = data.count(b"\n")
    told = shard.gather((whole, lines, error))
    _raise_first([e for _, _, e in told])
    if any(w for w, _, _ in told):
        return None
    first_line = 2 + sum(n for _, n, _ in told[: shard.rank])  # the header is line 1
    local = torch.empty(0, len(names))
    try:
        local = _parse(data, path, header, names, first_line, stop)
    except (ConfigError, Stopped) as exc:
        error = exc
    del data
    return _agree(path, local, error, shard, "no data rows after the header")


def _my_lines(path: Path, shard: Shard) -> tuple[bytes, bool]:
    """This rank's lines of the CSV (bytes), and whether the file must be read whole instead
    (a quote or bare CR in the header or these lines)."""
    with path.open("rb") as fh:
        head = fh.readline()
        data_start, size = fh.tell(), os.fstat(fh.fileno()).st_size
        start, end = byte_range(data_start, size, shard.rank, shard.world)
        first = start
        if start > data_start:  # does a line start at `start`? else skip to the next one
            fh.seek(start - 1)
            first = start - 1
            if fh.read(1) != b"\n":
                fh.readline()
            start = fh.tell()
        data = b""
        if start < end:
            fh.seek(end - 1)
            if fh.read(1) != b"\n":  # finish the last line, which starts before `end`
                fh.readline()
            stop = fh.tell()
            fh.seek(start)
            data = fh.read(stop - start)
        _trace(
            shard,
            {
                "path": str(path),
                "range": [*byte_range(data_start, size, shard.rank, shard.world)],
                "bytes": [min(first, start), max(fh.tell(), start)],
            },
        )
    whole = _unsafe(head) or _unsafe(data)
    return data, whole


def _unsafe(chunk: bytes) -> bool:
    """A double quote (a cell may hold a newline) or a CR outside CRLF (a line break the byte
    ranges do not cut at)."""
    return b'"' in chunk or chunk.count(b"\r") != chunk.count(b"\r\n")


def _parse(
    data: bytes,
    path: Path,
    header: list[str],
    names: list[str],
    first_line: int,
    stop: Callable[[], bool] | None,
) -> Tensor:
    """These lines as float32: the fast reader, else the exact scan (numbered in the file)."""
    if not data or data.isspace():
        return torch.empty(0, len(names))
    import pyarrow as pa

    want, options = csv_options(header, names)
    options["read_options"].skip_rows = 0
    out = parse_csv(pa.BufferReader(data), options, want, data.count(b"\n") + 1, stop)
    if out is not None:
        return out
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise source_error(path, "data.path", f"cannot read: {exc}") from None
    return scan_text(text, path, header, names, first_line, stop=stop)


def _agree(
    path: Path, local: Tensor, error: BaseException | None, shard: Shard, empty: str
) -> LocalRows:
    """This rank's rows and their place, once every rank's error (the first one) is raised."""
    told = shard.gather((int(local.shape[0]), error))
    _raise_first([e for _, e in told])
    counts = [n for n, _ in told]
    if sum(counts) == 0:
        raise ConfigError(f"{path}: {empty}", key="data.path", reason="no rows", where=str(path))
    return LocalRows(local, sum(counts[: shard.rank]), sum(counts), tuple(counts))


def _raise_first(errors: list[BaseException | None]) -> None:
    """Raise the lowest rank's error (a stop first: a stopped rank's peers stop too)."""
    for e in errors:
        if isinstance(e, Stopped):
            raise Stopped(str(e))
    for e in errors:
        if e is not None:
            raise e


def _trace(shard: Shard, what: dict[str, Any], name: str = "shard") -> None:
    folder = os.environ.get(TRACE_ENV)
    if folder:
        out = Path(folder) / f"{name}-rank{shard.rank}.json"
        out.write_text(json.dumps({"rank": shard.rank, "world": shard.world, **what}))


def trace_rows(shard: Shard, what: dict[str, Any]) -> None:
    """With :data:`TRACE_ENV` set, write what this rank kept to ``rows-rank<R>.json``."""
    _trace(shard, what, "rows")
