"""``predict --keep COL``: columns carried from the input to the output exactly as they were.

An id column is text, not a number: ``007`` must stay ``007`` and ``12345678901`` must not become
``12345678848`` (float32). So the kept columns are read as strings, by their own streaming
reader (pyarrow's, as the feature blocks), and handed out ``n`` rows at a time to follow the
feature blocks whatever their sizes (:class:`KeptColumns`); memory stays near one block. In a
Parquet file they keep their stored type.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.config import ConfigError
from engine.data.tables import csv_options, is_parquet, open_csv

if TYPE_CHECKING:
    import pyarrow as pa


def check_keep(path: Path, header: Sequence[str], keep: Sequence[str]) -> list[str]:
    """The ``--keep`` columns without repeats; one that is not in the file is a ConfigError."""
    out: list[str] = []
    for name in keep:
        if name not in header:
            raise ConfigError(
                f"--keep {name}: {path} has no column '{name}'; columns: {', '.join(header)}",
                key="--keep",
                reason="column not found",
                where=str(path),
            )
        if name not in out:
            out.append(name)
    return out


def _csv_tables(path: Path, header: list[str], keep: list[str], block: int) -> Iterator[pa.Table]:
    import pyarrow as pa
    from pyarrow import csv as pcsv

    want, options = csv_options(header, keep, block)
    options["convert_options"] = pcsv.ConvertOptions(
        include_columns=want,
        column_types={c: pa.string() for c in want},
        null_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    reader = open_csv(path, options)
    try:
        for batch in reader:
            yield pa.Table.from_arrays([batch.column(c) for c in want], names=keep)
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(
            f"{path}: cannot read the --keep columns: {exc}", reason="cannot read", where=str(path)
        ) from None
    finally:
        reader.close()


class KeptColumns:
    """The kept columns of a file, ``take(n)`` rows at a time, in file order."""

    def __init__(self, path: Path, header: list[str], keep: list[str], block: int) -> None:
        if is_parquet(path):
            import pyarrow.parquet as pq

            self._tables: Iterator[pa.Table] = iter([pq.read_table(path, columns=keep)])
        else:
            self._tables = _csv_tables(path, header, keep, block)
        self.names = keep
        self._pending: pa.Table | None = None
        self._path = path

    def take(self, n: int) -> list[pa.Array]:
        """The next ``n`` rows of each kept column (a ConfigError if the file has fewer)."""
        import pyarrow as pa

        while self._pending is None or self._pending.num_rows < n:
            more = next(self._tables, None)
            if more is None:
                raise ConfigError(
                    f"{self._path}: the --keep columns have fewer rows than the features",
                    reason="rows differ",
                    where=str(self._path),
                )
            self._pending = (
                more if self._pending is None else pa.concat_tables([self._pending, more])
            )
        out, self._pending = self._pending.slice(0, n), self._pending.slice(n)
        return [out.column(i).combine_chunks() for i in range(out.num_columns)]
