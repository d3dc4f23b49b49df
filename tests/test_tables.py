"""Tables from CSV and Parquet: read_table's contract, exact cell places, stops, in-place draws."""

from __future__ import annotations

import signal
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from engine.config import ConfigError
from engine.data.dataset import Stopped, load_dataset, prepare_splits, read_table, split_indices
from engine.data.raw_source import read_source
from engine.data.table_scan import FLOAT32_MAX, exact_scan
from tests.conftest import make_config


def test_read_table_orders_required_then_present_optional_columns(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("y,b,a\n1,2,3\n4,5,6\n")
    t = read_table(f, ["a", "b"], optional=["y", "z"])
    assert t.columns == ["a", "b", "y"]
    assert t.values.dtype == torch.float32
    assert t.values.tolist() == [[3, 2, 1], [6, 5, 4]]
    assert read_table(f, ["a", "b", "y"]).columns == ["a", "b", "y"]


def test_read_table_names_a_missing_or_unexpected_column(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("a,z\n1,2\n")
    with pytest.raises(ConfigError) as info:
        read_table(f, ["a", "b"])
    assert str(info.value) == f"{f}: column 'b' not found; columns: a, z"
    with pytest.raises(ConfigError) as info:
        read_table(f, ["a"], optional=["y"])
    assert str(info.value).startswith(f"{f}: unexpected column 'z'")


def test_read_table_applies_the_training_cell_rules(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("a,b\n1,2\n3,1_000\n")
    with pytest.raises(ConfigError) as info:
        read_table(f, ["a", "b"])
    assert str(info.value) == f"{f}:3: column 'b': '1_000' is not a number"


@pytest.mark.parametrize(
    "text, first, line",
    [
        ("a,y\n1,2\n\n\n2,nan\n", "a", 5),  # blank lines count as lines
        ("a,y\r\n1,2\r\n\r\n2,nan\r\n", "a", 4),  # CRLF
        ("\ufeffa,y\n1,2\n2,nan\n", "a", 3),  # a BOM before the header
        ('a,y\n"1",2\n"2\n",3\n4,nan\n', "a", 5),  # a quoted cell that spans two lines
        ('"a\nb",y\n1,2\n4,nan\n', "a\nb", 4),  # a header that spans two lines
    ],
)
def test_a_bad_cell_is_named_by_its_file_line(tmp_path, text, first, line):
    f = tmp_path / "t.csv"
    f.write_bytes(text.encode())
    with pytest.raises(ConfigError) as info:
        read_table(f, [first, "y"])
    assert str(info.value) == f"{f}:{line}: column 'y': 'nan' is not a finite number"


def test_large_file_fast_path_equals_the_exact_scan(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((250_000, 4)) * np.array([1, 1e-3, 1e6, 1e30])
    f = tmp_path / "big.csv"
    np.savetxt(f, data, delimiter=",", header="a,b,c,d", comments="", fmt="%.9g")
    assert f.stat().st_size > 3 * (1 << 22)  # several blocks of the streaming reader
    fast = read_table(f, ["d", "a", "c", "b"]).values
    exact = exact_scan(f, ["a", "b", "c", "d"], ["d", "a", "c", "b"])
    assert fast.shape == (250_000, 4) and torch.equal(fast, exact)


def test_a_bad_cell_late_in_a_large_file_names_its_line(tmp_path):
    f = tmp_path / "big.csv"
    rows = [f"{i},{i % 7}" for i in range(200_000)]
    rows[190_000] = "5,1e39"
    f.write_text("a,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(ConfigError, match=r"big.csv:190002: column 'y': '1e39' is too large"):
        read_table(f, ["a", "y"])


def write_parquet(path, columns: dict, row_group_size: int = 7) -> None:
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)


def test_csv_and_parquet_give_identical_tensors(tmp_path):
    rng = np.random.default_rng(1)
    cols = {
        "a": rng.standard_normal(50),
        "k": rng.integers(-5, 5, 50),
        "b": rng.standard_normal(50).astype(np.float32),
        "y": rng.standard_normal(50),
    }
    with (tmp_path / "d.csv").open("w") as fh:
        fh.write("a,k,b,y\n")
        for row in zip(*cols.values()):
            fh.write(",".join(repr(float(v)) for v in row) + "\n")
    write_parquet(tmp_path / "d.parquet", cols)
    a = read_table(tmp_path / "d.csv", ["y", "a", "k", "b"]).values
    b = read_table(tmp_path / "d.parquet", ["y", "a", "k", "b"]).values
    assert a.shape == (50, 4) and torch.equal(a, b)
    ds = {
        name: load_dataset(
            make_config(
                data={
                    "source": "csv",
                    "path": str(tmp_path / name),
                    "target": "y",
                    "features": ["b", "a"],
                }
            )
        )
        for name in ("d.csv", "d.parquet")
    }
    for split in ("train", "val"):
        assert torch.equal(getattr(ds["d.csv"], split).x, getattr(ds["d.parquet"], split).x)
        assert torch.equal(getattr(ds["d.csv"], split).y, getattr(ds["d.parquet"], split).y)


@pytest.mark.parametrize(
    "values, reason",
    [
        ([1.0, None, 3.0], "row 2: column 'a' is empty"),
        ([1.0, 2.0, float("nan")], "row 3: column 'a' is not a finite number"),
        ([1.0, 1e39, 3.0], "row 2: column 'a' is too large (beyond ±3.4e38, the float32 range)"),
    ],
)
def test_a_bad_parquet_cell_names_its_row_and_column(tmp_path, values, reason):
    f = tmp_path / "d.parquet"
    write_parquet(f, {"a": pa.array(values, pa.float64()), "y": [1.0, 2.0, 3.0]}, 2)
    with pytest.raises(ConfigError) as info:
        read_table(f, ["a", "y"])
    assert str(info.value) == f"{f}: {reason}"


def test_a_text_parquet_column_is_refused(tmp_path):
    f = tmp_path / "d.parquet"
    write_parquet(f, {"a": ["1", "2"], "y": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="column 'a' has type string"):
        read_table(f, ["a", "y"])


def test_a_missing_parquet_file(tmp_path):
    cfg = make_config(data={"source": "csv", "path": str(tmp_path / "no.parquet"), "target": "y"})
    with pytest.raises(ConfigError, match="data.path: Parquet file not found"):
        load_dataset(cfg)


@pytest.mark.parametrize(
    "data",
    [
        {"n_samples": 1003, "val_fraction": 0.2, "test_fraction": 0.1, "outlier_fraction": 0.05},
        {"n_samples": 20_011, "n_features": 7, "standardize_target": True, "outliers": "clip"},
        {"n_samples": 500, "poly_degree": 3, "outliers": "drop", "outlier_fraction": 0.1},
    ],
)
def test_in_place_synthetic_draw_equals_the_copying_path(data):
    """The draw placed straight into split order equals draw, then index, then scale."""
    cfg = make_config(data=data)
    fast = load_dataset(cfg)
    ref = prepare_splits(cfg, read_source(cfg), *split_indices(cfg.data.n_samples, cfg))
    for split in ("train", "val", "test"):
        a, b = getattr(fast, split), getattr(ref, split)
        assert torch.allclose(a.x, b.x, rtol=1e-6, atol=1e-6)
        assert torch.allclose(a.y, b.y, rtol=1e-5, atol=1e-5)
    assert fast.true_weights == ref.true_weights and fast.outlier_rows == ref.outlier_rows


def stop_after(seconds: float):
    """A stop flag that turns True ``seconds`` from now, set by a real signal handler in the main
    thread — as Ctrl-C sets a run's flag. (A timer *thread* is a poor stand-in: while pyarrow's
    threads and the scan keep both cores busy it may not get to run for seconds.)"""
    flag: list[int] = []
    signal.signal(signal.SIGALRM, lambda *_: flag.append(1))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    return lambda: bool(flag)


@pytest.mark.timing
def test_a_stop_during_a_big_draw_returns_within_a_second():
    cfg = make_config(data={"n_samples": 4_000_000, "n_features": 40})  # 640 MB: ~5 s to draw
    t0 = time.perf_counter()
    with pytest.raises(Stopped):
        load_dataset(cfg, stop=stop_after(0.3))
    assert time.perf_counter() - t0 < 1.3


@pytest.mark.timing
@pytest.mark.parametrize("doubt", [False, True])
def test_a_stop_during_a_big_csv_read_returns_within_a_second(tmp_path, doubt):
    """Both the fast reader and the exact scan stop. ``doubt``: a first cell of exactly float32's
    largest value, which the fast reader hands to the exact scan (it cannot tell it from a
    larger number rounded down) and the scan accepts, so the scan reads the whole file."""
    f = tmp_path / "big.csv"
    row = "1.25,-3.5,7,0.001,12345.678,2\n"
    with f.open("w") as fh:
        fh.write("a,b,c,d,e,y\n" + (f"{FLOAT32_MAX!r},1,1,1,1,1\n" if doubt else ""))
        fh.write(row * 3_000_000)  # 93 MB
    cfg = make_config(data={"source": "csv", "path": str(f), "target": "y"})
    t0 = time.perf_counter()
    with pytest.raises(Stopped):
        load_dataset(cfg, stop=stop_after(0.3))
    assert time.perf_counter() - t0 < 1.3
