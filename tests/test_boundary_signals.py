"""The first SIGINT/SIGTERM while a big CSV loads stops the command (one line, no traceback),
and a Ctrl-C right after a command starts prints no traceback."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.runs_helpers import ROOT, engine_cmd, env


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.csv"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600_000, 10)).astype(np.float32)
    np.savetxt(
        path,
        np.c_[x, x.sum(1)],
        delimiter=",",
        fmt="%.7g",
        header=",".join([f"x{i}" for i in range(10)] + ["y"]),
        comments="",
    )
    return path


def _loading(proc: subprocess.Popen[str], path: Path, deadline: float) -> bool:
    """True once the process has the CSV open (it is loading it)."""
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            fds = list(Path(f"/proc/{proc.pid}/fd").iterdir())
            if any(fd.resolve() == path for fd in fds):
                return True
        except OSError:
            pass
        time.sleep(0.005)
    return False


@pytest.mark.parametrize(
    "sig, code, who", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")]
)
def test_the_first_signal_during_loading_stops_the_command(
    big_csv: Path, tmp_path: Path, sig: int, code: int, who: str
) -> None:
    proc = subprocess.Popen(
        engine_cmd(
            "train",
            "--no-save",
            "--set",
            "data.source=csv",
            "--set",
            f"data.path={big_csv}",
            "--set",
            "data.target=y",
        ),
        cwd=ROOT,
        env=env(tmp_path),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert _loading(proc, big_csv, time.monotonic() + 60), "the load never started"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"stopped by {who}" in lines[0], err


def test_ctrl_c_right_after_start_prints_no_traceback(tmp_path: Path) -> None:
    """From the moment our code runs. Python's own start-up (``site``, ``runpy`` finding the
    module: ~20-60 ms, more on a busy machine) is before any of it and may still print a
    traceback of its own frames, so the check is: no traceback through our code, ever, and
    past the start-up no traceback at all, one line at most."""
    ours = (str(ROOT / "engine"), str(ROOT / "tui"))
    quiet = 0
    for delay in (0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5):
        proc = subprocess.Popen(
            engine_cmd("train", "--no-save"),
            cwd=ROOT,
            env=env(tmp_path),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert not any(p in err for p in ours), (delay, err)
        if "Traceback" in err or "Fatal Python error" in err:
            continue  # interrupted inside Python's own start-up
        quiet += 1
        assert proc.returncode in (130, -signal.SIGINT), (delay, proc.returncode, err)
        assert len(err.strip().splitlines()) <= 1, (delay, err)
    assert quiet >= 3
