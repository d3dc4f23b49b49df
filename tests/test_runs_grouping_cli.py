"""`linreg-tui runs` folds a sweep's trial runs into one line per study; `--all` lists them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _cli(*argv: str, runs: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LINREG_TUI_RUNS_DIR": str(runs)}
    return subprocess.run(
        [sys.executable, "-m", "engine", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_a_sweeps_trials_fold_under_their_study(tmp_path: Path) -> None:
    sweep = _cli(
        "sweep",
        "default",
        "--batch",
        "1",
        "--trials",
        "3",
        "--set",
        "train.epochs=20",
        runs=tmp_path,
    )
    assert sweep.returncode == 0, sweep.stderr
    alone = _cli("train", "default", "--set", "train.epochs=5", runs=tmp_path)
    assert alone.returncode == 0, alone.stderr
    trial_dirs = [p.name for p in tmp_path.iterdir() if "-t" in p.name.split("default")[-1]]
    assert len(trial_dirs) == 3

    folded = _cli("runs", runs=tmp_path).stdout.splitlines()
    assert len(folded) == 3  # header, the study, the lone run
    assert any(line.startswith("study ") and "3 trial runs" in line for line in folded)
    assert not any(name in "\n".join(folded) for name in trial_dirs)

    everything = _cli("runs", "--all", runs=tmp_path).stdout
    assert all(name in everything for name in trial_dirs)
