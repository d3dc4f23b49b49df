"""Batched sweep trials: every trial of the one tensor program equals its run alone.

The reference is ``engine.fit`` of each trial's own config (the sweep's ``with_values`` applied
to the base, checked): the batched program must end each trial at the same weights and bias, with
the same per-epoch train and validation losses, the same number of epochs, best epoch, stop
reason, restored epoch and closing message, to 1e-5 (float32 rounding: the batched matrix
products sum in another order than the single run's vector products). Trial sets cover sgd with
and without momentum, adam, adamw, weight decay, l1/l2, huber's δ, quantile's q, every other
built-in loss, early stopping on either monitor, a diverging lr among good ones, minibatches in
the shared seed's order, no bias and no validation split; trials the program cannot express are
refused with the reason. The non-smooth losses (mae, quantile) run a few dozen epochs: near
their optimum residuals sit at the kink, where a rounding-level difference flips ``sign(e)``
(the single run's own step strategies differ there the same way).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import engine
from engine.config import Config, parse_config
from engine.config.presets import load_raw
from engine.core.control import Control
from engine.core.events import EpochEnded, Event, RunFinished
from engine.sweep.batched import BatchedResult, Progress, TrialRun, train_batched
from engine.sweep.batched_plan import Refused, trial_config
from engine.training.trainer import run_training
from tests.conftest import make_config
from tests.toy_loss import registered_toys

ROOT = Path(__file__).resolve().parents[1]
REL, ABS = 1e-5, 1e-6


def default_preset(**sections: Any) -> Config:
    """The bundled default preset on the CPU, with whole ``sections`` merged in."""
    raw, path = load_raw("default")
    raw = {k: v for k, v in raw.items() if k != "sweep"}
    for name, values in {"train": {"device": "cpu"}, **sections}.items():
        raw[name] = {**raw.get(name, {}), **values}
    return parse_config(raw, where="test", base_dir=str(path.parent))


def close(got: list[float] | float | None, want: list[float] | float | None) -> bool:
    """Equal to 1e-5; a non-finite number matches any non-finite one (past float32's range,
    whether a sum reads inf or nan depends on the order it was added in)."""
    if got is None or want is None:
        return got is None and want is None
    if isinstance(got, float) or isinstance(want, float):
        got, want = [got], [want]  # type: ignore[list-item]
    assert isinstance(got, list) and isinstance(want, list)
    if [math.isfinite(v) for v in got] != [math.isfinite(v) for v in want]:
        return False
    pairs = [(g, w) for g, w in zip(got, want) if math.isfinite(w)]
    return [g for g, _ in pairs] == pytest.approx([w for _, w in pairs], rel=REL, abs=ABS)


def assert_equals_fit(run: TrialRun) -> None:
    """``run`` is what ``engine.fit`` of its config reports."""
    fit = engine.fit(run.config)
    fin = fit.finished
    where = f"trial {run.index} {run.values}"
    assert (run.reason, run.epochs_run, run.best_epoch, run.restored_epoch) == (
        fin.reason,
        fin.epochs_run,
        fin.best_epoch,
        fin.restored_epoch,
    ), where
    assert close(run.best_monitor, fin.best_monitor), where
    assert close(run.weights, fin.weights), where
    assert close(run.bias, fin.bias), where
    assert close(run.weights_original, fin.weights_original), where
    assert close(run.train_loss, fin.train_loss) and close(run.val_loss, fin.val_loss), where
    assert close(run.train_losses, [e.train_loss for e in fit.epochs]), where
    val = [e.val_loss for e in fit.epochs]
    assert close(run.val_losses, None if fit.started.n_val == 0 else val), where
    if run.reason == "diverged":  # "train loss became inf" vs "nan" is rounding at overflow
        assert run.message.split(":")[0] == fin.message.split(":")[0], where
    else:
        assert run.message == fin.message, where


def batched(base: Config, trials: list[dict[str, Any]], **kwargs: Any) -> BatchedResult:
    result = train_batched(base, trials, **kwargs)
    assert not result.refused, result.refused
    assert [t.index for t in result.trials] == list(range(len(trials)))
    return result


DEFAULT_TRIALS: list[dict[str, Any]] = [
    {"optim.lr": 0.05},
    {"optim.lr": 0.2},
    {"optim.lr": 0.01, "optim.momentum": 0.9},
    {"optim.lr": 0.05, "optim.momentum": 0.5, "optim.weight_decay": 0.05},
    {"optim.lr": 4.0},  # diverges among good ones
    {"optim.name": "adam", "optim.lr": 0.05},
    {"optim.name": "adam", "optim.lr": 0.02, "optim.weight_decay": 0.1},
    {"optim.name": "adamw", "optim.lr": 0.1, "optim.weight_decay": 0.1},
    {"loss.l1": 0.02, "loss.l2": 0.05},
    {"loss.l2": 0.1, "optim.name": "adam", "optim.lr": 0.05},
    {"loss.name": "huber", "loss.delta": 0.3},
    {"loss.name": "huber", "loss.delta": 2.0, "optim.momentum": 0.8, "optim.lr": 0.02},
    {"loss.name": "smooth_l1", "loss.delta": 0.5, "loss.l1": 0.01},
    {"loss.name": "log_cosh", "optim.weight_decay": 0.01},
    {"loss.name": "quantile", "loss.quantile": 0.8, "train.epochs": 25},
    {"loss.name": "quantile", "loss.quantile": 0.2, "optim.name": "adam", "train.epochs": 25},
    {"loss.name": "mae", "train.epochs": 40},
    {"early_stopping.monitor": "train_loss", "early_stopping.patience": 5},
    {"early_stopping.enabled": False, "train.epochs": 60},
    {"train.epochs": 6, "optim.lr": 0.3},  # too short for sufficient statistics: a data pass
    {"early_stopping.restore_best": False, "early_stopping.min_delta": 0.01},
]


def test_each_trial_of_the_default_preset_equals_its_run_alone():
    result = batched(default_preset(), DEFAULT_TRIALS)
    reasons = {t.reason for t in result.trials}
    assert {"completed", "early_stopped", "diverged"} <= reasons  # every ending is exercised
    assert result.outcome(4).reason == "diverged"  # type: ignore[union-attr]
    for run in result.trials:
        assert_equals_fit(run)
    # the host reads every check_every epochs, not once per epoch
    assert result.host_reads <= result.epochs // 8 + 1


def test_minibatches_in_the_shared_seeds_row_order_equal_their_runs_alone():
    base = make_config(
        seed=4,
        data={"n_samples": 500, "n_features": 5, "noise": 0.4},
        optim={"lr": 0.03, "batch_size": 48},
        train={"epochs": 40, "device": "cpu"},
        early_stopping={"patience": 6},
    )
    trials = [
        {"optim.lr": 0.03},
        {"optim.lr": 0.01, "optim.momentum": 0.9},
        {"optim.name": "adamw", "optim.lr": 0.02, "optim.weight_decay": 0.2},
        {"loss.name": "huber", "loss.delta": 0.5, "loss.l2": 0.02},
        {"loss.name": "quantile", "loss.quantile": 0.7, "train.epochs": 8},
        {"optim.lr": 2.5},
    ]
    for run in batched(base, trials).trials:
        assert_equals_fit(run)


def test_no_bias_and_no_validation_split():
    base = make_config(
        seed=2,
        data={"n_samples": 300, "n_features": 3, "val_fraction": 0.0},
        model={"bias": False},
        train={"epochs": 50, "device": "cpu"},
        early_stopping={"monitor": "train_loss", "patience": 4},
    )
    trials = [
        {"optim.lr": 0.1},
        {"optim.name": "adam", "optim.lr": 0.1},
        {"loss.name": "log_cosh", "loss.l1": 0.05},
    ]
    result = batched(base, trials)
    for run in result.trials:
        assert run.bias is None and run.val_losses is None and run.val_loss is None
        assert_equals_fit(run)


def test_trials_the_program_cannot_express_are_refused_with_the_reason():
    base = default_preset(train={"epochs": 5, "device": "cpu"})
    trials = [
        {"optim.lr": 0.1},
        {"seed": 7},
        {"data.noise": 2.0},
        {"model.bias": False},
        {"optim.batch_size": 32},
        {"loss.name": "custom", "loss.callable": "x.py:f"},
        {"loss.name": "combined", "loss.terms": [{"name": "mse"}, {"name": "mae", "weight": 0.5}]},
        {"optim.lr": -1.0},
        {"optim.batch_size": 5000},
    ]
    result = train_batched(base, trials)
    assert [t.index for t in result.trials] == [0, 8]  # 5000 rows cover the 800: full batch
    why = {r.index: r.reason for r in result.refused}
    assert "seed differs" in why[1]
    assert "data.noise differs" in why[2]
    assert "model.bias differs" in why[3]
    assert "optim.batch_size differs" in why[4]
    assert "custom loss" in why[5]
    assert "combined loss" in why[6]
    assert "optim.lr" in why[7]  # the config check's own message
    assert all(why[i].endswith("run it alone") for i in range(1, 7))
    assert isinstance(result.outcome(3), Refused)
    for run in result.trials:
        assert_equals_fit(run)


def test_a_registered_loss_or_optimizer_without_batched_arithmetic_is_refused():
    base = default_preset(train={"epochs": 3, "device": "cpu"})
    with registered_toys() as (loss, optimizer):
        result = train_batched(
            base, [{"loss.name": loss.name}, {"optim.name": optimizer.name}, {"optim.lr": 0.1}]
        )
    why = {r.index: r.reason for r in result.refused}
    assert "no batched derivative" in why[0]
    assert "no batched update rule" in why[1]
    assert [t.index for t in result.trials] == [2]


def test_classification_trials_are_refused():
    raw, path = load_raw("logistic")
    base = parse_config(
        {k: v for k, v in raw.items() if k != "sweep"}, where="test", base_dir=str(path.parent)
    )
    result = train_batched(base, [{"optim.lr": 0.1}])
    assert not result.trials
    assert "model.task binary has no batched program" in result.refused[0].reason


class PruneAt:
    """Prunes the given trials at one epoch, as a sweep's pruner stops a run (a real pruner's
    decision rule is Optuna's; this one's is fixed so the single run can be stopped alike)."""

    def __init__(self, epoch: int, trials: set[int]) -> None:
        self.epoch, self.trials = epoch, trials
        self.seen: list[Progress] = []

    def due(self, epoch: int) -> bool:
        return epoch in (1, 2, 4, self.epoch)

    def prune(self, progress: Progress) -> set[int]:
        self.seen.append(progress)
        return self.trials if progress.epoch == self.epoch else set()


def stopped_at(cfg: Config, epoch: int) -> tuple[list[EpochEnded], RunFinished]:
    """The single run, stopped from its event stream after ``epoch`` as the sweep's pruner
    does (``control.stop`` inside the epoch's event)."""
    control, events = Control(), []

    def emit(ev: Event) -> None:
        events.append(ev)
        if isinstance(ev, EpochEnded) and ev.epoch == epoch:
            control.stop(by="the pruner")

    fin = run_training(cfg, emit, control)
    return [e for e in events if isinstance(e, EpochEnded)], fin


def test_pruned_trials_stop_like_a_pruned_run_and_the_others_go_on():
    base = default_preset()
    trials = [{"optim.lr": 0.05}, {"optim.lr": 0.01}, {"optim.name": "adam", "optim.lr": 0.01}]
    pruner = PruneAt(6, {1, 2})
    result = batched(base, trials, pruner=pruner)
    assert result.pruned == {1, 2}
    assert [p.epoch for p in pruner.seen] == [1, 2, 4, 6]
    assert pruner.seen[0].running == (0, 1, 2)
    first = pruner.seen[-1]
    assert len(first.train_losses(1)) == 6 and len(first.val_losses(1) or []) == 6
    for index in (1, 2):
        run = result.trials[index]
        epochs, fin = stopped_at(trial_config(base, trials[index], index), 6)
        assert (run.reason, run.epochs_run, run.best_epoch, run.restored_epoch) == (
            "cancelled",
            6,
            fin.best_epoch,
            fin.restored_epoch,
        )
        assert run.message == fin.message and "stopped by the pruner at epoch 6" in run.message
        assert close(run.weights, fin.weights) and close(run.bias, fin.bias)
        assert close(run.train_losses, [e.train_loss for e in epochs])
        assert close(first.train_losses(index), [e.train_loss for e in epochs])
    assert_equals_fit(result.trials[0])  # the unpruned trial trains on, untouched


def test_a_stop_ends_every_running_trial_as_cancelled_after_its_epoch():
    base = default_preset()
    control = Control()

    class StopAfterEight:
        def due(self, epoch: int) -> bool:
            return epoch == 8

        def prune(self, progress: Progress) -> set[int]:
            control.stop()
            return set()

    trials = [{"optim.lr": 0.05}, {"optim.lr": 1000.0}]  # the second diverges before the stop
    result = batched(base, trials, control=control, pruner=StopAfterEight())
    assert result.epochs == 8
    good, bad = result.trials
    assert bad.reason == "diverged" and bad.epochs_run == 6
    assert_equals_fit(bad)
    assert (good.reason, good.epochs_run) == ("cancelled", 8)
    epochs, fin = stopped_at(trial_config(base, trials[0], 0), 8)
    assert good.message == fin.message.replace("the pruner", "you")
    assert close(good.weights, fin.weights) and close(good.bias, fin.bias)
    assert close(good.train_losses, [e.train_loss for e in epochs])


def test_all_trials_stopping_ends_the_program_early():
    result = batched(default_preset(), [{"optim.lr": 50.0}, {"optim.lr": 1000.0}], check_every=4)
    assert all(t.reason == "diverged" for t in result.trials)
    last = max(t.epochs_run for t in result.trials)
    assert last <= result.epochs < last + 4  # within one check of the last trial's end
    assert all(math.isfinite(w) for t in result.trials for w in t.weights)  # restored best


def test_the_benchmark_prints_both_loops_their_ratio_and_their_agreement():
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench_batched.py", "--trials", "3", "--device", "cpu"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "sequential engine.fit" in out and "batched program" in out
    assert out.count("trials/s") == 2 and "ratio" in out
    assert "agreement: 3/3 trials with the same reason and epochs" in out
