"""Sharded reading under torchrun: each rank reads only its bytes (CSV) or row groups (Parquet).

Real ranks (``python -m engine train --nproc 2``, gloo on loopback, helpers of
:mod:`tests.test_distributed`) against ``engine.fit`` in this process. What each rank read is
told by the rank itself: with ``LINREG_TUI_SHARD_TRACE`` set, each writes the byte range (the
first and last byte it touched) or the row groups it read (:mod:`engine.data.shard`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.config import ConfigError
from engine.data.dataset import load_dataset
from engine.data.shard import byte_range
from tests.runs_helpers import run
from tests.test_distributed import assert_same, events, finished, overrides, single, train

pytestmark = pytest.mark.slow


def table(n: int = 1203, d: int = 4, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """A linear problem with noise, features on different scales (standardising matters)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * np.array([1.0, 10.0, 0.1, 3.0])[:d] + 2.0
    y = x @ np.arange(1.0, d + 1) + 0.5 + rng.normal(scale=0.5, size=n)
    return x, y


def write_csv(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    cols = [f"x{j + 1}" for j in range(x.shape[1])]
    lines = [",".join([*cols, "y"])]
    lines += [",".join(f"{v:.6g}" for v in (*row, t)) for row, t in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def config(path: Path, source: str, **data: Any) -> dict[str, Any]:
    return {
        "seed": 3,
        "data": {"source": source, "path": str(path), "target": "y", "standardize": True, **data},
        "train": {"epochs": 40, "device": "cpu"},
        "early_stopping": {"enabled": False},
    }


def traces(folder: Path) -> list[dict[str, Any]]:
    return [json.loads((folder / f"shard-rank{r}.json").read_text()) for r in (0, 1)]


def test_csv_two_ranks_read_their_own_bytes_and_equal_one_process(tmp_path: Path) -> None:
    """Each rank read about half the data bytes, the halves meet at a line start, the range
    boundary falls mid-line, and the fit is the single process's (full batch, standardised)."""
    path = write_csv(tmp_path / "d.csv", *table())
    raw = path.read_bytes()
    data_start = raw.index(b"\n") + 1
    cut = byte_range(data_start, len(raw), 1, 2)[0]
    assert raw[cut - 1 : cut] != b"\n"  # the boundary splits a line
    cfg = config(path, "csv")
    trace = tmp_path / "trace"
    trace.mkdir()
    run_dir = train(tmp_path, cfg, LINREG_TUI_SHARD_TRACE=str(trace))
    assert_same(finished(run_dir), single(cfg), 1e-6)
    (a, b) = traces(trace)
    line_after_cut = raw.index(b"\n", cut) + 1
    assert a["bytes"] == [data_start, line_after_cut]  # rank 0 finishes the cut line
    assert b["bytes"][0] == cut - 1 and b["bytes"][1] == len(raw)  # rank 1 skips it
    for t in (a, b):
        assert t["bytes"][1] - t["bytes"][0] < 0.55 * len(raw)
    started = events(run_dir)[0]
    assert started["n_train"] + started["n_val"] + started["n_test"] == 1203


def test_parquet_row_groups_are_dealt_out(tmp_path: Path) -> None:
    """Seven row groups of a Parquet file: rank 0 reads the first ones, rank 1 the rest, none
    twice; the fit is the single process's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    x, y = table(1400)
    cols = {f"x{j + 1}": x[:, j] for j in range(x.shape[1])}
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({**cols, "y": y}), path, row_group_size=200)
    assert pq.ParquetFile(path).num_row_groups == 7
    cfg = config(path, "csv")
    trace = tmp_path / "trace"
    trace.mkdir()
    run_dir = train(tmp_path, cfg, LINREG_TUI_SHARD_TRACE=str(trace))
    assert_same(finished(run_dir), single(cfg), 1e-6)
    a, b = traces(trace)
    assert a["row_groups"] == [0, 1, 2, 3] and b["row_groups"] == [4, 5, 6]
    assert b["first_row"] == 800


def test_a_bad_cell_in_rank_ones_part_is_one_line_with_its_file_line(tmp_path: Path) -> None:
    """A non-number near the end of the file (rank 1's bytes) is named by its line in the whole
    file, once, as a single process names it; the run fails before it starts."""
    x, y = table(400)
    path = write_csv(tmp_path / "bad.csv", x, y)
    lines = path.read_text().splitlines()
    lines[351] = "oops," + lines[351].split(",", 1)[1]  # file line 352
    path.write_text("\n".join(lines) + "\n")
    cfg = config(path, "csv")
    with pytest.raises(ConfigError) as one:
        load_dataset(single_config(cfg))
    message = str(one.value)
    assert message == f"{path}:352: column 'x1': 'oops' is not a number"
    done = run(tmp_path / "runs", "train", *overrides(cfg), "--nproc=2")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [f"error: {message}"], done.stderr


def test_a_bad_parquet_cell_in_rank_ones_groups_names_its_file_row(tmp_path: Path) -> None:
    """A NaN in the sixth row group: named by its row in the whole file, once."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    x, y = table(1200)
    x[1111, 2] = np.nan
    cols = {f"x{j + 1}": x[:, j] for j in range(x.shape[1])}
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({**cols, "y": y}), path, row_group_size=200)
    cfg = config(path, "csv")
    message = f"{path}: row 1112: column 'x3' is not a finite number"
    with pytest.raises(ConfigError, match="row 1112"):
        load_dataset(single_config(cfg))
    done = run(tmp_path / "runs", "train", *overrides(cfg), "--nproc=2")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [f"error: {message}"], done.stderr


def test_a_quoted_csv_is_read_whole_with_a_note(tmp_path: Path) -> None:
    """A quoted cell could hold a newline, so each rank reads the whole file and says so."""
    x, y = table(300)
    path = write_csv(tmp_path / "q.csv", x, y)
    text = path.read_text().splitlines()
    text[0] = '"x1",x2,x3,x4,y'
    path.write_text("\n".join(text) + "\n")
    cfg = config(path, "csv")
    run_dir = train(tmp_path, cfg)
    assert_same(finished(run_dir), single(cfg), 1e-6)
    warnings = events(run_dir)[0]["warnings"]
    assert any("every rank read the whole file" in w for w in warnings), warnings


def single_config(cfg: dict[str, Any]) -> Any:
    from engine.config import parse_config

    return parse_config(cfg, where="test")
