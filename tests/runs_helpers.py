"""Real headless training processes for the run-store tests: start, wait for epochs, signal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

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
    runs: Path, *args: str, stdout: int | None = subprocess.PIPE, **extra: str
) -> subprocess.Popen:
    return subprocess.Popen(
        engine_cmd(*args),
        cwd=ROOT,
        env=env(runs, **extra),
        text=True,
        stdout=stdout,
        stderr=subprocess.PIPE,
    )


def run(runs: Path, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        engine_cmd(*args),
        cwd=ROOT,
        env=env(runs, **extra),
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def only_run(runs: Path, timeout: float = 60) -> Path:
    """The single run directory under ``runs`` (waiting for it to appear)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in runs.iterdir() if p.is_dir()] if runs.exists() else []
        if found:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no run directory appeared in {runs}")


def epochs_logged(run_dir: Path) -> int:
    path = run_dir / "events.jsonl"
    if not path.exists():
        return 0
    return sum(
        1 for line in path.read_bytes().splitlines() if line.startswith(b'{"type":"EpochEnded"')
    )


def wait_for_epochs(run_dir: Path, n: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while epochs_logged(run_dir) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"fewer than {n} epochs after {timeout} s"
        time.sleep(0.02)


def last_event(run_dir: Path) -> dict:
    lines = [ln for ln in (run_dir / "events.jsonl").read_bytes().splitlines() if ln.strip()]
    return json.loads(lines[-1])
