"""Training in its own process: start, stop, pause and resume a detached headless trainer.

A run started from the dashboard must outlive the dashboard's terminal (an SSH drop sends SIGHUP
to the terminal's session) and must not share its CPU time or its GIL with the screen. So it is
``linreg-tui train CONFIG --run-dir RUN`` in a process of its own session
(``start_new_session=True``), its stdin/stdout on /dev/null and its stderr in ``RUN/trainer.log``;
it writes the run directory (:mod:`engine.runs.writer`) and any number of readers follow it
(:mod:`engine.runs.follow`). It is controlled with the signals of :mod:`engine.core.signals`, sent
to the pid in ``status.json`` (same host only): stop (as the dashboard's own stop key), pause,
resume.

Starting Python and importing torch takes seconds, so :class:`WarmTrainer` keeps one spare
trainer that has already imported torch and run a tiny warm-up fit; it waits on a pipe for the
run directory to train into. When the dashboard goes away without using it, the pipe closes and
the spare exits. ``python -m engine.cli.trainer_process`` is that spare.

What it holds resident (RSS, CPU build of torch 2.13, measured by
``tests/test_system_samples.py``): ~225 MB once torch is imported, ~241 MB after the warm-up
fit, ~313 MB once a ``torch.optim`` optimizer has been built: torch wraps their methods in a
``torch._dynamo`` guard whose first call imports dynamo and sympy (~72 MB, ~1.1 s). Runs whose
optimum and optimizer need no ``torch.optim`` (the least-squares losses with the built-in update
rules) never pay it, so the spare loads it only when asked (:meth:`WarmTrainer.prepare`,
which the dashboard sends while its settings name such a loss or optimizer:
:func:`needs_torch_optim`). Threads: torch's pool starts with the first parallel op, after the
spare is handed its run; no CUDA context is made before the run asks for the GPU.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.config import Config
from engine.core.signals import PAUSE, RESUME, STOP_BY_YOU
from engine.optimizer_registry import OPTIMIZERS
from engine.registry import LOSSES
from engine.runs.files import atomic_write
from engine.runs.status import FORMAT_VERSION, RunStatus, pid_alive
from engine.runs.store import new_run_dir
from engine.runs.writer import preset_yaml

LOG_NAME = "trainer.log"
"""The trainer's stderr, in its run directory (a traceback, if it ever has one, lands here)."""


def _engine_env() -> dict[str, str]:
    """The child's environment: this one, with this project importable from anywhere, and torch
    left one core short (unless the user set ``OMP_NUM_THREADS``): the dashboard that follows
    the run needs a core of its own, and a trainer whose threads spin on every core slows both
    it and itself (each torch op waits for its slowest thread)."""
    root = str(Path(__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    env = {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) - 1)))
    return env


def prepare_run_dir(cfg: Config, root: Path) -> Path:
    """A new run directory under ``root`` holding the config (as a reproducing preset)."""
    from engine.config.presets import portable_dict

    run_dir = new_run_dir(root, cfg.name)
    atomic_write(run_dir / "config.yaml", preset_yaml(portable_dict(cfg, cfg.name)).encode())
    return run_dir


def train_command(run_dir: Path) -> list[str]:
    """The headless command that trains ``run_dir/config.yaml`` into ``run_dir``."""
    return [
        sys.executable,
        "-m",
        "engine",
        "train",
        str(run_dir / "config.yaml"),
        "--run-dir",
        str(run_dir),
    ]


class TrainerProcess:
    """A handle on the process training ``run_dir``: signals to its pid (same host only)."""

    def __init__(
        self, run_dir: Path, pid: int, popen: subprocess.Popen[bytes] | None = None
    ) -> None:
        self.run_dir = run_dir
        self.pid = pid
        self.paused = False
        self.stop_requested = False
        self.popen = popen
        """The process when this dashboard started it (None when attached)."""

    @classmethod
    def attach(cls, run_dir: Path) -> TrainerProcess:
        """The trainer of a running run, from the pid and host in its ``status.json``."""
        status = RunStatus.read(run_dir)
        if status.host != socket.gethostname():
            raise OSError(
                f"run {run_dir.name} trains on {status.host}: stop and pause "
                "work only on the same host"
            )
        if not isinstance(status.pid, int):
            raise OSError(f"run {run_dir.name} has no trainer pid in its status")
        handle = cls(run_dir, status.pid)
        handle.paused = bool(status.paused)
        return handle

    def _send(self, signum: int) -> bool:
        try:
            os.kill(self.pid, signum)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def stop(self) -> bool:
        """Ask the run to end after its current batch ("stopped by you")."""
        self.stop_requested = True
        self.paused = False
        return self._send(STOP_BY_YOU)

    def pause(self) -> bool:
        """Hold the run before its next batch (paused time is not training time)."""
        self.paused = self._send(PAUSE) or self.paused
        return self.paused

    def resume(self) -> bool:
        sent = self._send(RESUME)
        self.paused = False
        return sent

    def kill(self) -> None:
        """End the process at once (tests and clean-up only: the run is left crashed)."""
        self._send(signal.SIGKILL)
        self.reap()

    def alive(self) -> bool:
        self.reap()
        return pid_alive(self.pid)

    def reap(self) -> None:
        """Collect the exit status of a child we started, so it never lingers as a zombie."""
        if self.popen is not None:
            self.popen.poll()

    def ended_how(self) -> str:
        """How a trainer that wrote no reason ended, for the message that says it failed: its
        exit code or the signal that killed it, where this process started it."""
        self.reap()
        code = self.popen.returncode if self.popen is not None else None
        if code is None:
            return "the trainer process ended before its first epoch"
        how = f"ended with exit code {code}"
        if code < 0:
            with contextlib.suppress(ValueError):
                how = f"was killed by {signal.Signals(-code).name}"
        return f"the trainer process {how} before its first epoch"

    def log_tail(self, limit: int = 300) -> str:
        """The last non-empty line of the trainer's stderr (why a start failed), or ''."""
        try:
            lines = (self.run_dir / LOG_NAME).read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:limit] if lines else ""


def _mark_running(run_dir: Path, pid: int, cfg: Config) -> None:
    """Write the status before the trainer does, so a reader knows its pid from the start."""
    RunStatus.update(
        run_dir,
        format=FORMAT_VERSION,
        state="running",
        reason=None,
        pid=pid,
        host=socket.gethostname(),
        preset=cfg.name,
        loss=cfg.loss.name,
        error=None,
    )


def start_trainer(cfg: Config, root: Path, warm: WarmTrainer | None = None) -> TrainerProcess:
    """Start training ``cfg`` in a detached process (the spare ``warm`` one if it is ready)."""
    run_dir = prepare_run_dir(cfg, root)
    if warm is not None:
        handle = warm.take(run_dir, cfg)
        if handle is not None:
            return handle
    with open(run_dir / LOG_NAME, "ab") as log:
        popen = subprocess.Popen(
            train_command(run_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=_engine_env(),
            start_new_session=True,
            close_fds=True,
        )
    _mark_running(run_dir, popen.pid, cfg)
    return TrainerProcess(run_dir, popen.pid, popen)


class WarmTrainer:
    """One spare trainer process with torch imported, waiting for a run directory on a pipe."""

    def __init__(self) -> None:
        self._popen: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "engine.cli.trainer_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_engine_env(),
            start_new_session=True,
            close_fds=True,
        )
        self._ready = False
        self.prepared = False

    def prepare(self) -> None:
        """Have the spare load torch's optimizer machinery now (dynamo, ~1 s, ~72 MB), for a
        run that will need it (:func:`needs_torch_optim`); once per spare."""
        popen = self._popen
        if self.prepared or popen is None or popen.stdin is None:
            return
        self.prepared = True
        with contextlib.suppress(OSError):
            popen.stdin.write(b'{"prepare": true}\n')
            popen.stdin.flush()

    def ready(self) -> bool:
        """Whether the spare has finished warming up (never blocks)."""
        import select

        popen = self._popen
        if not self._ready and popen is not None and popen.stdout is not None:
            self._ready = bool(select.select([popen.stdout], [], [], 0)[0])
        return self._ready

    def take(self, run_dir: Path, cfg: Config) -> TrainerProcess | None:
        """Hand the spare ``run_dir`` to train; None when it is gone (then start a cold one)."""
        popen, self._popen = self._popen, None
        if popen is None or popen.poll() is not None or popen.stdin is None:
            return None
        _mark_running(run_dir, popen.pid, cfg)
        try:
            popen.stdin.write((json.dumps({"run_dir": str(run_dir)}) + "\n").encode())
            popen.stdin.close()
        except OSError:
            return None
        if popen.stdout is not None:
            popen.stdout.close()
        return TrainerProcess(run_dir, popen.pid, popen)

    def close(self) -> None:
        """Let the spare go (it exits when its pipe closes) without waiting for it."""
        popen, self._popen = self._popen, None
        if popen is not None:
            for pipe in (popen.stdin, popen.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()


def needs_torch_optim(values: Mapping[str, Any]) -> bool:
    """Whether a run of these settings (dotted keys: ``loss.name``, ``optim.name``,
    ``model.task``) builds a ``torch.optim`` optimizer: an optimum found by L-BFGS (every loss
    but the least-squares ones, classification, custom and combined losses) or an optimizer
    without an update rule of ours. When unsure: yes (preparing costs memory, not time)."""
    loss = LOSSES.get(str(values.get("loss.name")))
    optim = OPTIMIZERS.get(str(values.get("optim.name", "sgd")))
    task = values.get("model.task", "regression")
    closed = loss is not None and loss.optimum == "least_squares" and task == "regression"
    return not (closed and optim is not None and optim.rule is not None)


def _warm_up() -> None:
    """Import the trainer and run a tiny CPU fit, so the real run's first epoch comes at once."""
    from engine.config import parse_config
    from engine.training.run import fit

    fit(
        parse_config(
            {"data": {"n_samples": 32}, "train": {"epochs": 2, "device": "cpu"}}, where="warm-up"
        )
    )


def _warm_torch_optim() -> None:
    """Build and step a ``torch.optim`` optimizer once: its first use imports torch._dynamo
    (~1 s, ~72 MB resident), here rather than between s and the first epoch."""
    import torch

    p = torch.zeros(1, requires_grad=True)
    lbfgs = torch.optim.LBFGS([p], max_iter=1)

    def closure() -> torch.Tensor:
        lbfgs.zero_grad()
        loss = (p * p).sum()
        loss.backward()  # type: ignore[no-untyped-call]  # torch's stub leaves it untyped
        return loss

    lbfgs.step(closure)  # type: ignore[no-untyped-call]  # LBFGS.step is untyped in torch


def _orders_while_warming() -> dict[str, Any] | None:
    """What the dashboard sent during the warm-up (it asks at once when its settings need
    torch.optim): a prepare is done now, before "ready", so a ready spare is ready for the
    settings shown; a run directory is returned; ``{}`` when the dashboard has left."""
    import select

    while select.select([sys.stdin], [], [], 0)[0]:
        line = sys.stdin.readline()
        if not line.strip():
            return {}
        order: dict[str, Any] = json.loads(line)
        if "run_dir" in order:
            return order
        with contextlib.suppress(Exception):  # as the warm-up: only speed is at stake
            _warm_torch_optim()
    return None


def main() -> int:
    """The spare: warm up, say ``ready``, then read stdin: ``{"prepare": true}`` loads torch's
    optimizer machinery, ``{"run_dir": ...}`` is the run to train headless."""
    with contextlib.suppress(Exception):  # a failed warm-up only costs the real run its speed
        _warm_up()
    order = _orders_while_warming()
    with contextlib.suppress(OSError):
        # WarmTrainer.ready(); then stdout is /dev/null. A spare taken before it was ready has
        # its stdout closed already (EPIPE) but its run directory waiting on stdin: train it.
        # A dashboard that is gone has closed stdin too, and the readline below says so.
        print("ready", flush=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    while order is None or "run_dir" not in order:
        if order == {}:
            return 0  # the dashboard left without a run for us
        line = sys.stdin.readline()
        if not line.strip():
            return 0
        order = json.loads(line)
        if "run_dir" not in order:
            with contextlib.suppress(Exception):
                _warm_torch_optim()
            order = None
    run_dir = Path(order["run_dir"])
    fd = os.open(run_dir / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115 - the process's stderr from now on
    from engine.cli.main import main as cli_main

    return cli_main(["train", str(run_dir / "config.yaml"), "--run-dir", str(run_dir)])


if __name__ == "__main__":
    sys.exit(main())
