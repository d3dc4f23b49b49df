"""The dashboard as a client of runs: real trainer processes, real run directories, Pilot."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from engine.cli.trainer_process import WarmTrainer, start_trainer
from engine.config.presets import load_config
from engine.runs.store import read_status, resolve_run, run_state
from tests import warm_process
from tests.runs_helpers import LONG as LONG_ARGS
from tests.runs_helpers import ROOT, engine_cmd, env, epochs_logged, only_run, wait_for_epochs
from tests.tui.conftest import LONG, SMALL, text_of, wait_for, wait_until
from tui.app import make_app
from tui.cli import main as cli_main


@pytest.fixture
def warm_trainers() -> None:
    """Not here (it is autouse in ``conftest.py``): these tests are about how the dashboard
    starts its trainer, so each trainer is the product's own exec'd interpreter."""


def _headless(runs: Path, *args: str) -> subprocess.Popen:
    """A headless trainer in its own session, as another login would have started it."""
    return warm_process.popen(
        engine_cmd("train", *args),
        cwd=ROOT,
        env=env(runs),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def test_start_trains_in_its_own_process_and_the_run_directory_grows(
    isolated_runs: Path,
) -> None:
    app = make_app("default", LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        run = app.session.trainer
        assert run is not None and run.run_dir.parent == isolated_runs
        await app.painter.redraw_now()
        assert "starting" in text_of(app, "#stats")  # not "no run yet" while it starts
        await wait_until(pilot, lambda: len(app.session.history.epochs) >= 5, timeout=60)
        assert run.pid != os.getpid() and os.getsid(run.pid) != os.getsid(0)  # own session
        assert read_status(run.run_dir)["pid"] == run.pid
        first = epochs_logged(run.run_dir)
        await wait_until(pilot, lambda: epochs_logged(run.run_dir) > first + 5)
        assert app.session.history.epochs == list(range(1, len(app.session.history.epochs) + 1))
        await app.session.stop_and_wait(30)
        assert app.session.history.finished.message.startswith("stopped by you")
    status = read_status(run.run_dir)
    assert status["state"] == "finished" and (run.run_dir / "model.pt").exists()


async def test_attach_replays_every_epoch_then_follows_with_pause_and_stop(
    isolated_runs: Path,
) -> None:
    proc = _headless(isolated_runs, *LONG_ARGS)
    try:
        run_dir = only_run(isolated_runs)
        wait_for_epochs(run_dir, 20, proc)
        app = make_app("default", SMALL)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(
                pilot, lambda: "1 run in progress — a attaches" in text_of(app, "#topbar")
            )
            await pilot.press("a")
            await wait_until(pilot, lambda: len(app.session.history.epochs) >= 20)
            assert app.session.history.started is not None
            epochs = app.session.history.epochs
            assert epochs == list(range(1, len(epochs) + 1))
            await pilot.press("p")
            await wait_until(pilot, lambda: "paused" in text_of(app, "#topbar"))
            # Sleeps that are what the test proves: the batch in flight ends, then a stretch
            # of time in which a running trainer would log epochs and a paused one does not.
            await pilot.pause(0.5)
            held = epochs_logged(run_dir)
            await pilot.pause(0.5)
            assert epochs_logged(run_dir) <= held + 1, "a paused trainer does not train"
            await pilot.press("p")
            await wait_until(pilot, lambda: epochs_logged(run_dir) > held + 3)
            await pilot.press("x")
            await wait_until(pilot, lambda: app.session.history.finished is not None, timeout=30)
            assert app.session.history.finished.reason == "cancelled"
            assert "stopped by you" in app.session.history.finished.message
            history = app.session.history
            assert history.epochs == list(range(1, history.finished.epochs_run + 1))
        assert proc.wait(timeout=30) == 0  # the dashboard's stop is an ordinary stop
    finally:
        proc.kill()


async def test_watch_latest_shows_a_finished_run_read_only(isolated_runs: Path) -> None:
    done = subprocess.run(
        engine_cmd("train", "--set", "train.epochs=40", "--set", "train.device=cpu"),
        cwd=ROOT,
        env=env(isolated_runs),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run_dir = resolve_run("latest", isolated_runs)
    app = make_app(str(run_dir / "config.yaml"), watch=run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.session.history.finished is not None)
        await app.painter.redraw_now()
        assert app.session.history.epochs == list(range(1, 41))
        assert "completed" in text_of(app, "#early-stopping") or "40" in text_of(app, "#stats")
        assert app.settings.disabled
        await pilot.press("s")
        assert "read-only" in text_of(app, "#topbar")
        assert len(list(isolated_runs.iterdir())) == 1  # nothing new was started


def test_watch_an_unknown_run_is_one_line(isolated_runs: Path, capsys) -> None:
    assert cli_main(["watch", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


async def test_watching_a_killed_run_says_crashed_at_epoch_with_the_curve(
    isolated_runs: Path,
) -> None:
    proc = _headless(isolated_runs, *LONG_ARGS)
    run_dir = only_run(isolated_runs)
    wait_for_epochs(run_dir, 10, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    n = epochs_logged(run_dir)
    assert run_state(read_status(run_dir)) == "crashed"
    app = make_app(str(run_dir / "config.yaml"), watch=run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: f"crashed at epoch {n}" in text_of(app, "#topbar"))
        assert len(app.session.history.epochs) == n and app.session.follower is None


async def test_a_run_directory_deleted_under_a_watcher_gives_a_message(isolated_runs: Path) -> None:
    proc = _headless(isolated_runs, *LONG_ARGS)
    try:
        run_dir = only_run(isolated_runs)
        wait_for_epochs(run_dir, 5, proc)
        app = make_app(str(run_dir / "config.yaml"), watch=run_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: len(app.session.history.epochs) >= 5)
            while run_dir.exists():  # the trainer renames files into it as rmtree walks it
                shutil.rmtree(run_dir, ignore_errors=True)
            await wait_until(pilot, lambda: "run directory is gone" in text_of(app, "#topbar"))
            assert app.is_running
    finally:
        proc.kill()
        proc.wait(timeout=10)


async def test_a_stop_before_the_first_epoch_leaves_nothing_behind(isolated_runs: Path) -> None:
    app = make_app("default", LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s", "x")
        await wait_until(pilot, lambda: app.session.follower is None, timeout=60)
        assert "stopped" in text_of(app, "#topbar")
    wait_for(
        lambda: not list(isolated_runs.iterdir()),
        timeout=10,
        what="the failed run's directory to be removed",
    )


def test_a_spare_taken_before_it_is_ready_still_trains_the_run(isolated_runs: Path) -> None:
    """``s`` pressed while the warm trainer is still importing torch: the spare's "ready" line
    meets a closed pipe, and it must train the run handed to it rather than end."""
    warm = WarmTrainer()
    assert not warm.ready(), "the spare is still importing torch"
    run = start_trainer(load_config("default", SMALL), isolated_runs, warm)
    assert run.popen is not None and run.popen.args[-1] == "engine.cli.trainer_process"
    assert run.popen.wait(timeout=120) == 0
    status = read_status(run.run_dir)
    assert status["state"] == "finished" and status["reason"] == "early_stopped", status
    assert epochs_logged(run.run_dir) == status["epochs_run"]
