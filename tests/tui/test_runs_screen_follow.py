"""The runs screen's opened run follows the run with the engine's one follower and judges its
state by the runs table's rule (issue 19): a status that says running with a pid that is not
the writer's, while the run's writer lock is held, is a running run (the lock decides, as
``linreg-tui runs`` says); when the lock is let go without an end logged, it crashed."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.runs.lock import LOCK_NAME
from engine.runs.status import RunStatus
from engine.runs.store import write_status
from tests.long_run import write_long_run
from tests.runs_helpers import run
from tests.tui.conftest import text_of, wait_until
from tui.app import make_app
from tui.runs_views import RunScreen

EPOCHS = 30


@pytest.fixture
def foreign(isolated_runs: Path) -> Path:
    """A run cut after ``EPOCHS`` epochs (no end logged), its status saying running with the
    pid of a process that is gone (not the writer's)."""
    run_dir = write_long_run(isolated_runs, 40)
    log = run_dir / "events.jsonl"
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[: 1 + EPOCHS]))
    (run_dir / "curve.bin").unlink()  # the summary of the whole run no longer matches
    gone = subprocess.Popen(["true"])
    gone.wait()
    write_status(run_dir, state="running", reason=None, pid=gone.pid, host=socket.gethostname())
    return run_dir


@pytest.fixture
def lock_fd(foreign: Path) -> Iterator[int]:
    """The run's writer lock, held by this process as a trainer holds it (``flock``)."""
    fd = os.open(foreign / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        yield fd
    finally:
        os.close(fd)


async def test_an_opened_run_whose_writer_lock_is_held_is_running(
    foreign: Path, lock_fd: int, isolated_runs: Path
) -> None:
    assert RunStatus.read(foreign).run_state == "running"
    listing = run(isolated_runs, "runs")
    assert listing.returncode == 0 and "running" in listing.stdout, listing.stderr
    app = make_app("default", runs_root=isolated_runs)
    async with app.run_test(size=(80, 24)) as pilot:
        opened = RunScreen(foreign)
        await app.push_screen(opened)
        await wait_until(pilot, lambda: len(opened.history.epochs) == EPOCHS)
        await wait_until(pilot, lambda: opened.status != "")
        assert opened.state == "running", opened.status  # the lock decides, not the pid
        for _ in range(3):  # polled again and again: still running, still followed
            opened.status = ""
            await wait_until(pilot, lambda: opened.status != "")  # read again by a poll
            assert opened.state == "running" and not opened.done, opened.status
        assert "running" in text_of(opened, "#run-top")
        assert "crashed" not in text_of(opened, "#run-top")
        fcntl.flock(lock_fd, fcntl.LOCK_UN)  # the writer is gone without logging an end
        await wait_until(pilot, lambda: opened.done)
        await wait_until(pilot, lambda: f"crashed at epoch {EPOCHS}" in text_of(opened, "#run-top"))
        assert opened.follower.crashed is not None
        assert opened.history.epochs == list(range(1, EPOCHS + 1))
