"""A user loss that exits, interrupts, hangs, starts threads or is NaN far out, against the real
``python -m engine`` process: exit 2 with one line that names the fault, never a false pass.

Each case once ended in exit 0 with no output (``sys.exit(0)`` in the loss), hung (an endless
loop, a non-daemon thread) or passed (NaN only beyond residuals of ±50) — issue "Hardening".
"""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.config import parse_config
from engine.core.control import Control
from engine.core.signals import StopOnSignals
from engine.losses import user_code
from engine.losses.check import check_loss, preflight
from engine.losses.user_code import DEFAULT_TIMEOUT_S, TIMEOUT_ENV
from tests import warm_process
from tests.eventually import eventually

ROOT = Path(__file__).resolve().parents[1]

LOSSES = {
    "exit_call": "import sys\ndef loss(pred, target):\n    sys.exit(0)\n",
    "exit_import": "import sys\nsys.exit(0)\n"
    "def loss(pred, target):\n    return (pred - target).pow(2).mean()\n",
    "interrupt_call": "def loss(pred, target):\n    raise KeyboardInterrupt\n",
    "base_exception": "class Odd(BaseException):\n    pass\n"
    "def loss(pred, target):\n    raise Odd('odd')\n",
    "loop_call": "def loss(pred, target):\n    while True:\n        pass\n",
    "loop_import": "while True:\n    pass\ndef loss(pred, target):\n    return pred.sum()\n",
    "nan_far": "import torch\ndef loss(pred, target):\n    r = target - pred\n"
    "    nan = torch.full_like(r, float('nan'))\n"
    "    return torch.where(r.abs() > 50, nan, r * r).mean()\n",
    "thread": "import threading, time\n"
    "threading.Thread(target=time.sleep, args=(3600,), daemon=False,\n"
    "                 name='sleeper').start()\n"
    "def loss(pred, target):\n    return (pred - target).pow(2).mean()\n",
    "slow_call": "import pathlib, time\n"
    "def loss(pred, target):\n"
    "    pathlib.Path(__file__ + '.called').touch()\n"
    "    time.sleep(30)\n    return pred.sum()\n",
}
"""Loss files by name; each defines ``loss``. ``slow_call`` leaves ``slow_call.py.called``
beside itself when it is called, so a test can wait for the loss to be running."""


def engine(*argv: str, cwd: Path, timeout: float = 90, **extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LINREG_TUI_RUNS_DIR": str(cwd / "runs"), **extra}
    return warm_process.run(
        [sys.executable, "-m", "engine", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


def write_loss(folder: Path, name: str) -> str:
    (folder / f"{name}.py").write_text(LOSSES[name])
    return f"{name}.py:loss"


def write_preset(folder: Path, name: str) -> Path:
    path = folder / f"p_{name}.yaml"
    path.write_text(
        f"name: p\ndata: {{n_samples: 60}}\ntrain: {{epochs: 3}}\n"
        f"loss: {{name: custom, callable: {write_loss(folder, name)}}}\n"
    )
    return path


def error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith("run: ")]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert lines[0].startswith("error: ") and len(lines[0]) <= 300, lines[0][:300]
    return lines[0]


@pytest.mark.parametrize(
    "name, says",
    [
        ("exit_call", "called sys.exit(0)"),
        ("exit_import", "called sys.exit(0)"),
        ("interrupt_call", "raised KeyboardInterrupt"),
        ("base_exception", "raised Odd: odd"),
        ("nan_far", "returned nan on residuals of ±1000"),
    ],
)
@pytest.mark.parametrize("command", ["check-loss", "train", "cv"])
def test_a_loss_that_exits_or_is_nan_far_out_is_its_fault_exit_2(tmp_path, command, name, says):
    if command == "check-loss":
        proc = engine("check-loss", write_loss(tmp_path, name), cwd=tmp_path)
    else:
        extra = ["--folds", "2"] if command == "cv" else ["--no-save"]
        proc = engine(command, str(write_preset(tmp_path, name)), *extra, cwd=tmp_path)
    assert says in error_line(proc)
    if command != "check-loss":
        assert "epoch" not in proc.stdout  # not one epoch trained


@pytest.mark.parametrize(
    "name, says",
    [
        ("loop_call", "calling the loss on a batch of 8 rows did not finish within 2 s"),
        ("loop_import", "loading the loss did not finish within 2 s"),
    ],
)
def test_check_loss_times_out_an_endless_loop(tmp_path, name, says):
    start = time.monotonic()
    proc = engine("check-loss", write_loss(tmp_path, name), "--timeout", "2", cwd=tmp_path)
    assert says in error_line(proc)
    assert time.monotonic() - start < 60


@pytest.mark.parametrize(
    "name, says",
    [
        ("loop_call", "calling the loss on a batch of 8 rows did not finish within 2 s"),
        ("loop_import", "loading it did not finish within 2 s"),
    ],
)
def test_train_times_out_an_endless_loop_in_its_pre_flight(tmp_path, name, says):
    """The pre-flight's limit (10 s by default, shortened here through its variable)."""
    proc = engine(
        "train", str(write_preset(tmp_path, name)), "--no-save", cwd=tmp_path, **{TIMEOUT_ENV: "2"}
    )
    assert says in error_line(proc)


def test_the_pre_flight_limit_is_10_s_unless_the_variable_says_otherwise(monkeypatch):
    assert inspect.signature(preflight).parameters["timeout"].default == DEFAULT_TIMEOUT_S
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    assert user_code._default_timeout() == 10.0
    for value, seconds in (("2.5", 2.5), ("0", 10.0), ("-1", 10.0), ("soon", 10.0)):
        monkeypatch.setenv(TIMEOUT_ENV, value)
        assert user_code._default_timeout() == seconds, value


def test_check_loss_refuses_a_bad_timeout(tmp_path):
    proc = engine("check-loss", "mse", "--timeout", "-1", cwd=tmp_path)
    assert proc.returncode == 2 and "expected a number of seconds > 0" in proc.stderr


def test_a_loss_that_leaves_a_thread_running_does_not_hang_check_loss(tmp_path):
    proc = engine("check-loss", write_loss(tmp_path, "thread"), cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "result: PASS" in proc.stdout
    assert "left thread(s) running (sleeper)" in proc.stderr


def test_a_thread_started_at_import_defaults_to_a_daemon(tmp_path):
    (tmp_path / "t.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(3600,)).start()\n"
        "def loss(pred, target):\n    return (pred - target).abs().mean()\n"
    )
    proc = engine("check-loss", "t.py:loss", cwd=tmp_path, timeout=60)
    assert proc.returncode == 0 and "left thread" not in proc.stderr, proc.stderr


def test_check_loss_reports_a_sys_exit_in_the_call_as_a_failed_runs_property(tmp_path):
    report = check_loss(write_loss(tmp_path, "exit_call"), base_dir=str(tmp_path))
    runs = report.properties[0]
    assert (runs.name, runs.status, runs.fatal) == ("runs", "FAIL", True)
    assert "called sys.exit(0)" in runs.detail


def test_a_loss_may_overflow_to_inf_far_out_but_still_passes(tmp_path):
    (tmp_path / "e.py").write_text(
        "import torch\ndef loss(pred, target):\n"
        "    return torch.exp((target - pred).abs()).mean()\n"
    )
    report = check_loss("e.py:loss", base_dir=str(tmp_path))
    finite = next(p for p in report.properties if p.name == "finite")
    assert finite.status == "PASS" and "inf at ±1000, ±1e6" in finite.detail


@pytest.mark.timing
def test_the_first_ctrl_c_stops_the_pre_flight_at_once(tmp_path):
    cfg = parse_config(
        {"loss": {"name": "custom", "callable": write_loss(tmp_path, "slow_call")}},
        base_dir=str(tmp_path),
    )
    control = Control()
    called = tmp_path / "slow_call.py.called"
    sent: list[float] = []

    def interrupt_once_called() -> None:  # Ctrl-C while the loss call is sleeping
        eventually(called.exists, timeout=60, message="the pre-flight to call the loss")
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_called, daemon=True).start()
    with StopOnSignals(control):
        warnings = preflight(cfg.loss, cfg.base_dir, stop=lambda: control.stopped)
    assert control.stopped and warnings == []
    assert sent and time.monotonic() - sent[0] < 3


@pytest.mark.timing
def test_ctrl_c_during_the_pre_flight_of_train_stops_the_run(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "train",
            str(write_preset(tmp_path, "slow_call")),
            "--no-save",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    eventually(
        lambda: (tmp_path / "slow_call.py.called").exists() or proc.poll() is not None,
        timeout=90,
        message="the pre-flight to call the loss (torch imported)",
    )
    assert proc.poll() is None, proc.communicate()
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert time.monotonic() - start < 5
    assert "Traceback" not in err
