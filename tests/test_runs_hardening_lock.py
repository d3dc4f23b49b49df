"""One writer per run (issue 20, cases 2-4), with real processes, real ``flock`` and real pids:
``train --run-dir`` never overwrites a run, a second ``resume`` of a running run is refused at
once, a free lock means a dead writer, and a reused pid is not the run's process."""

# ruff: noqa: F811 - the kit's fixtures are imported, then named as test arguments

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.runs import lock
from engine.runs.status import RunStatus, pid_alive
from tests.runs_hardening_kit import (  # noqa: F401 - fixtures
    SHORT,
    canary,
    copy_run,
    finished,
    refused,
    status_of,
    tree_hash,
)
from tests.runs_helpers import LONG, epochs_logged, run, start, wait_for_epochs


def test_train_run_dir_refuses_a_finished_run_and_a_folder_of_files(
    tmp_path: Path, finished: Path
) -> None:
    runs = tmp_path / "runs"
    existing = copy_run(finished, runs)
    before = tree_hash(existing)
    refused(
        run(runs, "train", *SHORT, "--run-dir", str(existing)), "not empty", "linreg-tui resume"
    )
    assert tree_hash(existing) == before  # its model is not lost
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("mine\n")
    refused(run(runs, "train", *SHORT, "--run-dir", str(notes)), "not empty", "a.txt")
    assert [p.name for p in notes.iterdir()] == ["a.txt"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    refused(run(runs, "train", *SHORT, "--run-dir", str(afile)), "not a directory")
    assert afile.read_text() == "x"


def test_train_run_dir_accepts_a_new_an_empty_and_a_prepared_directory(tmp_path: Path) -> None:
    for target in (tmp_path / "new" / "run", tmp_path / "empty"):
        if target.name == "empty":
            target.mkdir()
        proc = run(tmp_path / "runs", "train", *SHORT, "--run-dir", str(target))
        assert proc.returncode == 0, proc.stderr
        assert status_of(target)["state"] == "finished"
    prepared = tmp_path / "prepared"  # what the dashboard hands its trainer (config, log)
    prepared.mkdir()
    first = run(tmp_path / "runs", "train", *SHORT, "--run-dir", str(tmp_path / "src"))
    assert first.returncode == 0, first.stderr
    (prepared / "config.yaml").write_bytes((tmp_path / "src" / "config.yaml").read_bytes())
    (prepared / "trainer.log").touch()
    (prepared / ".status.json.99999.tmp").touch()  # the dashboard's status, being written
    proc = run(
        tmp_path / "runs", "train", str(prepared / "config.yaml"), "--run-dir", str(prepared)
    )
    assert proc.returncode == 0, proc.stderr
    assert status_of(prepared)["state"] == "finished"


def test_train_run_dir_refuses_a_users_own_config_or_log(tmp_path: Path) -> None:
    """Only the dashboard's prepared config.yaml (the preset being trained, as the engine
    writes it) may sit in a --run-dir: a user's own config.yaml or trainer.log is kept."""
    runs = tmp_path / "runs"
    cases = {"config.yaml": "my: precious\n", "trainer.log": "my own log\n"}
    for name, text in cases.items():
        proj = tmp_path / f"proj-{name}"
        proj.mkdir()
        (proj / name).write_text(text)
        refused(run(runs, "train", *SHORT, "--run-dir", str(proj)), "not empty", name)
        assert [p.name for p in proj.iterdir()] == [name] and (proj / name).read_text() == text
    own = tmp_path / "own"  # a preset the user wrote, trained from where it lies: still theirs
    own.mkdir()
    preset = "name: own\ntrain: {epochs: 3}\n"
    (own / "config.yaml").write_text(preset)
    proc = run(runs, "train", str(own / "config.yaml"), "--run-dir", str(own))
    refused(proc, "not empty", "config.yaml")
    assert [p.name for p in own.iterdir()] == ["config.yaml"]
    assert (own / "config.yaml").read_text() == preset


def test_a_second_resume_of_a_running_run_is_refused_at_once(tmp_path: Path, canary: Path) -> None:
    runs = tmp_path / "runs"
    first = start(runs, "train", *LONG, "--set", "train.epochs=4")
    assert first.wait(timeout=120) == 0, first.communicate()
    run_dir = next(runs.iterdir())
    going = start(runs, "resume", run_dir.name, "--set", "train.epochs=1000000")
    try:
        wait_for_epochs(run_dir, 8, going)
        assert status_of(run_dir)["pid"] == going.pid
        before = (run_dir / "checkpoint.pt").exists()
        began = time.monotonic()
        second = run(runs, "resume", run_dir.name, "--set", "train.epochs=2000000")
        took = time.monotonic() - began
        refused(second, "still running (another process holds")
        assert took < 20 and before
        refused(run(runs, "train", *SHORT, "--run-dir", str(run_dir)), "not empty")
        refused(run(runs, "runs", "rm", "-y", run_dir.name), "still running")
        assert RunStatus.read(run_dir).run_state == "running"
    finally:
        going.kill()  # no handler runs: the kernel drops the lock
        going.communicate(timeout=30)
    assert status_of(run_dir)["state"] == "running"  # as the dead writer left it
    assert RunStatus.read(run_dir).run_state == "crashed"  # its lock is free
    total = epochs_logged(run_dir) + 3
    again = run(runs, "resume", run_dir.name, "--set", f"train.epochs={total}")
    assert again.returncode == 0, again.stderr
    assert status_of(run_dir)["state"] == "finished" and epochs_logged(run_dir) == total


HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
"""


@contextlib.contextmanager
def _another_writer(run_dir: Path) -> Iterator[None]:
    """While the block runs, another process holds ``run_dir``'s writer lock (exclusively)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir / lock.LOCK_NAME)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        yield
    finally:
        holder.communicate("\n", timeout=30)


def _status(run_dir: Path, **fields: object) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    data = {"format": 1, "state": "running", "host": socket.gethostname(), **fields}
    (run_dir / "status.json").write_text(json.dumps(data))


def test_the_lock_tells_a_live_writer_from_a_dead_one(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "20260101-000000-default-aaaaaa"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _status(run_dir, pid=gone.pid)
    with _another_writer(run_dir):
        # the pid in the status is gone, but a process holds the run's lock: a live writer
        assert RunStatus.read(run_dir).run_state == "running"
        assert lock.held_elsewhere(run_dir) is True
        with pytest.raises(Exception, match="is still running"):
            lock.acquire(run_dir)
    # the lock is free now, though the status names a live process (this one): no writer
    _status(run_dir, pid=os.getpid())
    assert lock.held_elsewhere(run_dir) is False
    assert RunStatus.read(run_dir).run_state == "crashed"
    with lock.holding(run_dir):
        assert RunStatus.read(run_dir).run_state == "running"  # this process is its writer


PROBE = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_SH)
print("probing", flush=True)
time.sleep(1.0)
"""


def test_a_writer_waits_out_a_readers_probe_and_refuses_a_writer_at_once(tmp_path: Path) -> None:
    """A reader's probe (a shared lock: the dashboard following the run, ``runs``) that a loaded
    machine stalls for a second does not refuse the writer starting then; a writer holding the
    lock is refused without waiting."""
    run_dir = tmp_path / "runs" / "20260101-000000-default-cccccc"
    run_dir.mkdir(parents=True)
    (run_dir / lock.LOCK_NAME).touch()
    reader = subprocess.Popen(
        [sys.executable, "-c", PROBE, str(run_dir / lock.LOCK_NAME)], stdout=subprocess.PIPE
    )
    assert reader.stdout is not None and reader.stdout.readline() == b"probing\n"
    with lock.holding(run_dir):  # the writer waits for the reader to let go
        assert reader.poll() is not None
        assert lock.held_elsewhere(run_dir) is False
    reader.wait(timeout=30)

    with _another_writer(run_dir):
        began = time.monotonic()
        with pytest.raises(Exception, match="is still running"):
            lock.acquire(run_dir)
        assert time.monotonic() - began < lock.READERS_S / 2  # told apart, not waited out


def test_a_reused_pid_is_not_the_runs_process(tmp_path: Path) -> None:
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.readline()"], stdin=subprocess.PIPE
    )
    try:
        start_ticks = lock.process_start(other.pid)
        if sys.platform.startswith("linux"):
            assert isinstance(start_ticks, int)
            stat = Path(f"/proc/{other.pid}/stat").read_text().rsplit(")", 1)[1].split()
            assert int(stat[19]) == start_ticks  # field 22 of /proc/PID/stat
        run_dir = tmp_path / "runs" / "20260101-000000-default-bbbbbb"
        _status(run_dir, pid=other.pid)  # an old status, no start time: the pid decides
        assert RunStatus.read(run_dir).run_state == "running"
        if start_ticks is not None:
            _status(run_dir, pid=other.pid, pid_start=start_ticks)
            assert RunStatus.read(run_dir).run_state == "running"
            # the same pid, started at another time: the run's process is gone
            _status(run_dir, pid=other.pid, pid_start=start_ticks - 1)
            assert RunStatus.read(run_dir).run_state == "crashed"
            assert not pid_alive(other.pid, start_ticks - 1) and pid_alive(other.pid)
    finally:
        assert other.stdin is not None
        other.stdin.close()
        other.wait(timeout=30)


def test_a_run_records_its_writers_start_time(tmp_path: Path, finished: Path) -> None:
    status = status_of(finished)
    assert isinstance(status["pid"], int)
    if sys.platform.startswith("linux"):
        assert isinstance(status["pid_start"], int) and status["pid_start"] > 0
    assert (finished / lock.LOCK_NAME).exists()
