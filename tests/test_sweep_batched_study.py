"""Batched and exact sweeps against the real Optuna with SQLite: the same values as one run
per trial, grid coverage, pruning, the exact path against closed-form ridge and training,
a real SIGINT to a real ``python -m engine sweep`` and its continuation, and the state lines."""

from __future__ import annotations

import json
import math
import signal
import subprocess
from pathlib import Path

import optuna
import pytest

from engine.config import parse_config
from engine.data.dataset import load_dataset
from engine.runs.store import list_runs
from engine.sweep.monitor import state_line
from engine.sweep.run import run_sweep, sweep_mode
from engine.sweep.spec import load_sweep
from engine.sweep.spec_params import with_values
from engine.sweep.study_table import Row
from engine.training.run import fit
from tests import warm_process
from tests.eventually import eventually
from tests.test_sweep_spec import ROOT, spec_file, sweep_cmd

SMALL = ["data.n_samples=200", "train.device=cpu", "train.epochs=60"]


def _sweep(tmp_path: Path, text: str, *overrides: str, runs: str, batch: int, **kw):
    setup = load_sweep("default", spec_file(tmp_path, text), [*SMALL, *overrides], parallel=1, **kw)
    return setup, run_sweep(setup, tmp_path / runs, batch=batch)


def test_batched_trials_equal_one_run_per_trial_for_the_same_sampled_values(tmp_path):
    text = (
        "params:\n  optim.lr: {low: 0.01, high: 0.9, log: true}\n"
        "  optim.momentum: {low: 0.0, high: 0.9}\n"
        "trials: 7\npruning: false\nseed: 5\nsampler: random"
    )
    setup, batched = _sweep(tmp_path, text, runs="batched", batch=3)
    assert sweep_mode(setup, 3) == "batched" and sweep_mode(setup, 1) == "runs"
    _, single = _sweep(tmp_path, text, runs="single", batch=1)
    assert [r.params for r in batched.table] == [r.params for r in single.table]
    assert len({r.params["optim.lr"] for r in batched.table}) == 7
    for b, s in zip(batched.table, single.table, strict=True):
        assert (b.state, b.epochs) == (s.state, s.epochs) == ("complete", s.epochs)
        assert b.value == pytest.approx(s.value, rel=1e-5, abs=1e-7)
    # a batched trial has no run directory unless it was a new best: the study's best has one
    runs = list_runs(tmp_path / "batched")
    assert 1 <= len(runs) < 7
    assert batched.best.run is not None and Path(batched.best.run).is_dir()
    assert {info.status["study"] for info in runs} == {batched.study_name}
    assert batched.best.number in {info.status["trial"] for info in runs}


def test_a_batched_grid_is_covered_exactly_once_and_a_rerun_runs_nothing(tmp_path):
    text = (
        "params:\n  optim.lr: [0.05, 0.2, 0.5]\n  optim.momentum: [0.0, 0.5]\n"
        "sampler: grid\npruning: false"
    )
    _, out = _sweep(tmp_path, text, runs="runs", batch=4)
    points = sorted((r.params["optim.lr"], r.params["optim.momentum"]) for r in out.table)
    assert points == [(lr, m) for lr in (0.05, 0.2, 0.5) for m in (0.0, 0.5)]
    assert all(r.state == "complete" for r in out.table)
    _, again = _sweep(tmp_path, text, runs="runs", batch=4)
    assert again.ran == 0 and len(again.table) == 6


def test_batched_pruning_reports_to_optuna_and_stops_clearly_worse_trials(tmp_path):
    # Three good learning rates finish first (batch 1 of 3); in the next batches the tiny ones
    # are far above the median at the warm-up epoch and are pruned there.
    text = (
        "params: {optim.lr: [0.3, 0.5, 0.4, 1.0e-4, 2.0e-4, 0.45]}\nsampler: grid\n"
        "pruning: {startup_trials: 2, warmup_epochs: 4}"
    )
    _, out = _sweep(
        tmp_path, text, "train.epochs=200", "early_stopping.enabled=false", runs="runs", batch=3
    )
    by_lr = {r.params["optim.lr"]: r for r in out.table}
    assert by_lr[1e-4].state == by_lr[2e-4].state == "pruned"
    assert by_lr[1e-4].epochs == 4  # pruned at the first report epoch from the warm-up on
    assert by_lr[0.45].state == "complete" and by_lr[0.45].epochs == 200
    study = optuna.load_study(
        study_name=out.study_name, storage=f"sqlite:///{tmp_path / 'runs' / 'sweeps.db'}"
    )
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert len(pruned) == 2
    assert all(sorted(t.intermediate_values) == [1, 2, 3, 4] for t in pruned)


def test_an_l2_sweep_on_mse_is_solved_exactly_closed_form_and_trained(tmp_path):
    text = "params: {loss.l2: [0.01, 0.1, 1.0]}\nsampler: grid\npruning: false"
    setup, out = _sweep(tmp_path, text, runs="runs", batch=8)
    assert sweep_mode(setup, 8) == "exact"
    assert all(r.state == "complete" and r.epochs == 0 for r in out.table)
    assert list_runs(tmp_path / "runs") == []  # nothing trained
    ds = load_dataset(setup.config)
    from sklearn.linear_model import Ridge

    x, y = ds.train.x.double().numpy(), ds.train.y.double().numpy()
    xv, yv = ds.val.x.double().numpy(), ds.val.y.double().numpy()
    for row in out.table:
        lam = row.params["loss.l2"]
        # the engine's objective mean(r²) + λ·Σw² is scikit-learn's Σr² + (n·λ)·Σw²
        model = Ridge(alpha=len(y) * lam, tol=1e-12).fit(x, y)
        r = yv - model.predict(xv)
        expected = float((r * r).mean() + lam * (model.coef_**2).sum())
        assert row.value == pytest.approx(expected, rel=1e-9)
    # and training that trial to convergence lands on the same validation loss
    lam = 0.1
    raw = with_values(
        setup.base,
        {"loss.l2": lam, "train.epochs": 3000, "optim.lr": 0.4, "early_stopping.enabled": False},
    )
    fin = fit(parse_config(raw, base_dir=setup.base_dir)).finished
    exact = next(r.value for r in out.table if r.params["loss.l2"] == lam)
    assert fin.val_loss == pytest.approx(exact, rel=1e-5)


def test_an_l1_sweep_matches_training_to_convergence(tmp_path):
    text = "params: {loss.l1: [0.02, 0.2]}\nsampler: grid\npruning: false"
    setup, out = _sweep(tmp_path, text, runs="runs", batch=8)
    assert sweep_mode(setup, 8) == "exact"
    for row in out.table:
        raw = with_values(
            setup.base,
            {
                "loss.l1": row.params["loss.l1"],
                "train.epochs": 4000,
                "optim.lr": 0.05,
                "early_stopping.enabled": False,
            },
        )
        fin = fit(parse_config(raw, base_dir=setup.base_dir)).finished
        assert fin.val_loss == pytest.approx(row.value, rel=1e-3)  # subgradient steps jitter


def test_state_lines_count_done_trials_against_the_total():
    def rows(*states: str) -> list[Row]:
        return [Row(i, {}, 1.0, 1, s, None, None) for i, s in enumerate(states)]

    assert state_line(rows("complete", "pruned", "diverged"), 3) == "3/3 complete"
    assert state_line(rows("complete", "cancelled"), 3, stopped=True) == "stopped at 1/3"
    assert state_line(rows("complete", "queued"), 3) == "stopped at 1/3"
    assert (
        state_line(rows("complete", "failed", "complete"), 3, stopped=True) == "stopped at 3/3"
    )  # a signal after the last trial: still a stop


def test_a_batched_sweep_interrupted_by_sigint_requeues_and_continues(tmp_path):
    spec = spec_file(
        tmp_path,
        "params:\n  optim.lr: {low: 0.01, high: 0.5, log: true}\n"
        "sampler: random\ntrials: 6\npruning: false\nseed: 2",
    )
    cmd = [
        *sweep_cmd(),
        "default",
        "--sweep",
        spec,
        "--runs-dir",
        str(tmp_path / "runs"),
        "--set",
        "train.device=cpu",
        "--set",
        "early_stopping.enabled=false",
        "--set",
        "data.n_samples=2000",
        "--set",
        "train.epochs=400",
        "--set",
        "optim.batch_size=16",
        "--batch",
        "2",
    ]
    proc = warm_process.popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    name = proc.stdout.readline().split()[1].rstrip(":")  # "sweep <study>: …"
    storage = f"sqlite:///{tmp_path / 'runs' / 'sweeps.db'}"
    # the first batch is told and the second is training: 4 trials in the study
    eventually(
        lambda: len(optuna.load_study(study_name=name, storage=storage).trials) >= 4, timeout=120
    )
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "stopped at 2/6" in out
    again = warm_process.run(
        [*cmd, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    events = [json.loads(line) for line in again.stdout.splitlines()]
    assert events[0]["done"] == 2 and events[-1]["state"] == "6/6 complete"
    trials = events[-1]["trials"]
    cancelled = [t["params"] for t in trials if t["state"] == "cancelled"]
    complete = [t["params"] for t in trials if t["state"] == "complete"]
    assert len(cancelled) == 2 and len(complete) == 6
    assert all(p in complete for p in cancelled)  # the cancelled values were queued again
    assert all(math.isfinite(t["value"]) for t in trials if t["state"] == "complete")


def test_runs_fold_a_studys_trial_runs_into_one_line_unless_all(tmp_path):
    from engine.sweep.grouping import StudyGroup, group_runs

    text = "params: {optim.lr: [0.05, 0.5]}\nsampler: grid\npruning: false"
    _, out = _sweep(tmp_path, text, runs="runs", batch=1)  # one run directory per trial
    infos = list_runs(tmp_path / "runs")
    folded = group_runs(infos)
    assert len(folded) == 1 and isinstance(folded[0], StudyGroup)
    group = folded[0]
    assert group.study == out.study_name and len(group.trials) == 2
    assert group.best().status["trial"] == out.best.number
    assert group.line().startswith(
        f"study {out.study_name}: 2 trial runs, best trial {out.best.number} value "
    )
    everything = group_runs(infos, show_all=True)
    assert everything[0].study == group.study
    assert [i.id for i in everything[1:]] == [i.id for i in group.trials]  # by trial number
    assert {i.id for i in everything[1:]} == {i.id for i in infos}
    assert all(i.status["study"] == out.study_name for i in everything[1:])
