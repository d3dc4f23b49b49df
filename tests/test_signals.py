"""Headless runs end cleanly on SIGTERM, SIGHUP and Ctrl-C, and survive a closed stdout."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from engine.runs import store
from engine.runs.checkpoint import load_checkpoint
from tests.runs_helpers import (
    LONG,
    ROOT,
    engine_cmd,
    env,
    last_event,
    only_run,
    run,
    start,
    wait_for_epochs,
)


@pytest.mark.parametrize(
    "sig, code, name",
    [
        (signal.SIGTERM, 143, "SIGTERM"),
        (signal.SIGHUP, 129, "SIGHUP"),
        (signal.SIGINT, 130, "Ctrl-C"),
    ],
)
def test_a_signal_stops_the_run_cleanly_with_summary_and_complete_directory(
    tmp_path: Path, sig: signal.Signals, code: int, name: str
) -> None:
    proc = start(tmp_path, "train", *LONG)
    run_dir = only_run(tmp_path)
    wait_for_epochs(run_dir, 20, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert f"stopped by {name} at epoch" in out  # the summary was printed
    assert "coefficient" in out and "Traceback" not in err
    finished = last_event(run_dir)
    assert finished["type"] == "RunFinished" and finished["reason"] == "cancelled"
    assert name in finished["message"]
    status = store.read_status(run_dir)
    assert status["state"] == "finished" and status["reason"] == "cancelled"
    assert (run_dir / "model.pt").exists()
    assert load_checkpoint(run_dir / "checkpoint.pt")["epoch"] <= finished["epochs_run"]


def test_a_second_signal_leaves_at_once_and_the_directory_stays_readable(tmp_path: Path) -> None:
    proc = start(tmp_path, "train", *LONG)
    run_dir = only_run(tmp_path)
    wait_for_epochs(run_dir, 5, proc)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    events, _ = store.read_events(run_dir)  # whole lines only, none torn
    assert events and events[0].__class__.__name__ == "RunStarted"


def test_sighup_with_the_terminal_gone_still_completes_the_run_directory(tmp_path: Path) -> None:
    """An SSH drop: SIGHUP arrives and stdout is a closed pipe. The run finishes its directory."""
    proc = start(tmp_path, "train", *LONG)
    run_dir = only_run(tmp_path)
    wait_for_epochs(run_dir, 10, proc)
    proc.stdout.close()  # the reader of stdout is gone: writes now fail with EPIPE
    proc.send_signal(signal.SIGHUP)
    proc.wait(timeout=30)
    err = proc.stderr.read()
    assert proc.returncode == 129, err
    assert "Traceback" not in err
    assert last_event(run_dir)["type"] == "RunFinished"
    assert store.read_status(run_dir)["state"] == "finished"


def test_a_closed_stdout_is_not_an_error(tmp_path: Path) -> None:
    """``linreg-tui train >&-``: Python starts with sys.stdout None."""
    python = engine_cmd()[0]
    proc = subprocess.run(
        ["sh", "-c", f'exec "{python}" -m engine train --set train.epochs=20 >&-'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    assert "Error" not in proc.stderr
    assert json.loads((only_run(tmp_path) / "status.json").read_text())["state"] == "finished"


def test_no_save_writes_nothing(tmp_path: Path) -> None:
    proc = run(tmp_path, "train", "--set", "train.epochs=5", "--no-save")
    assert proc.returncode == 0, proc.stderr
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
