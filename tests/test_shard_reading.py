"""Sharded reading's cuts, ranks as threads: every file, cut among any number of ranks, reads back
exactly as one process reads it, and a bad cell is named as one process names it.

The ranks here are threads that exchange through a barrier (the real ranks' collectives are
tested with torchrun in :mod:`tests.test_distributed_shards`); what these tests sweep is where
the byte ranges fall: on a line start, mid-line, inside the last line, past the data (more ranks
than lines), with CRLF, blank lines and no final newline.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import torch

from engine.config import ConfigError
from engine.data.shard import Shard, read_shard
from engine.data.tables import file_columns, is_parquet, read_columns


class Exchange:
    """``world`` threads' all-gather: each puts its object in, all get the list back."""

    def __init__(self, world: int) -> None:
        self.barrier = threading.Barrier(world, timeout=30)
        self.slots: list[Any] = [None] * world

    def gather(self, rank: int, obj: Any) -> list[Any]:
        self.slots[rank] = obj
        self.barrier.wait()
        out = list(self.slots)
        self.barrier.wait()
        return out


def read_as_ranks(path: Path, world: int) -> list[Any]:
    """What each of ``world`` ranks gets from :func:`read_shard` (a tensor, None or an error)."""
    ex = Exchange(world)
    header = file_columns(path)
    results: list[Any] = [None] * world

    def rank(r: int) -> None:
        shard = Shard(
            r, world, lambda obj: ex.gather(r, obj), lambda t, counts: torch.cat(ex.gather(r, t))
        )
        try:
            results[r] = read_shard(path, header, header, shard, parquet=is_parquet(path))
        except (ConfigError, OSError) as exc:
            results[r] = exc

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def whole(path: Path) -> torch.Tensor:
    header = file_columns(path)
    return read_columns(path, header, header)


def lines_of(n: int, width: int) -> list[str]:
    """``n`` data lines whose lengths vary, so the cuts land everywhere."""
    return [f"{i * 7 % 13}.{'5' * (i % width)},{-i}" for i in range(n)]


@pytest.mark.parametrize("world", [2, 3, 5])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("final", [True, False])
def test_every_cut_reads_back_as_one_process(
    tmp_path: Path, world: int, newline: str, final: bool
) -> None:
    for n in range(1, 14):
        rows = lines_of(n, 4)
        if n > 3:
            rows.insert(2, "")  # a blank line: skipped, but counted as a line
        path = tmp_path / f"d{n}.csv"
        path.write_bytes((newline.join(["a,b", *rows]) + (newline if final else "")).encode())
        one = whole(path)
        for got in read_as_ranks(path, world):
            assert isinstance(got, torch.Tensor), got
            assert torch.equal(got, one), (n, path.read_bytes())


@pytest.mark.parametrize("world", [2, 3])
def test_a_bad_cell_anywhere_is_named_as_one_process_names_it(tmp_path: Path, world: int) -> None:
    rows = lines_of(12, 3)
    for bad in range(12):
        broken = [*rows]
        broken[bad] = broken[bad].replace(",", ",x", 1)
        path = tmp_path / f"bad{bad}.csv"
        path.write_text("\n".join(["a,b", "", *broken]) + "\n")
        with pytest.raises(ConfigError) as one:
            whole(path)
        assert f":{bad + 3}: column 'b'" in str(one.value)
        for got in read_as_ranks(path, world):
            assert isinstance(got, ConfigError) and str(got) == str(one.value)


def test_a_quoted_file_is_left_to_whole_reading(tmp_path: Path) -> None:
    """A quote anywhere (here a quoted cell holding a newline) makes every rank answer None."""
    path = tmp_path / "q.csv"
    path.write_text('a,b\n1,2\n3,"4\n"\n5,6\n7,8\n')
    assert read_as_ranks(path, 2) == [None, None]


def test_parquet_groups_read_back_and_bad_rows_keep_their_file_row(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    a = [float(i) for i in range(50)]
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"a": a, "b": a}), path, row_group_size=7)
    for world in (2, 3, 9):  # 9 ranks, 8 groups: one rank reads nothing
        for got in read_as_ranks(path, world):
            assert torch.equal(got, whole(path))
    a[44] = float("inf")
    pq.write_table(pa.table({"a": a, "b": a}), path, row_group_size=7)
    for got in read_as_ranks(path, 3):
        assert str(got) == f"{path}: row 45: column 'a' is not a finite number"
