"""The batched sweep's study record (engine/sweep/batch_store.py) against the real Optuna on
SQLite: ``kill -9`` of a real ``python -m engine sweep`` (and its forked worker) mid-batch keeps
every finished batch, running the command again redoes exactly the killed batch's values, and
the record reads back through Optuna's own API as an ask/tell sweep leaves it."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess

import optuna
from optuna.trial import TrialState

from engine.sweep.run import run_sweep
from engine.sweep.spec import load_sweep
from tests import warm_process
from tests.eventually import eventually
from tests.test_sweep_spec import ROOT, spec_file, sweep_cmd

TWO_PARAMS = (
    "params:\n  optim.lr: {low: 0.01, high: 0.5, log: true}\n"
    "  optim.momentum: {low: 0.0, high: 0.5}\n"
    "sampler: random\ntrials: 6\npruning: false\nseed: 3"
)


def test_kill_9_mid_batch_keeps_the_finished_batch_and_a_rerun_redoes_the_killed_one(tmp_path):
    spec = spec_file(tmp_path, TWO_PARAMS)
    cmd = [
        *sweep_cmd(),
        "default",
        "--sweep",
        spec,
        "--runs-dir",
        str(tmp_path / "runs"),
        "--batch",
        "2",
        *("--set", "train.device=cpu", "--set", "early_stopping.enabled=false"),
        *("--set", "data.n_samples=2000", "--set", "train.epochs=400"),
        *("--set", "optim.batch_size=16"),
    ]
    proc = warm_process.popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the forked worker dies with it
    )
    name = proc.stdout.readline().split()[1].rstrip(":")
    storage = f"sqlite:///{tmp_path / 'runs' / 'sweeps.db'}"

    def states() -> list[TrialState]:
        return [t.state for t in optuna.load_study(study_name=name, storage=storage).trials]

    # the first batch is recorded and the second one is training
    eventually(lambda: states().count(TrialState.COMPLETE) == 2 and len(states()) == 4, timeout=120)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    study = optuna.load_study(study_name=name, storage=storage)
    kept = {t.number: t for t in study.trials}
    assert [kept[n].state for n in (0, 1)] == [TrialState.COMPLETE] * 2
    assert all(math.isfinite(kept[n].value) for n in (0, 1))
    killed = [dict(kept[n].params) for n in (2, 3)]
    assert [kept[n].state for n in (2, 3)] == [TrialState.RUNNING] * 2  # nobody told them

    again = warm_process.run(
        [*cmd, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    events = [json.loads(line) for line in again.stdout.splitlines()]
    assert events[0]["done"] == 2  # the dead batch does not count
    assert events[-1]["state"] == "6/6 complete"
    trials = events[-1]["trials"]
    complete = [t["params"] for t in trials if t["state"] == "complete"]
    assert len(complete) == 6 and all(p in complete for p in killed)  # redone, same values
    assert [t["state"] for t in trials[2:4]] == ["cancelled", "cancelled"]


def test_the_record_reads_back_like_optunas_own_ask_and_tell(tmp_path):
    """Values, states, numbers, attributes and the best trial as Optuna's API reports them,
    and a second sweep of the same study continues its numbering."""
    text = TWO_PARAMS.replace("trials: 6", "trials: 5")
    overrides = ["data.n_samples=200", "train.device=cpu", "train.epochs=40"]
    setup = load_sweep("default", spec_file(tmp_path, text), overrides, parallel=1)
    out = run_sweep(setup, tmp_path / "runs", batch=3)
    assert out.ran == 5 and [r.number for r in out.table] == [0, 1, 2, 3, 4]
    study = optuna.load_study(
        study_name=out.study_name, storage=f"sqlite:///{tmp_path / 'runs' / 'sweeps.db'}"
    )
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert all(t.datetime_complete is not None for t in study.trials)
    assert [t.value for t in study.trials] == [r.value for r in out.table]
    assert {t.user_attrs["state"] for t in study.trials} == {"complete"}
    assert all(isinstance(t.user_attrs["pid"], int) for t in study.trials)
    assert study.best_trial.number == out.best.number
    assert study.best_trial.user_attrs["run"] == out.best.run  # the best one has a run dir
    assert (tmp_path / "runs" / os.path.basename(out.best.run) / "events.jsonl").exists()

    more = load_sweep(
        "default", spec_file(tmp_path, text.replace("trials: 5", "trials: 7")), overrides
    )
    again = run_sweep(more, tmp_path / "runs", batch=3)
    assert again.ran == 2 and [r.number for r in again.table] == list(range(7))
