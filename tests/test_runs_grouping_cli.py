"""`linreg-tui runs` folds a sweep's trial runs into one line per study; `--all` lists them,
a pruned trial reads as pruned, and `--filter` counts the trial runs that match."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.runs.status import write_status
from engine.runs.table import short_id
from tests import warm_process


def _cli(*argv: str, runs: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LINREG_TUI_RUNS_DIR": str(runs)}
    return warm_process.run(
        [sys.executable, "-m", "engine", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], str]:
    """A real 3-trial sweep (one run directory per trial) and one lone run."""
    runs = tmp_path_factory.mktemp("swept")
    sweep = _cli(
        "sweep", "default", "--batch", "1", "--trials", "3", "--set", "train.epochs=20", runs=runs
    )
    assert sweep.returncode == 0, sweep.stderr
    alone = _cli("train", "default", "--set", "train.epochs=5", runs=runs)
    assert alone.returncode == 0, alone.stderr
    trials = sorted(p.name for p in runs.iterdir() if "-t" in p.name.split("default")[-1])
    lone = next(p.name for p in runs.iterdir() if p.is_dir() and p.name not in trials)
    assert len(trials) == 3
    return runs, trials, lone


def test_a_sweeps_trials_fold_under_their_study(swept: tuple[Path, list[str], str]) -> None:
    runs, trials, lone = swept
    folded = _cli("runs", "--width", "0", runs=runs).stdout.splitlines()
    assert len(folded) == 3  # header, the study, the lone run (nothing hidden at no limit)
    assert any(line.startswith("study ") and "3 trial runs" in line for line in folded)
    assert lone in "\n".join(folded)
    assert not any(name in "\n".join(folded) for name in trials)

    everything = _cli("runs", "--all", "--width", "0", runs=runs).stdout.splitlines()
    assert all(any(line.startswith(f"└ {name}") for line in everything) for name in trials)
    study_at = next(i for i, line in enumerate(everything) if line.startswith("study "))
    assert all(everything[study_at + k].startswith("└ ") for k in (1, 2, 3))


def test_a_pruned_trial_reads_as_pruned_and_filters_count_matching_trials(
    swept: tuple[Path, list[str], str], tmp_path: Path
) -> None:
    runs, trials, _ = swept
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    write_status(copy / trials[0], trial_state="pruned")  # what a pruned trial's runner writes
    folded = _cli("runs", "--width", "0", runs=copy).stdout
    assert "3 trial runs, 1 pruned" in folded
    listed = _cli("runs", "--all", "--width", "0", runs=copy).stdout
    pruned_line = next(line for line in listed.splitlines() if trials[0] in line)
    assert re.search(r"pruned at epoch \d+", pruned_line)

    only = _cli("runs", "--filter", "state=pruned", "--all", "--json", runs=copy)
    assert only.returncode == 0, only.stderr
    rows = [json.loads(line) for line in only.stdout.splitlines()]
    assert rows[0]["trial_runs"] == [trials[0]] and rows[0]["status"] == "1 trial run, 1 pruned"
    assert [r["id"] for r in rows[1:]] == [trials[0]]
    assert rows[1]["trial_state"] == "pruned"

    at_80 = _cli("runs", "--all", "--width", "80", runs=copy).stdout.splitlines()
    assert all(len(line) <= 80 for line in at_80)
    assert any(line.startswith(f"└ {short_id(trials[0])}") for line in at_80)
