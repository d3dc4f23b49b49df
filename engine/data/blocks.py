"""A table as a stream of float32 blocks, so memory stays near one block whatever the file's size.

``predict`` reads this way: each ~1 MB block of CSV text (pyarrow's streaming reader,
``pyarrow.csv.open_csv``) becomes one float32 tensor, is predicted and written, and is dropped
before the next. The checks are the whole-file reader's (:mod:`engine.data.tables`): a cell the
fast reader doubts sends the file to the exact scan, which raises the message naming the line and
column (or, if the cell is good after all, gives the values, of which the rows not yet yielded
follow). A Parquet file is read whole (one block).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import Tensor

from engine.config import ConfigError
from engine.data.table_scan import exact_scan, source_error
from engine.data.tables import (
    _check_stop,
    _checked,
    _Doubt,
    csv_options,
    is_parquet,
    open_csv,
    read_columns,
)

STREAM_BLOCK_BYTES = 256 << 10
"""CSV text per block. pyarrow's reader holds ~40 blocks in flight (its pool peaked at 40 MB
with 1 MB blocks, 10 MB with 256 kB, on a 111 MB file), so small blocks keep memory flat; each
block is still ~2,300 rows of 10 numbers, plenty to amortise the per-block work."""


def table_blocks(
    path: Path, header: list[str], names: list[str], *, stop: Callable[[], bool] | None = None
) -> Iterator[Tensor]:
    """Columns ``names`` of a checked file, as float32 blocks ``[rows, len(names)]`` in file
    order. Bad cells raise :class:`ConfigError` (possibly after earlier blocks were yielded)."""
    if is_parquet(path):
        yield read_columns(path, header, names, stop=stop, parquet=True)
        return
    yield from _csv_blocks(path, header, names, stop)


def _csv_blocks(
    path: Path, header: list[str], names: list[str], stop: Callable[[], bool] | None
) -> Iterator[Tensor]:
    import pyarrow as pa

    want, options = csv_options(header, names, STREAM_BLOCK_BYTES)

    def doubt(i: int, why: str) -> None:
        raise _Doubt(why)

    rows, doubted, reader = 0, False, None
    try:
        reader = open_csv(path, options)
        for batch in reader:
            _check_stop(stop)
            if batch.num_rows == 0:
                continue
            block = torch.empty(batch.num_rows, len(names))
            dest = block.numpy()
            for j, c in enumerate(want):
                dest[:, j] = _checked(batch.column(c), doubt)
            yield block
            rows += batch.num_rows
    except (pa.ArrowInvalid, _Doubt, UnicodeDecodeError):
        doubted = True
    except OSError as exc:
        raise source_error(path, None, f"cannot read: {exc}") from None
    finally:
        if reader is not None:
            reader.close()
    if doubted:  # raises the exact message, or vouches for the file after all
        rest = exact_scan(path, header, names, stop=stop)[rows:]
        if len(rest):
            yield rest
        return
    if rows == 0:
        raise ConfigError(
            f"{path}: no data rows after the header", reason="no rows", where=str(path)
        )
