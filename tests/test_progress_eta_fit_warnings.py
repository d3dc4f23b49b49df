"""ETA and fit warnings (engine/core/eta.py, engine/core/fit_warnings.py) against constructed
histories whose answers are known by hand, and the headless run that prints both."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest

from engine import load_config
from engine.cli.headless import run_headless
from engine.core.eta import EpochRate, eta_s, eta_text, fmt_duration
from engine.core.events import RunFinished, RunStarted
from engine.core.fit_warnings import GROWTH, LossRange, fit_warnings, target_std


def started(*, task: str = "regression", standardize_target: bool = False) -> RunStarted:
    return RunStarted(
        config={"data": {"standardize_target": standardize_target}},
        device="cpu",
        device_name="cpu",
        n_train=80,
        n_val=20,
        n_test=0,
        n_features=1,
        feature_names=["x"],
        epochs=100,
        loss_formula="mean((y - ŷ)²)",
        task=task,
    )


def finished(train: dict[str, float], val: dict[str, float]) -> RunFinished:
    return RunFinished(
        reason="completed",
        epochs_run=100,
        best_epoch=None,
        best_monitor=None,
        weights=[1.0],
        bias=0.0,
        message="completed 100 epochs",
        metrics={"train": train, "val": val},
    )


GOOD = {"mse": 0.25, "r2": 0.9}


# -- ETA ---------------------------------------------------------------------------------------
def test_rate_is_measured_over_the_recent_window_only() -> None:
    """100 epochs/s for 20 s, then 10 epochs/s for 15 s: the 10 s window sees only the slow
    pace, where the whole run's mean (2,150 / 35 s) would say 61 epochs/s."""
    rate = EpochRate(window_s=10.0)
    epoch = 0
    for t in range(1, 21):
        epoch += 100
        rate.add(epoch, float(t))
    assert rate.rate == pytest.approx(100.0)
    for t in range(21, 36):
        epoch += 10
        rate.add(epoch, float(t))
    assert rate.rate == pytest.approx(10.0)
    assert eta_s(epoch, epoch + 600, rate.rate) == pytest.approx(60.0)
    assert eta_text(epoch, epoch + 720, rate.rate) == "ETA 1m12s"
    assert eta_text(epoch, epoch + 720, rate.rate, upper_bound=True) == "ETA ≤1m12s"


def test_rate_restarts_when_time_goes_back_and_has_no_answer_too_early() -> None:
    rate = EpochRate()
    assert rate.rate is None
    rate.add(1, 0.01)
    assert rate.rate is None  # one point: no rate
    rate.add(2, 0.02)
    assert rate.rate is None  # 10 ms of training says nothing yet
    rate.add(50, 1.0)
    rate.add(5, 0.1)  # a new run (or a resume from an earlier epoch): start again
    assert rate.rate is None
    rate.add(105, 1.1)
    assert rate.rate == pytest.approx(100.0)
    assert eta_text(105, 105, rate.rate) is None  # nothing left to wait for
    assert eta_s(1, 10, None) is None and eta_s(1, 10, 0.0) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.9, "59s"), (72, "1m12s"), (3600, "1h00m"), (7380, "2h03m"), (93600, "1d02h")],
)
def test_durations_read_in_two_units(seconds: float, text: str) -> None:
    assert fmt_duration(seconds) == text


# -- fit warnings ------------------------------------------------------------------------------
def test_a_sound_fit_has_no_warnings() -> None:
    losses = LossRange([4.0, 1.0, 0.5, 0.26, 0.25])
    assert fit_warnings(started(), finished(GOOD, GOOD), losses) == []


def test_negative_validation_r2_is_a_poor_fit() -> None:
    out = fit_warnings(started(), finished(GOOD, {"mse": 3.0, "r2": -0.35}), LossRange([1, 0.5]))
    assert len(out) == 1 and out[0].startswith("poor fit: validation R² is -0.35")


def test_loss_that_grew_a_thousandfold_from_its_minimum_is_diverging() -> None:
    grew = LossRange([10.0, 1.0, 0.002, 0.5, 2.0, 2.5])  # min 0.002 at epoch 3, last 2.5
    out = fit_warnings(started(), None, grew)
    assert out == [
        "diverging: the training loss grew 1,250x from its minimum 0.002 at epoch 3 to 2.5; "
        "lower optim.lr"
    ]
    just_under = LossRange([0.002, 0.002 * GROWTH * 0.99])
    assert fit_warnings(started(), None, just_under) == []
    overflowing = LossRange([1.0, 0.5, 1.758e30])  # a ratio in scientific form, not 31 digits
    assert fit_warnings(started(), None, overflowing)[0].startswith(
        "diverging: the training loss grew 3.516e30x from its minimum 0.5"
    )
    blown = LossRange([1.0, 0.5, math.inf])
    assert fit_warnings(started(), None, blown)[0].startswith(
        "diverging: the training loss became inf after a minimum of 0.5 at epoch 2"
    )


def test_large_target_scale_suggests_standardize_target() -> None:
    """std(y)² = mse / (1 - R²): mse 4e6 at R² 0.6 is a target of std sqrt(1e7) ≈ 3162."""
    fin = finished({"mse": 4.0e6, "r2": 0.6}, {"mse": 4.0e6, "r2": 0.6})
    assert target_std(started(), fin) == pytest.approx(math.sqrt(1.0e7))
    out = fit_warnings(started(), fin, LossRange([5e7, 4e6]))
    assert out == [
        "the target's scale is large (std 3,162): data.standardize_target=true trains in "
        "std units (metrics stay in raw units)"
    ]
    assert fit_warnings(started(standardize_target=True), fin, LossRange([1.0])) == []
    assert fit_warnings(started(task="binary"), fin, LossRange([1.0, 1e9])) == []


def test_target_std_matches_the_data_for_a_real_fit() -> None:
    """The identity against numpy on the split itself: a real run of the default preset with
    its target scaled by 10,000 (so the warning fires), standardize_target off."""
    from engine import fit

    cfg = load_config(
        "default", ["data.n_samples=300", "train.epochs=200", "train.device=cpu", "optim.lr=0.1"]
    )
    result = fit(cfg)
    start = next(e for e in result.events if isinstance(e, RunStarted))
    fin = next(e for e in result.events if isinstance(e, RunFinished))
    mse, r2 = fin.metrics["train"]["mse"], fin.metrics["train"]["r2"]
    assert target_std(start, fin) == pytest.approx(math.sqrt(mse / (1 - r2)))
    assert 0 < target_std(start, fin) < 1000  # the default preset's target is not large


# -- the headless run prints both --------------------------------------------------------------
def test_headless_progress_has_an_eta_and_the_summary_a_warning(tmp_path: Path) -> None:
    """A run whose learning rate blows it up: the summary ends with the diverging warning;
    a slow-enough run's progress lines carry an ETA."""
    cfg = load_config(
        "default",
        [
            "data.n_samples=200",
            "train.epochs=30",
            "train.device=cpu",
            "optim.lr=3.0",
            "early_stopping.enabled=false",
        ],
    )
    out, err = io.StringIO(), io.StringIO()
    (tmp_path / "run").mkdir()
    run_headless(cfg, as_json=False, out=out, err=err, run_dir=tmp_path / "run")
    lines = out.getvalue().splitlines()
    warnings = [line for line in lines if line.startswith("warning: diverging")]
    assert len(warnings) == 1, out.getvalue()
    assert any(line.startswith("epoch") for line in lines)


def test_headless_progress_line_ends_with_the_eta_of_the_recent_rate() -> None:
    """The printer's ETA from a real run's own clock: a 2,000-epoch run under 10 s has one
    window, so at epoch 1,500 the rate is (1500 - 1) / (t1500 - t1) and 500 epochs are left
    (enough epochs that even a fast machine spends more than the rate's minimum span)."""
    from engine import fit
    from engine.cli.summary import Printer
    from engine.core.events import EpochEnded

    cfg = load_config(
        "default",
        [
            "data.n_samples=2000",
            "train.epochs=2000",
            "train.device=cpu",
            "early_stopping.enabled=false",
        ],
    )
    events = fit(cfg).events
    epochs = {e.epoch: e for e in events if isinstance(e, EpochEnded)}
    out = io.StringIO()
    printer = Printer(out, io.StringIO(), as_json=False)
    printer(next(e for e in events if isinstance(e, RunStarted)))
    for n in range(1, 1501):
        printer._last_print = -math.inf if n == 1500 else math.inf  # print epoch 1,500 only
        printer(epochs[n])
    assert epochs[2000].elapsed_s < 10, "one window: the test's premise"
    rate = 1499 / (epochs[1500].elapsed_s - epochs[1].elapsed_s)
    line = out.getvalue().splitlines()[-1]
    assert line.startswith("epoch 1500/2000")
    assert line.endswith(f"samples/s  ETA {fmt_duration(500 / rate)}"), line
