"""Numeric tables from CSV or Parquet files, with every bad cell named by file, line and column.

One reader serves training data (``data.source: csv``/``parquet``) and ``predict``. The fast path
is pyarrow's multi-threaded columnar reader, parsing straight to float32 so that peak memory
stays near the final tensor's size. Anything it rejects or that fails a check afterwards
(empty, non-finite or out-of-range cells) is diagnosed by :mod:`engine.data.table_scan`, a slow
exact scan run only in that error path, so the message always names the exact file line and
column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from engine.config import ConfigError
from engine.data.file_check import require_regular
from engine.data.table_scan import (
    FLOAT32_MAX,
    Stopped,
    check_header,
    exact_scan,
    read_header,
    source_error,
)

if TYPE_CHECKING:  # pyarrow and numpy load only when a file is read
    import pyarrow as pa
    from numpy.typing import NDArray

__all__ = [
    "FLOAT32_MAX",
    "Stopped",
    "Table",
    "is_parquet",
    "pick_columns",
    "read_columns",
    "read_table",
]

StopFlag = Callable[[], bool]
"""Called between blocks; True means stop (raise :class:`Stopped`)."""
BLOCK_BYTES = 1 << 20
"""Bytes of CSV text parsed per batch. pyarrow keeps several blocks in flight, so this sets its
memory: 4 MB blocks peaked at ~145 MB of arrow buffers on a 180 MB file (3.3x the tensor), 1 MB
blocks at ~37 MB (1.9x) and parse as fast; a stop is seen within a few ms."""


@dataclass
class Table:
    """``values`` float32 [n_rows, k], its columns in the order of ``columns``."""

    values: Tensor
    columns: list[str]


def is_parquet(path: Path) -> bool:
    """Parquet by suffix (``.parquet``, ``.pq``); anything else is read as CSV."""
    return path.suffix.lower() in (".parquet", ".pq")


def read_table(
    path: Path, columns: list[str], *, optional: Sequence[str] = (), stop: StopFlag | None = None
) -> Table:
    """The required ``columns`` then those of ``optional`` present in the file.

    A missing required column or a column that is in neither list is a :class:`ConfigError`
    naming the file (and the file's columns); so is every bad cell (file, line, column).
    """
    path = Path(path)
    header = file_columns(path, key=None)
    names = pick_columns(path, header, columns, optional)
    return Table(read_columns(path, header, names, stop=stop), names)


def pick_columns(
    path: Path, header: list[str], columns: Sequence[str], optional: Sequence[str] = ()
) -> list[str]:
    """``columns`` then those of ``optional`` in ``header``; a missing required column or one in
    neither list is a :class:`ConfigError` naming the file (for :func:`read_table`, ``predict``)."""
    for name in columns:
        if name not in header:
            raise ConfigError(
                f"{path}: column '{name}' not found; columns: {', '.join(header)}",
                key=None,
                reason="column not found",
                where=str(path),
            )
    wanted = set(columns) | set(optional)
    for name in header:
        if name not in wanted:
            raise ConfigError(
                f"{path}: unexpected column '{name}' (expected {', '.join([*columns, *optional])})",
                reason="unexpected column",
                where=str(path),
            )
    return list(columns) + [c for c in optional if c in header and c not in columns]


def arrow_without_signal_handlers() -> None:
    """pyarrow swaps in its own SIGINT handler around each read (raising ``KeyboardInterrupt``
    mid-read, or killing the process by SIGINT when the signal lands as it swaps back): ours
    (:class:`engine.core.signals.StopOnSignals`) must see the first signal, so turn it off."""
    import pyarrow as pa

    pa.enable_signal_handlers(False)


def file_columns(
    path: Path, key: str | None = "data.path", *, parquet: bool | None = None
) -> list[str]:
    """The column names of a CSV header or a Parquet schema (checked: named, no duplicates).

    ``parquet`` None: decided by the file's suffix. A FIFO, device or directory is refused
    first (:mod:`engine.data.file_check`), before anything opens it.
    """
    require_regular(path, key)
    if is_parquet(path) if parquet is None else parquet:
        import pyarrow.parquet as pq

        try:
            names = list(pq.read_schema(path).names)
        except FileNotFoundError:
            raise source_error(path, key, "not found") from None
        except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
            raise source_error(path, key, f"cannot read: {exc}") from None
        check_header(path, names)
        return names
    return read_header(path, key)


def read_columns(
    path: Path,
    header: list[str],
    names: list[str],
    *,
    stop: StopFlag | None = None,
    parquet: bool | None = None,
) -> Tensor:
    """Columns ``names`` of a checked file as float32 [n_rows, len(names)]."""
    if is_parquet(path) if parquet is None else parquet:
        return _read_parquet(path, names, stop)
    return _read_csv(path, header, names, stop)


class _Doubt(Exception):
    """The fast reader met a cell it cannot vouch for: let the exact scan decide."""


def _read_parquet(path: Path, names: list[str], stop: StopFlag | None) -> Tensor:
    """Row groups one at a time into a preallocated tensor; non-numeric columns refused.

    Parquet has no text lines, so a bad cell is named by its 1-based data row.
    """
    with parquet_file(path, names) as f:
        out = fill_row_groups(f, path, names, range(f.num_row_groups), 0, stop)
    if len(out) == 0:
        raise ConfigError(
            f"{path}: no data rows", key="data.path", reason="no rows", where=str(path)
        )
    return out


def parquet_file(path: Path, names: list[str]) -> Any:
    """The open ``pyarrow.parquet.ParquetFile`` (a context manager), its ``names`` checked
    numeric."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_without_signal_handlers()
    try:
        f = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        raise source_error(path, "data.path", f"cannot read: {exc}") from None
    for name in names:
        kind = f.schema_arrow.field(name).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            f.close()
            raise ConfigError(
                f"{path}: column '{name}' has type {kind} (expected numbers)",
                key="data.path",
                reason="not numeric",
                where=str(path),
            )
    return f


def fill_row_groups(
    f: Any,
    path: Path,
    names: list[str],
    groups: Sequence[int],
    first_row: int,
    stop: StopFlag | None,
) -> Tensor:
    """Row groups ``groups`` (consecutive) of the open file ``f`` as float32; ``first_row`` is
    the 0-based file row of their first row, so a bad cell names its row in the whole file."""
    rows = sum(f.metadata.row_group(g).num_rows for g in groups)
    out = torch.empty(rows, len(names))
    dest, row = out.numpy(), 0  # numpy casts each column into place
    for g in groups:
        _check_stop(stop)
        group = f.read_row_group(g, columns=names)
        for j, name in enumerate(names):
            col = group.column(name)
            if col.null_count:
                _parquet_cell(path, first_row + row + _first(col.is_null()), name, "is empty")

            def bad(i: int, why: str, at: int = first_row + row, column: str = name) -> None:
                _parquet_cell(path, at + i, column, why)

            dest[row : row + len(col), j] = _checked(col, bad)
        row += group.num_rows
    return out


def _parquet_cell(path: Path, index: int, column: str, reason: str) -> None:
    raise ConfigError(
        f"{path}: row {index + 1}: column '{column}' {reason}",
        key="data.path",
        reason=reason,
        where=str(path),
    )


def _checked(col: pa.Array | pa.ChunkedArray, bad: Callable[[int, str], None]) -> NDArray[Any]:
    """An arrow column as numpy (no copy where possible); ``bad(i, reason)`` at the first
    non-finite or too large value."""
    import numpy as np

    a = np.asarray(col.to_numpy(zero_copy_only=False))
    if a.dtype.kind == "f":
        finite = np.isfinite(a)
        if not finite.all():
            bad(int(np.flatnonzero(~finite)[0]), "is not a finite number")
        big = np.abs(a) >= FLOAT32_MAX if a.dtype == np.float32 else np.abs(a) > FLOAT32_MAX
        if big.any():
            bad(int(np.flatnonzero(big)[0]), "is too large (beyond ±3.4e38, the float32 range)")
    return a


def _read_csv(path: Path, header: list[str], names: list[str], stop: StopFlag | None) -> Tensor:
    """pyarrow's streaming reader, parsing straight to float32 batches of ~1 MB of text.

    Whatever it refuses (a non-number, a ragged row, bad UTF-8), and any cell it reads as
    NaN, ±inf or ±float32 max (a larger number rounded down), goes to :func:`exact_scan`,
    which raises the exact message (or, if the grammar accepts the file after all, returns
    the values).
    """
    want, options = csv_options(header, names)
    try:
        out = parse_csv(path, options, want, _max_records(path), stop)
    except OSError as exc:
        raise source_error(path, "data.path", f"cannot read: {exc}") from None
    if out is None:
        return exact_scan(path, header, names, stop=stop)
    if len(out) == 0:
        raise ConfigError(
            f"{path}: no data rows after the header",
            key="data.path",
            reason="no rows",
            where=str(path),
        )
    return out


def parse_csv(
    source: Any, options: dict[str, Any], want: list[str], most: int, stop: StopFlag | None
) -> Tensor | None:
    """The fast reader over ``source`` (a path or an arrow stream) with :func:`csv_options`
    into one tensor of at most ``most`` rows; None when it doubts a cell (the caller's exact
    scan then names it). An ``OSError`` is the caller's to word."""
    import pyarrow as pa

    def doubt(i: int, why: str) -> None:
        raise _Doubt(why)

    out = torch.empty(most, len(want))  # pages are touched only as filled
    dest, row = out.numpy(), 0
    reader = None
    try:
        reader = open_csv(source, options)
        for batch in reader:
            _check_stop(stop)
            if row + batch.num_rows > len(out):
                raise _Doubt("more records than line breaks")
            for j, c in enumerate(want):
                dest[row : row + batch.num_rows, j] = _checked(batch.column(c), doubt)
            row += batch.num_rows
    except (pa.ArrowInvalid, _Doubt, UnicodeDecodeError):
        return None
    finally:
        if reader is not None:  # its threads read ahead: stop them before anything else runs
            reader.close()
    return out[:row]


def csv_options(
    header: list[str], names: list[str], block_bytes: int | None = None
) -> tuple[list[str], dict[str, Any]]:
    """The arrow column names of ``names`` and the reader's options: blocks of ``block_bytes``
    (default :data:`BLOCK_BYTES`), the header skipped, only the wanted columns, each parsed
    straight to float32, no cell read as null."""
    import pyarrow as pa
    from pyarrow import csv as pcsv

    arrow_without_signal_handlers()
    read = pcsv.ReadOptions(
        block_size=block_bytes or BLOCK_BYTES,
        encoding="utf8",
        skip_rows=1,
        column_names=[f"c{i}" for i in range(len(header))],
    )
    want = [f"c{header.index(n)}" for n in names]
    convert = pcsv.ConvertOptions(
        include_columns=want,
        column_types={c: pa.float32() for c in want},
        null_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    parse = pcsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=True)
    return want, {"read_options": read, "parse_options": parse, "convert_options": convert}


def open_csv(source: Any, options: dict[str, Any]) -> Any:
    """pyarrow's streaming CSV reader (``pyarrow.csv.open_csv``) with :func:`csv_options`, over
    a path or an arrow input stream."""
    from pyarrow import csv as pcsv

    return pcsv.open_csv(source, **options)


def _max_records(path: Path, block: int = 1 << 24) -> int:
    """An upper bound on the data rows: line breaks + 1 (about 0.1 s per 200 MB).

    Knowing it up front lets batches go straight into one tensor, with no second copy.
    """
    buf = bytearray(block)
    lf = cr = 0
    with path.open("rb") as fh:
        while n := fh.readinto(buf):
            lf += buf.count(b"\n", 0, n)
            cr += buf.count(b"\r", 0, n)
    return max(lf, cr) + 1


def _first(mask: pa.Array | pa.ChunkedArray) -> int:
    import numpy as np

    return int(np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False)))[0])


def _check_stop(stop: StopFlag | None) -> None:
    if stop is not None and stop():
        raise Stopped("stopped while reading data")
