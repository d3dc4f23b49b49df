"""Real headless training processes for the run-store tests: start, wait for epochs, signal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import warm_process
from tests.eventually import eventually

ROOT = Path(__file__).resolve().parents[1]
LONG = [
    "--set",
    "train.epochs=1000000",
    "--set",
    "early_stopping.enabled=false",
    "--set",
    "train.device=cpu",
]
"""A default-preset run that goes on until something stops it."""


def engine_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine", *args]


def env(runs: Path, **extra: str) -> dict[str, str]:
    """The environment of a child: its own runs folder, a checkpoint after every epoch."""
    return {**os.environ, "LINREG_TUI_RUNS_DIR": str(runs), "LINREG_TUI_CHECKPOINT_S": "0", **extra}


def start(
    runs: Path, *args: str, stdout: int | None = subprocess.PIPE, fresh: bool = False, **extra: str
) -> subprocess.Popen:
    """``python -m engine ARGS`` going, forked warm (:mod:`tests.warm_process`) unless
    ``fresh``: exec'd, where the test is about the command's start-up."""
    return warm_process.popen(
        engine_cmd(*args),
        fresh=fresh,
        cwd=ROOT,
        env=env(runs, **extra),
        text=True,
        stdout=stdout,
        stderr=subprocess.PIPE,
    )


def run(runs: Path, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess:
    """``python -m engine ARGS`` to its end, forked warm (:mod:`tests.warm_process`)."""
    return warm_process.run(
        engine_cmd(*args),
        cwd=ROOT,
        env=env(runs, **extra),
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def only_run(runs: Path, timeout: float = 60) -> Path:
    """The single run directory under ``runs`` (waiting for it to appear)."""

    def run_dirs() -> list[Path]:
        return [p for p in runs.iterdir() if p.is_dir()] if runs.exists() else []

    found = eventually(run_dirs, timeout, interval=0.05, message=f"a run directory in {runs}")
    assert len(found) == 1, found
    return found[0]


def epochs_logged(run_dir: Path) -> int:
    path = run_dir / "events.jsonl"
    if not path.exists():
        return 0
    return sum(
        1 for line in path.read_bytes().splitlines() if line.startswith(b'{"type":"EpochEnded"')
    )


def wait_for_epochs(run_dir: Path, n: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    """Wait until ``run_dir`` has logged ``n`` epochs; fail at once, with its output, if the
    process ``proc`` ends before that."""

    def reached() -> bool:
        alive = proc.poll() is None  # asked first: a process that logged n, then ended, passes
        if epochs_logged(run_dir) >= n:
            return True
        assert alive, proc.communicate()
        return False

    eventually(reached, timeout, message=f"{n} epochs logged in {run_dir}")


def last_event(run_dir: Path) -> dict:
    lines = [ln for ln in (run_dir / "events.jsonl").read_bytes().splitlines() if ln.strip()]
    return json.loads(lines[-1])
