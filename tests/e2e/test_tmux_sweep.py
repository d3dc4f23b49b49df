"""End to end in a real terminal: a sweep started from the dashboard's sweep screen (``w``)
outlives the dashboard (its terminal closed), and a new dashboard shows the finished study.

The search space comes from the preset's ``sweep:`` section, which the screen's field shows: typing
a long space through tmux under CI load lost or reordered keys (keys that reach the table before
the field has the focus are the screen's bindings), which Pilot tests of typing in
``tests/tui/test_sweep_screen.py`` cover without a terminal. Reuses the helpers of
``tests/e2e/test_tmux.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import optuna
import pytest

from engine.cli.sweep_launch import latest_job
from engine.runs.store import pid_alive
from tests.e2e.test_tmux import SCRIPT, TMUX, Tmux, _ended, _wait, tmux  # noqa: F401

pytestmark = [
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed"),
    pytest.mark.skipif(not SCRIPT.exists(), reason=f"{SCRIPT} not installed"),
]
PRESET = """\
name: sweep4
seed: 0
data: {source: synthetic, n_samples: 200, n_features: 3, noise: 0.5, val_fraction: 0.2}
loss: {name: mse}
optim: {name: sgd, lr: 0.05}
train: {epochs: 1500, device: cpu}
early_stopping: {enabled: false}
sweep:
  params: {optim.lr: [1.0e-3, 0.01, 0.1, 0.5]}
  sampler: grid
  parallel: 1
  pruning: false
"""


def complete_trials(runs: Path) -> int:
    db = runs / "sweeps.db"
    if not db.exists():
        return 0
    storage = f"sqlite:///{db}"
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if not names:
        return 0
    study = optuna.load_study(study_name=names[0], storage=storage)
    return sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def test_a_sweep_started_in_the_dashboard_outlives_it_and_shows_again(
    tmux: Tmux,  # noqa: F811
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    preset = tmp_path / "sweep4.yaml"
    preset.write_text(PRESET)
    cmd = f"{SCRIPT} {preset}"
    tmux("new-session", "-d", "-s", "app", "-x", "80", "-y", "24", cmd)
    tmux.wait_for(lambda s: "Sweep" in s and "Settings" in s, timeout=30)
    dashboard = tmux.pane_pid()
    try:
        tmux("send-keys", "-t", "app", "w")
        screen = tmux.wait_for(lambda s: "s Start" in s and "esc Back" in s, timeout=30)
        assert "sampler: grid" in screen, "the field shows the preset's search space"
        tmux("send-keys", "-t", "app", "s")
        tmux.wait_for(lambda s: "started sweep" in s or "complete" in s, timeout=30)
        screen = tmux.wait_for(lambda s: "complete" in s, timeout=120)  # live in the table
        assert "best val_loss" in screen

        tmux("kill-session", "-t", "app")  # the terminal goes away: SIGHUP to the dashboard
        _wait(lambda: _ended(dashboard), 10, "the dashboard to exit on hangup")
        job = latest_job(runs)
        assert job is not None
        _wait(lambda: complete_trials(runs) == 4, 240, "the sweep to finish without it")
        _wait(lambda: not pid_alive(job.pid), 30, "the sweep process to end")

        tmux("new-session", "-d", "-s", "app", "-x", "80", "-y", "24", cmd)
        tmux.wait_for(lambda s: "Sweep" in s and "Settings" in s, timeout=30)
        tmux("send-keys", "-t", "app", "w")
        screen = tmux.wait_for(lambda s: "4/4 complete" in s, timeout=30)  # the state line
        assert job.study_name in screen and screen.count("complete") == 5  # and 4 table rows
        tmux("send-keys", "-t", "app", "Escape")
        tmux.wait_for(lambda s: "Settings" in s, timeout=10)
        dashboard = tmux.pane_pid()
        tmux("send-keys", "-t", "app", "q")
        _wait(lambda: _ended(dashboard), 10, "q to quit")
    finally:
        job = latest_job(runs)
        if job is not None and pid_alive(job.pid):  # a failed test leaves no sweep going
            with contextlib.suppress(OSError, TypeError):
                os.kill(job.pid, signal.SIGKILL)
