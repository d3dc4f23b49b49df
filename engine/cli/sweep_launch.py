"""A sweep started from settings in hand (the dashboard's form), in a process of its own session.

The dashboard's sweep screen has a preset *mapping* (the form, with the folder its relative
paths resolve from) and a spec mapping typed in a field, not a preset file, so it cannot just
run ``linreg-tui sweep PRESET``. It writes both to a job file under ``RUNS/.sweeps/`` and
starts ``python -m engine.cli.sweep_launch JOB`` with ``start_new_session=True``: a closed
dashboard or a dropped SSH connection does not reach it, exactly as for a dashboard run. The
job runs as ``linreg-tui sweep`` would (same study name, same output, written to ``JOB.log``);
the job file also keeps the sweep's pid, so a later dashboard can find the sweep and stop it
(SIGINT: the clean stop of :mod:`engine.sweep.run`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.runs.files import atomic_write
from engine.runs.status import pid_alive
from engine.sweep.spec import SweepSetup, setup_from_raw

JOBS_DIR = ".sweeps"
"""Under the runs folder; a dotted name, so ``runs`` and ``list_runs`` skip it."""
SPEC_WHERE = "search space"


@dataclass(frozen=True)
class SweepJob:
    """A sweep started (or found) by :func:`start_sweep`: its study, its process, its files."""

    study_name: str
    pid: int | None
    path: Path
    """The job file (``.json``); the sweep's output goes to the same name with ``.log``."""

    @property
    def log(self) -> Path:
        return self.path.with_suffix(".log")

    @property
    def running(self) -> bool:
        return pid_alive(self.pid)


def check(base: dict[str, Any], base_dir: str, section: Any) -> SweepSetup:
    """The sweep these settings and this spec make (ConfigError, one line, if they are bad)."""
    return setup_from_raw(base, base_dir, section, spec_where=SPEC_WHERE)


def start_sweep(
    base: dict[str, Any],
    base_dir: str,
    section: Any,
    runs_root: Path,
    storage_url: str | None = None,
    batch: int = 1,
) -> SweepJob:
    """Check, write the job file, start the detached sweep process and return its job.

    ``batch``: trials asked at once (``linreg-tui sweep --batch``); 1 is one run directory per
    trial, 0 the CLI's default (:func:`engine.sweep.batch_work.batch_size`), which the sweep
    screen passes: it reads trials from the study, not from their run directories."""
    setup = check(base, base_dir, section)
    jobs = runs_root / JOBS_DIR
    jobs.mkdir(parents=True, exist_ok=True)
    path = jobs / f"{setup.study_name}.json"
    job = {
        "base": base,
        "base_dir": base_dir,
        "section": section,
        "storage": storage_url,
        "study": setup.study_name,
        "pid": None,
        "batch": batch,
    }
    atomic_write(path, json.dumps(job).encode())
    with open(path.with_suffix(".log"), "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli.sweep_launch", str(path), str(runs_root)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _children.append(proc)
    atomic_write(path, json.dumps({**job, "pid": proc.pid}).encode())
    return SweepJob(setup.study_name, proc.pid, path)


_children: list[subprocess.Popen[bytes]] = []
"""Sweeps this process started: polled by :func:`reap` so a finished one is not a zombie."""


def reap() -> None:
    """Collect the exit status of sweeps this process started that have ended."""
    _children[:] = [p for p in _children if p.poll() is None]


def latest_job(runs_root: Path) -> SweepJob | None:
    """The most recently started sweep job under ``runs_root`` (None when there is none)."""
    reap()
    jobs = runs_root / JOBS_DIR
    files = sorted(jobs.glob("*.json"), key=lambda p: p.stat().st_mtime) if jobs.is_dir() else []
    for path in reversed(files):
        try:
            job = json.loads(path.read_text())
            return SweepJob(str(job["study"]), job.get("pid"), path)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def stop(job: SweepJob) -> bool:
    """Ask the sweep to stop (SIGINT: the trial in flight is cancelled and queued again, the
    study kept); False when it is not running."""
    if not job.running:
        return False
    try:
        os.kill(job.pid, signal.SIGINT)  # type: ignore[arg-type]
    except ProcessLookupError:
        return False
    return True


def main(argv: list[str]) -> int:
    """``python -m engine.cli.sweep_launch JOB RUNS``: run the job's sweep (exit codes as
    ``linreg-tui sweep``)."""
    from engine.cli.common import guarded
    from engine.cli.sweep import run_setup
    from engine.config import ConfigError

    path, runs_root = Path(argv[0]), Path(argv[1])
    try:
        job = json.loads(path.read_text())
        setup = check(job["base"], job["base_dir"], job["section"])
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as exc:
        print(f"error: sweep job {path}: {exc}", file=sys.stderr)
        return 2
    batch = job.get("batch", 1)
    return guarded(  # one line in the job's log, as `linreg-tui sweep` prints, never a traceback
        lambda: run_setup(
            setup,
            runs_root,
            job.get("storage"),
            batch=batch if isinstance(batch, int) and batch >= 0 else 1,
        )
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
