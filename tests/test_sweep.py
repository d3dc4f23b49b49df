"""Sweeps against the real Optuna with SQLite: coverage, reproducibility, the right answer,
pruning, divergence, parallel workers, and an interrupted sweep continued by a real process."""

from __future__ import annotations

import json
import math
import signal
import subprocess
from pathlib import Path

import optuna

from engine.runs.store import list_runs, read_status
from engine.sweep.run import run_sweep
from engine.sweep.spec import load_sweep
from tests import warm_process
from tests.eventually import eventually
from tests.runs_helpers import epochs_logged
from tests.test_sweep_spec import ROOT, spec_file, sweep_cmd

SMALL = ["data.n_samples=200", "train.device=cpu", "train.epochs=30"]
"""A small, quick problem: 3 standardised features, full-batch SGD on MSE."""


def trial_training(runs: Path, number: int) -> Path | None:
    """The run directory of trial ``number`` once it has logged an epoch (it is training)."""
    for run in list_runs(runs):
        if run.status.get("trial") == number and epochs_logged(run.path) > 0:
            return run.path
    return None


def sweep(tmp_path: Path, text: str, *overrides: str, runs: str = "runs", **kw):
    setup = load_sweep("default", spec_file(tmp_path, text), [*SMALL, *overrides], **kw)
    return run_sweep(setup, tmp_path / runs)


def test_grid_covers_the_grid_finds_the_known_best_lr_and_records_divergence(tmp_path):
    # Full-batch gradient descent on MSE with standardised features: the Hessian is ~2·I, so
    # lr 0.5 is about optimal, 1e-4 and 1e-2 barely move in 30 epochs, and lr 5 (> 1) diverges.
    out = sweep(
        tmp_path,
        "params: {optim.lr: [1.0e-4, 1.0e-2, 0.5, 5]}\nsampler: grid\npruning: false",
        parallel=1,
    )
    by_lr = {r.params["optim.lr"]: r for r in out.table}
    assert sorted(by_lr) == [1e-4, 1e-2, 0.5, 5] and len(out.table) == 4  # each point once
    assert out.best.params == {"optim.lr": 0.5} and out.best.state == "complete"
    assert by_lr[5].state == "diverged" and by_lr[5].value == math.inf
    assert by_lr[1e-4].value > by_lr[1e-2].value > by_lr[0.5].value
    assert out.importances is None and "only optim.lr" in out.importances_note
    # every trial is a normal run in the store, tagged with its study
    runs = {info.status["trial"]: info for info in list_runs(tmp_path / "runs")}
    assert sorted(runs) == [0, 1, 2, 3]
    assert {info.status["study"] for info in runs.values()} == {out.study_name}
    diverged = runs[by_lr[5].number].status
    assert (diverged["reason"], diverged["trial_state"]) == ("diverged", "diverged")
    # the study is in SQLite next to the runs and says the same
    study = optuna.load_study(
        study_name=out.study_name, storage=f"sqlite:///{tmp_path / 'runs' / 'sweeps.db'}"
    )
    assert len(study.trials) == 4 and study.best_trial.params == {"optim.lr": 0.5}
    # running the same sweep again continues the (finished) study: nothing new runs
    again = sweep(
        tmp_path,
        "params: {optim.lr: [1.0e-4, 1.0e-2, 0.5, 5]}\nsampler: grid\npruning: false",
        parallel=1,
    )
    assert again.ran == 0 and len(again.table) == 4


def test_random_and_tpe_with_a_seed_are_reproducible(tmp_path):
    text = (
        "params:\n  optim.lr: {low: 0.01, high: 1, log: true}\n"
        "  optim.momentum: {low: 0.0, high: 0.9}\n"
        "trials: 3\npruning: false\nseed: 3\nsampler: "
    )
    for sampler in ("random", "tpe"):
        a = sweep(tmp_path, text + sampler, "train.epochs=3", runs=f"{sampler}-a", parallel=1)
        b = sweep(tmp_path, text + sampler, "train.epochs=3", runs=f"{sampler}-b", parallel=1)
        pa, pb = [r.params for r in a.table], [r.params for r in b.table]
        assert pa == pb and len(pa) == 3
        assert len({p["optim.lr"] for p in pa}) == 3  # really sampled, not one value
        assert a.importances is not None and set(a.importances) == {"optim.lr", "optim.momentum"}
    other = sweep(
        tmp_path,
        text.replace("seed: 3", "seed: 4") + "random",
        "train.epochs=3",
        runs="other",
        parallel=1,
    )
    assert [r.params for r in other.table] != pa


def test_pruning_stops_a_clearly_worse_trial_early(tmp_path):
    out = sweep(
        tmp_path,
        "params: {optim.lr: [0.3, 0.5, 1.0e-4]}\nsampler: grid\n"
        "pruning: {startup_trials: 2, warmup_epochs: 2}",
        "train.epochs=200",
        "early_stopping.enabled=false",
        parallel=1,
    )
    by_lr = {r.params["optim.lr"]: r for r in out.table}
    assert by_lr[0.3].state == by_lr[0.5].state == "complete"
    assert by_lr[0.3].epochs == 200
    slow = by_lr[1e-4]
    assert slow.state == "pruned" and slow.epochs <= 4  # judged at epoch 2 or 3, not 200
    status = read_status(Path(next(r.run for r in out.table if r.number == slow.number)))
    assert (status["reason"], status["trial_state"]) == ("cancelled", "pruned")
    assert "stopped by the pruner" in status["message"]


def test_parallel_workers_cover_a_grid_exactly_once(tmp_path):
    out = sweep(
        tmp_path,
        "params: {optim.lr: [0.05, 0.1, 0.2, 0.4]}\nsampler: grid\npruning: false",
        parallel=2,
    )
    assert out.ran == 4 and not out.errors
    assert sorted(r.params["optim.lr"] for r in out.table) == [0.05, 0.1, 0.2, 0.4]
    assert {r.state for r in out.table} == {"complete"}
    assert len({read_status(Path(r.run))["pid"] for r in out.table}) == 2  # two processes


def test_a_sweep_interrupted_by_sigint_continues_when_run_again(tmp_path):
    spec = spec_file(
        tmp_path, "params: {optim.lr: [0.1, 0.2, 0.3]}\nsampler: grid\npruning: false\nparallel: 1"
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
        "data.n_samples=5000",
        "--set",
        "train.epochs=300",
        "--set",
        "optim.batch_size=16",  # minibatches: a trial takes seconds, not ms
        "--batch",
        "1",
    ]  # one run per trial (batched trials: test_sweep_batched_study.py)
    proc = warm_process.popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    first = proc.stdout.readline()
    while not first.startswith("trial 0"):  # header lines, then the first finished trial
        assert first, proc.stderr.read()
        first = proc.stdout.readline()
    eventually(lambda: trial_training(tmp_path / "runs", 1), message="trial 1 to log an epoch")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "cancelled" in out and "Traceback" not in err
    assert "trial 2" not in out.split("\n\n")[0]  # no new trial started after the signal

    again = subprocess.run([*cmd, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    events = [json.loads(line) for line in again.stdout.splitlines()]
    assert events[0]["type"] == "SweepStarted" and events[0]["done"] == 1
    finished = [e for e in events if e["type"] == "TrialFinished"]
    assert len(finished) == 2  # only what was missing: the cancelled point and the last one
    summary = events[-1]
    assert summary["type"] == "SweepFinished"
    states = [t["state"] for t in summary["trials"]]
    assert states.count("complete") == 3 and states.count("cancelled") == 1
    done = sorted(t["params"]["optim.lr"] for t in summary["trials"] if t["state"] == "complete")
    assert done == [0.1, 0.2, 0.3]  # the grid, exactly once
    cancelled = next(t for t in summary["trials"] if t["state"] == "cancelled")
    assert read_status(Path(cancelled["run"]))["reason"] == "cancelled"
