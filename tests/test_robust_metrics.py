"""What robustness buys, measured: the median absolute error and the coefficients' error against
the truth (issue 13 item 7), and the restored epoch's own losses in RunFinished (item 1).

On ``huber-outliers`` every mean-based metric is scored on splits full of gross outliers, so
MSE's fit, which chases them, *looks* better (higher R²) than Huber's, which ignores them. The
median absolute error scores the bulk of the rows and ``coef_rmse`` scores the fit itself: both
must show Huber winning, on real runs of the preset.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import median_absolute_error

import engine
from engine.cli.train import summary_lines
from engine.core.events import RunFinished
from engine.core.report import coefficient_table
from engine.data.dataset import load_dataset
from engine.runs.store import event_from_dict
from engine.training.metrics import coef_rmse, evaluate, median_abs
from tests import warm_process
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[1]


def np64(t: torch.Tensor) -> np.ndarray:
    return t.double().numpy()


@pytest.fixture(scope="module")
def huber_vs_mse() -> tuple[engine.FitResult, engine.FitResult]:
    """The ``huber-outliers`` preset as shipped, and the same with plain MSE."""
    huber = engine.fit(engine.load_config("huber-outliers", ["train.device=cpu"]))
    mse = engine.fit(engine.load_config("huber-outliers", ["train.device=cpu", "loss.name=mse"]))
    return huber, mse


# --- the median absolute error ------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 500, 501])
def test_median_abs_is_scikit_learns_median_absolute_error(n):
    """torch.median takes the lower middle value; numpy and scikit-learn average the two."""
    g = torch.Generator().manual_seed(n)
    y, pred = torch.randn(n, generator=g), torch.randn(n, generator=g)
    expected = median_absolute_error(np64(y), np64(pred))
    assert float(median_abs(y - pred)) == pytest.approx(expected, rel=1e-6)
    assert evaluate(pred, y)["medae"] == pytest.approx(expected, rel=1e-6)
    assert evaluate(pred, y, y_std=3.0)["medae"] == pytest.approx(3 * expected, rel=1e-6)


def test_a_runs_medae_is_scikit_learns_on_its_own_predictions():
    """Every split, in the target's raw units (the target was standardised for training)."""
    cfg = make_config(
        data={
            "n_samples": 301,
            "test_fraction": 0.2,
            "standardize_target": True,
            "outlier_fraction": 0.1,
        },
        train={"epochs": 40, "device": "cpu"},
    )
    fin = engine.fit(cfg).finished
    ds = load_dataset(cfg)
    for name, split in (("train", ds.train), ("val", ds.val), ("test", ds.test)):
        pred = (split.x @ torch.tensor(fin.weights) + fin.bias) * ds.y_std + ds.y_mean
        y = split.y * ds.y_std + ds.y_mean
        assert fin.metrics[name]["medae"] == pytest.approx(
            median_absolute_error(np64(y), np64(pred)), rel=1e-4
        )


def test_epochs_carry_no_median_so_the_hot_loop_pays_nothing():
    res = engine.fit(make_config(train={"epochs": 3, "device": "cpu"}))
    assert all("medae" not in ev.metrics.get("val", {}) for ev in res.epochs)
    assert set(res.finished.metrics) == {"train", "val"}
    assert all("medae" in m for m in res.finished.metrics.values())


# --- the coefficients' error against the truth --------------------------------------------------


def test_coef_rmse_counts_each_true_weight_and_the_bias():
    assert coef_rmse([1.0, 2.0], 0.5, [1.0, 0.0], -0.5) == pytest.approx(math.sqrt(5 / 3))
    assert coef_rmse([1.0, 2.0], None, [1.0, 0.0], -0.5) == pytest.approx(math.sqrt(2))
    # a polynomial term past the truth's features has no true value, as in the table
    assert coef_rmse([1.0, 2.0, 9.0], None, [1.0, 0.0], 0.0) == pytest.approx(math.sqrt(2))
    assert coef_rmse([1.0], 0.0, None, None) is None


def test_coef_rmse_is_the_tables_learned_vs_true_in_raw_units(huber_vs_mse):
    """The number is what a reader computes from the table's raw-unit and true columns."""
    for res in huber_vs_mse:
        table = coefficient_table(res.started, res.finished)
        learned, truth = table.comparison()
        assert (learned.key, truth.key) == ("learned_raw", "true")
        pairs = [(learned.cell(r), truth.cell(r)) for r in table.rows]
        expected = math.sqrt(sum((a - t) ** 2 for a, t in pairs) / len(pairs))
        assert res.finished.coef_rmse == pytest.approx(expected, rel=1e-9)
        last = res.epochs[-1]
        assert last.coef_rmse == pytest.approx(
            coef_rmse(
                last.weights_original,
                last.bias_original,
                res.started.true_weights,
                res.started.true_bias,
            ),
            rel=1e-12,
        )


# --- the lesson: Huber beats MSE where it should --------------------------------------------------


def test_on_huber_outliers_huber_wins_on_median_error_and_coefficients(huber_vs_mse):
    huber, mse = (r.finished for r in huber_vs_mse)
    # the mean-based scores read backwards: MSE's fit chases the outliers and scores better
    assert mse.metrics["val"]["r2"] > huber.metrics["val"]["r2"]
    # ... while the robust scores say what happened
    for split in ("train", "val"):
        assert huber.metrics[split]["medae"] < mse.metrics[split]["medae"] / 5
    assert huber.coef_rmse < mse.coef_rmse / 10
    assert huber.coef_rmse < 0.2  # Huber recovers the true weights


def test_the_cli_summary_shows_medae_and_the_coefficient_error(huber_vs_mse):
    proc = warm_process.run(
        [
            sys.executable,
            "-m",
            "engine",
            "train",
            "huber-outliers",
            "--no-save",
            "--set",
            "train.device=cpu",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(ln for ln in lines if ln.startswith("split"))
    assert header.split() == ["split", "mse", "rmse", "mae", "medae", "r2"]
    err = [ln for ln in lines if ln.startswith("coefficient error vs true")]
    assert err == [err[0]] and err[0].endswith("(weights and bias, raw units)")
    assert f"rmse {huber_vs_mse[0].finished.coef_rmse:.6g} " in err[0]  # the same run


def test_without_a_truth_the_summary_has_no_coefficient_error_line():
    res = engine.fit(engine.load_config("diabetes", ["train.epochs=5", "train.device=cpu"]))
    lines = summary_lines(res.started, res.finished)
    assert not any("vs true" in ln for ln in lines)
    assert lines[2].split() == ["split", "mse", "rmse", "mae", "medae", "r2"]


# --- item 1: the restored epoch's own losses ------------------------------------------------------


def _objective_mse(ds_split, weights: list[float], bias: float) -> float:
    x, y = ds_split.x.double(), ds_split.y.double()
    r = y - (x @ torch.tensor(weights, dtype=torch.float64) + bias)
    return float((r * r).mean())


def test_a_restored_run_reports_the_losses_of_the_weights_it_returns():
    """``default`` restores an earlier epoch: RunFinished's train/val losses and gap are the
    restored weights' own (issue 13: train 0.228404 / val 0.239433, gap ~7e-4), not the last
    epoch's, and val_loss is the best monitor value early stopping kept."""
    cfg = engine.load_config("default", ["train.device=cpu"])
    res = engine.fit(cfg)
    fin = res.finished
    assert fin.restored_epoch is not None and fin.restored_epoch < res.epochs[-1].epoch
    ds = load_dataset(cfg)
    assert fin.train_loss == pytest.approx(
        _objective_mse(ds.train, fin.weights, fin.bias), rel=1e-5
    )
    assert fin.val_loss == pytest.approx(_objective_mse(ds.val, fin.weights, fin.bias), rel=1e-5)
    assert fin.val_loss == pytest.approx(fin.best_monitor, rel=1e-6)
    assert fin.train_loss != pytest.approx(res.epochs[-1].train_loss, rel=1e-4)
    assert fin.gap == pytest.approx(fin.train_loss - res.started.optimum["loss"], rel=1e-6)
    assert fin.gap >= 0


def test_monitoring_train_loss_in_full_batch_the_restored_train_loss_is_the_best():
    """Full batch measures an epoch's train loss at its start weights, so the restored
    weights' train loss is the best monitor value, while that epoch's event holds the *end*
    weights' val loss: only RunFinished has both numbers of the restored weights."""
    res = engine.fit(engine.load_config("diabetes", ["train.device=cpu"]))
    fin = res.finished
    assert fin.restored_epoch is not None
    assert fin.train_loss == pytest.approx(fin.best_monitor, rel=1e-5)
    # an exact optimum: float32 rounding below it reads 0, never a negative gap
    assert fin.gap == max(fin.train_loss - res.started.optimum["loss"], 0.0) >= 0.0


def test_old_logs_without_the_new_fields_still_load():
    fin = engine.fit(make_config(train={"epochs": 3, "device": "cpu"})).finished
    data = fin.to_dict()
    assert event_from_dict(data) == fin
    for key in ("train_loss", "val_loss", "gap", "coef_rmse"):
        data.pop(key)
    data["metrics"] = {
        s: {k: v for k, v in m.items() if k != "medae"} for s, m in data["metrics"].items()
    }
    old = event_from_dict(data)
    assert isinstance(old, RunFinished)
    assert (old.train_loss, old.val_loss, old.gap, old.coef_rmse) == (None, None, None, None)


COUNTING_LOSS = """\
def loss(pred, target):
    with open({log!r}, "a") as f:  # every call, from whichever load of this file
        f.write(f"{{len(pred)}}\\n")
    return (pred - target).pow(2).mean()
"""


def _counting_run(tmp_path: Path, stop_at: int | None) -> tuple[RunFinished, list[int], int]:
    """A custom-loss run stopped after epoch ``stop_at`` (None: not stopped); returns its end,
    the rows of each call of the loss and how many calls there were when the stop came."""
    from engine.config import parse_config
    from engine.core.control import Control
    from engine.core.events import EpochEnded
    from engine.training.trainer import run_training

    log = tmp_path / f"calls-{stop_at}.txt"
    (tmp_path / "counting.py").write_text(COUNTING_LOSS.format(log=str(log)))
    cfg = parse_config(
        {
            "data": {"n_samples": 100},
            "loss": {"name": "custom", "callable": "counting.py:loss"},
            "train": {"epochs": 4, "device": "cpu"},
        },
        where="test",
        base_dir=str(tmp_path),
    )
    control, seen = Control(), []

    def calls() -> list[int]:
        return [int(n) for n in log.read_text().split()]

    def emit(ev) -> None:
        if isinstance(ev, EpochEnded) and ev.epoch == stop_at:
            control.stop()
            seen.append(len(calls()))

    fin = run_training(cfg, emit, control)
    return fin, calls(), seen[0] if seen else -1


def test_a_custom_loss_run_reports_its_losses_but_a_stop_does_not_wait_for_the_loss(tmp_path):
    """A finished run evaluates the user's loss once more on train and val (the restored
    weights' losses); a stopped one does not call it again (a slow loss must not delay a stop),
    and leaves the losses to the log."""
    fin, calls, _ = _counting_run(tmp_path, None)
    assert fin.reason == "completed" and fin.train_loss is not None
    assert calls[-2:] == [80, 20]  # the end: train (80 rows), then val (20 rows), not test
    fin, calls, at_stop = _counting_run(tmp_path, 2)
    assert fin.reason == "cancelled" and (fin.train_loss, fin.val_loss, fin.gap) == (None,) * 3
    assert len(calls) == at_stop and "medae" in fin.metrics["val"]
