"""Processes opening one new study database at the same moment all open it.

Found by the suite under load: the dashboard watching a sweep it had just started and the sweep's
own process both created the new SQLite file's tables, and the sweep that lost failed with
``UNIQUE constraint failed: alembic_version.version_num`` (or ``table studies already exists``).
Here four real processes, each with Optuna imported, open the same new database the moment a
file appears (before the fix every round of this lost at least one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.eventually import eventually
from tests.runs_helpers import ROOT

OPENER = """
import os, sys, time
from engine.sweep.study import open_storage, preload_storage
url, ready, go = sys.argv[1:]
preload_storage(url)
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
open_storage(url)
"""


def test_four_processes_opening_a_new_study_database_at_once_all_open_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, url, str(tmp_path / f"ready{i}"), str(go)],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    try:
        eventually(
            lambda: all((tmp_path / f"ready{i}").exists() for i in range(4)),
            timeout=60,
            message="the four processes to import Optuna",
        )
        go.touch()
        ended = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [code for code, _ in ended] == [0] * 4, [err[-300:] for _, err in ended]


def test_a_sweep_started_from_the_dashboard_says_why_its_database_cannot_open(
    tmp_path: Path,
) -> None:
    """The detached sweep (``engine.cli.sweep_launch``) whose study database cannot be opened
    writes one line to its log and exits 2, as ``linreg-tui sweep`` does (it wrote a traceback)."""
    import yaml

    from engine.cli import sweep_launch
    from engine.cli.sweep_launch import start_sweep

    base = yaml.safe_load((ROOT / "presets" / "default.yaml").read_text())
    section = base.pop("sweep")
    (tmp_path / "a-file").write_text("not a folder\n")
    job = start_sweep(
        base,
        str(ROOT / "presets"),
        section,
        tmp_path / "runs",
        storage_url=f"sqlite:///{tmp_path / 'a-file' / 'sweeps.db'}",
    )
    (proc,) = [p for p in sweep_launch._children if p.pid == job.pid]
    assert proc.wait(timeout=60) == 2
    log = job.path.with_suffix(".log").read_text()
    assert "Traceback" not in log, log
    assert log.strip().splitlines() == [log.strip()] and "cannot open the study database" in log
