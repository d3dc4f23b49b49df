"""One follower, driven three ways (``for``, ``async for``, ``poll``), against real training
processes and real run directories: live epochs, a clean stop, a ``kill -9``."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from engine.core.errors import RunError
from engine.core.events import EpochEnded, RunFinished, RunStarted
from engine.runs.follow import RunFollower, follow
from engine.runs.log import read_events
from tests.runs_helpers import LONG, only_run, run, start, wait_for_epochs


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    proc = run(runs, "train", "--set", "train.epochs=30", "--set", "train.device=cpu")
    assert proc.returncode == 0, proc.stderr
    return only_run(runs)


def _dicts(events: list) -> list[dict]:
    return [e.to_dict() for e in events]


def test_for_and_async_for_replay_a_finished_run_alike(finished_run: Path) -> None:
    import asyncio

    logged, _ = read_events(finished_run)
    sync = follow(finished_run)
    assert _dicts(list(sync)) == _dicts(logged)
    assert sync.finished is not None and sync.finished.reason == "completed"
    assert sync.crashed is None and sync.status["state"] == "finished"

    async def collect() -> list:
        return [e async for e in RunFollower(finished_run)]

    assert _dicts(asyncio.run(collect())) == _dicts(logged)


def test_poll_never_waits_and_says_when_the_run_is_over(finished_run: Path) -> None:
    follower = RunFollower(finished_run)
    events = follower.poll()
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert follower.ended and follower.run_status is not None
    t0 = time.monotonic()
    assert follower.poll() == [] and time.monotonic() - t0 < 0.05


def test_for_follows_a_live_run_until_a_signal_finishes_it(tmp_path: Path) -> None:
    proc = start(tmp_path, "train", *LONG)
    try:
        run_dir = only_run(tmp_path)
        wait_for_epochs(run_dir, 1, proc)
        follower = RunFollower(run_dir, poll_s=0.02)
        epochs: list[int] = []
        for event in follower:
            if isinstance(event, EpochEnded):
                epochs.append(event.epoch)
                if len(epochs) == 5:  # caught up with a live run: now stop it
                    proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) >= 5
    assert follower.finished is not None and follower.finished.reason == "cancelled"
    assert follower.finished.epochs_run == epochs[-1] and follower.crashed is None


def test_a_run_killed_mid_way_ends_the_stream_as_crashed(tmp_path: Path) -> None:
    proc = start(tmp_path, "train", *LONG)
    run_dir = only_run(tmp_path)
    wait_for_epochs(run_dir, 3, proc)
    proc.kill()
    proc.communicate(timeout=30)
    follower = RunFollower(run_dir, poll_s=0.02)
    events = list(follower)
    assert isinstance(events[0], RunStarted) and len(events) >= 4
    assert follower.finished is None and follower.crashed == "its process died"
    assert follower.status["state"] == "running"  # as written; its process is gone


def test_a_closed_follower_stops_and_a_deleted_run_is_one_error(
    finished_run: Path, tmp_path: Path
) -> None:
    follower = RunFollower(finished_run)
    follower.close()
    assert list(follower) == [] and follower.poll() == []
    with pytest.raises(RunError, match="run directory is gone"):
        list(RunFollower(tmp_path / "deleted"))
