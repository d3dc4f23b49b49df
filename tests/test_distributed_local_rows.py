"""Rank-local rows under torchrun: a full-batch regression keeps only each rank's rows.

Real ranks (``python -m engine train --nproc 2``, gloo on loopback, helpers of
:mod:`tests.test_distributed`) against ``engine.fit`` and ``load_dataset`` in this process. What
each rank kept is told by the rank itself: with ``LINREG_TUI_SHARD_TRACE`` set, each writes
``rows-rank<R>.json`` (:mod:`engine.data.rank_rows`): the rows of each split it kept and the
standardisation statistics it computed from the all-reduced sums.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.config import parse_config
from engine.data.dataset import load_dataset, split_sizes
from engine.data.shard import part
from tests.test_distributed import assert_same, events, finished, merged, single, train
from tests.test_distributed_shards import config, table, write_csv

pytestmark = pytest.mark.slow


def kept(folder: Path) -> list[dict[str, Any]]:
    return [json.loads((folder / f"rows-rank{r}.json").read_text()) for r in (0, 1)]


def assert_same_metrics(dist: dict[str, Any], one: Any, tol: float) -> None:
    """Every split's metrics (R², RMSE, MAE and the gathered median) agree too."""
    assert set(dist["metrics"]) == set(one.metrics)
    for split, values in one.metrics.items():
        assert dist["metrics"][split] == pytest.approx(values, rel=tol, abs=tol), split


def assert_stats(rows: list[dict[str, Any]], cfg: dict[str, Any]) -> None:
    """Both ranks computed the single process's standardisation statistics."""
    ds = load_dataset(parse_config(cfg, where="test"))
    assert ds.x_mean is not None and ds.x_std is not None
    for r in rows:
        assert r["x_mean"] == pytest.approx(ds.x_mean.tolist(), rel=1e-6, abs=1e-7)
        assert r["x_std"] == pytest.approx(ds.x_std.tolist(), rel=1e-6)
        assert r["y_mean"] == pytest.approx(ds.y_mean, rel=1e-6)
        assert r["y_std"] == pytest.approx(ds.y_std, rel=1e-6)


def test_csv_ranks_keep_half_the_rows_and_equal_one_process(tmp_path: Path) -> None:
    """Each rank keeps the rows of each split it read (about half of each), the statistics are
    the single process's, and so are the fit and every split's metrics."""
    path = write_csv(tmp_path / "d.csv", *table(2001))
    cfg = config(path, "csv", standardize_target=True, test_fraction=0.15)
    trace = tmp_path / "trace"
    trace.mkdir()
    run_dir = train(tmp_path, cfg, LINREG_TUI_SHARD_TRACE=str(trace))
    one = single(cfg)
    fin = finished(run_dir)
    assert_same(fin, one, 1e-6)
    assert_same_metrics(fin, one, 1e-6)
    rows = kept(trace)
    n_train, n_val, n_test = split_sizes(2001, parse_config(cfg, where="test").data)
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        assert rows[0]["kept"][split] + rows[1]["kept"][split] == n
        assert 0.4 * n < rows[0]["kept"][split] < 0.6 * n, (split, rows)
    assert rows[0]["sizes"] == [n_train, n_val, n_test]
    assert_stats(rows, cfg)
    assert events(run_dir)[0]["n_train"] == n_train


@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_synthetic_ranks_keep_a_part_of_each_split(tmp_path: Path, loss: str) -> None:
    """Synthetic rows (drawn whole, then each rank keeps a near-equal part of each split),
    target standardised: the single process's fit and metrics (MSE on the all-reduced Gram,
    huber on the all-reduced gradient)."""
    cfg = merged(data={"standardize_target": True, "test_fraction": 0.1}, loss={"name": loss})
    trace = tmp_path / "trace"
    trace.mkdir()
    run_dir = train(tmp_path, cfg, LINREG_TUI_SHARD_TRACE=str(trace))
    one = single(cfg)
    fin = finished(run_dir)
    assert_same(fin, one, 1e-6)
    assert_same_metrics(fin, one, 1e-6)
    rows = kept(trace)
    sizes = split_sizes(1203, parse_config(cfg, where="test").data)
    for r in rows:
        for split, n in zip(("train", "val", "test"), sizes):
            lo, hi = part(n, r["rank"], 2)
            assert r["kept"][split] == hi - lo
    assert_stats(rows, cfg)
    # rank 0's optimum (mse: from all-reduced sums; huber: on the training rows gathered to
    # it) is the single process's
    got, want = events(run_dir)[0]["optimum"], one_optimum(cfg)
    sums = " (sums over 2 ranks)" if loss == "mse" else ""
    assert got["kind"] == want["kind"] and got["method"] == want["method"] + sums
    for key in ("loss", "weights", "bias", "weights_original", "bias_original"):
        assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), key


def one_optimum(cfg: dict[str, Any]) -> dict[str, Any]:
    from engine.training.run import fit

    optimum = fit(parse_config(cfg, where="test")).started.optimum
    assert optimum is not None
    return optimum


def test_minibatch_still_gathers_every_row(tmp_path: Path) -> None:
    """Minibatch cuts each global batch of one permutation of the whole training split among
    the ranks, so every rank holds every row: no rank-local rows are kept."""
    path = write_csv(tmp_path / "d.csv", *table(600))
    cfg = config(path, "csv")
    cfg["optim"] = {"batch_size": 64, "lr": 0.02}
    cfg["train"]["epochs"] = 5
    trace = tmp_path / "trace"
    trace.mkdir()
    run_dir = train(tmp_path, cfg, LINREG_TUI_SHARD_TRACE=str(trace))
    assert_same(finished(run_dir), single(cfg), 1e-5)
    assert (trace / "shard-rank1.json").exists() and not (trace / "rows-rank1.json").exists()
