"""``--nproc N``: a run as N data-parallel ranks on this machine, under torchrun's elastic agent.

``linreg-tui train PRESET --nproc N`` (or a preset with ``train.processes: N``) becomes the
launcher: it checks the config, makes the run directory, then runs torchrun's elastic agent
in this process (:func:`torch.distributed.launcher.api.elastic_launch`, as ``torchrun
--standalone --nproc-per-node N`` would) with ``python -m engine train ... --run-dir RUN``
as each rank's command. The ranks find their place in the environment torchrun gives them
(:mod:`engine.training.distributed`); rank 0 writes the run directory and prints, as a
single-process run does; the others write nothing (:func:`run_rank`).

Faults: the agent runs with ``max_restarts=0`` and polls its ranks every 0.1 s. A rank that
dies (``kill -9``) closes its sockets, so the others fail out of their collective at once and
the agent ends them; the launcher then marks the run crashed with the rank that died first
("rank 1 exited (signal 9)"), in ``status.json`` and in its one stderr line. Ctrl-C reaches the
launcher alone (each rank is its own session): the agent hands the signal to every rank,
the ranks agree on the stop after the epoch they are in and the run ends "stopped by Ctrl-C",
exit 130, as a single-process run does. The dashboard's stop signal, sent to the trainer process
it started (this launcher), is handed on to the ranks the same way ("stopped by you"); pause is
not (a rank held between epochs would make the others' collective time out).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from engine.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from engine.config import Config

LAUNCHED_ENV = "LINREG_TUI_LAUNCHED"
"""Set in a rank's environment by :func:`launch`: its ``--run-dir`` was made and checked by the
launcher (so rank 0 trains into it as it is)."""
MONITOR_INTERVAL_S = 0.1
"""How often the agent polls its ranks: a dead rank is seen within this."""


def add_nproc_arg(p: argparse.ArgumentParser) -> None:
    """``--nproc N`` (train and resume)."""
    from engine.cli.common import positive

    p.add_argument(
        "--nproc",
        type=positive,
        default=None,
        metavar="N",
        help="train as N data-parallel processes on this machine (torchrun ranks: gloo on "
        "CPU, NCCL on CUDA); sets train.processes",
    )


def nproc_overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` overrides with ``--nproc N`` as ``train.processes=N`` (last, so it wins)."""
    extra = [f"train.processes={args.nproc}"] if getattr(args, "nproc", None) else []
    return [*args.overrides, *extra]


def in_rank() -> bool:
    """Whether this process is one of several torchrun ranks."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def launched() -> bool:
    """Whether :func:`launch` started this rank (its run directory is ready for it)."""
    return os.environ.get(LAUNCHED_ENV) == "1"


def launch(nproc: int, argv: list[str], run_dir: Path | None, *, made: bool = False) -> int:
    """Run ``python -m engine ARGV`` as ``nproc`` ranks; the exit code the run ends with.

    Every rank exits as a single-process run would (0, 1 diverged, 128 + N stopped by signal
    N); a rank that fails first makes the run crashed (:func:`crash_line`). ``made``: the
    launcher made ``run_dir``, and removes it if no rank wrote anything into it.
    """
    import logging

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch

    for name in list(logging.root.manager.loggerDict):  # torch sets each module's own level
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    config = local_config(nproc)
    # The ranks inherit this process's environment: say they were launched, and torchrun's
    # own rule, one thread per rank unless the user says otherwise (N ranks do not fight over
    # the cores). Only for the launch: a launcher called in-process (tests, scripts) must not
    # leave them behind for the processes it starts later.
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // nproc))
    try:
        with _forwarding_stop(), _environ({LAUNCHED_ENV: "1", "OMP_NUM_THREADS": threads}):
            elastic_launch(config, sys.executable)("-m", "engine", *argv)
    except ChildFailedError as exc:
        return failed(exc.failures, run_dir)
    except SignalException as exc:
        return 128 + int(exc.sigval)
    finally:
        if made:
            _tidy(run_dir)
    return EXIT_OK


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block; what was there before, afterwards."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def local_config(nproc: int) -> Any:
    """torchrun's elastic-agent settings for ``nproc`` ranks on this machine: a fresh rendezvous
    on a free loopback port, no restarts (a failed rank ends the run), ranks checked every
    :data:`MONITOR_INTERVAL_S`."""
    import uuid

    from torch.distributed.launcher.api import LaunchConfig

    return LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=MONITOR_INTERVAL_S,
    )


def _tidy(run_dir: Path | None) -> None:
    """Remove the run directory the launcher made if no rank wrote anything into it (stopped
    or failed before the run started), as a single-process run removes its own."""
    if run_dir is not None:
        with contextlib.suppress(OSError):
            run_dir.rmdir()  # only when empty


@contextlib.contextmanager
def _forwarding_stop() -> Iterator[None]:
    """While the ranks run, the dashboard's stop signal (:data:`STOP_BY_YOU`, sent to the process
    it started: this one) goes on to every rank, which stop after the same epoch ("stopped by
    you"). The agent already hands on SIGINT, SIGTERM and SIGHUP."""
    from engine.core.signals import HANDLED, STOP_BY_YOU

    if STOP_BY_YOU in HANDLED:
        yield
        return

    def forward(signum: int, frame: object) -> None:
        for pid in _children(os.getpid()):
            with contextlib.suppress(OSError):
                os.kill(pid, signum)

    previous = signal.signal(STOP_BY_YOU, forward)
    try:
        yield
    finally:
        signal.signal(STOP_BY_YOU, previous)


def _children(parent: int) -> list[int]:
    """The pids whose parent is ``parent`` (the ranks: the agent starts them itself)."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                out.append(int(proc.name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def crash_line(failures: Mapping[int, Any]) -> str:
    """Which rank ended the run: one killed by a signal, before one that exited with a code (its
    peers fail because it left), before one ended by SIGTERM (the agent's signal to the ranks
    it shuts down: a rank sent SIGTERM by anyone else stops cleanly); then the earliest, then
    the lowest rank."""

    def key(item: tuple[int, Any]) -> tuple[int, int, int]:
        rank, f = item
        order = 2 if f.exitcode == -signal.SIGTERM else 1 if f.exitcode > 0 else 0
        return (order, f.timestamp, rank)

    rank, first = min(failures.items(), key=key)
    if first.exitcode < 0:
        return f"rank {rank} exited (signal {-first.exitcode})"
    return f"rank {rank} exited with code {first.exitcode}"


def failed(failures: Mapping[int, Any], run_dir: Path | None) -> int:
    """Some rank exited non-zero. A run that finished (diverged, stopped) exits as rank 0 did;
    otherwise the run crashed: ``status.json`` and one stderr line say which rank."""
    from engine.cli.common import say

    status = _status(run_dir)
    rank0 = failures.get(0)
    if status is not None and status.state == "finished":
        return int(rank0.exitcode) if rank0 is not None and rank0.exitcode > 0 else EXIT_FAILED
    if status is not None and status.state == "crashed" and status.error_key is not None:
        return EXIT_BAD_INPUT  # rank 0 refused the config or data, and said why
    line = crash_line(failures)
    if status is not None and run_dir is not None:
        from engine.runs.files import now_text
        from engine.runs.status import RunStatus

        RunStatus.update(run_dir, state="crashed", error=line, ended_at=now_text())
    elif all(f.exitcode > 0 for f in failures.values()) and rank0 is not None:
        return int(rank0.exitcode)  # failed before it started (bad data): rank 0 said why
    say(f"crashed: {line}")
    return EXIT_FAILED


def _status(run_dir: Path | None) -> Any:
    """The run's status, or None when there is none (nothing saved, or the run never started)."""
    from engine.core.errors import RunError
    from engine.runs.status import RunStatus

    if run_dir is None or not (run_dir / "status.json").exists():
        return None
    try:
        return RunStatus.read(run_dir)
    except RunError:
        return None


def run_rank(
    cfg: Config, rank0: Callable[[], int], resume_from: dict[str, Any] | None = None
) -> int:
    """This process as one rank: join the process group; rank 0 runs ``rank0`` (the command's
    own run, which writes the directory and prints); any other rank trains the same epochs
    and keeps nothing. The exit code is the single-process run's."""
    from engine.training.device import resolve_device
    from engine.training.distributed import pick_device, process_group, world_from_env

    cfg.train.processes = world_from_env()
    device = resolve_device(pick_device(cfg.train.device))
    with process_group(device) as dist:
        if dist.writer:
            return rank0()
        return _follower(cfg, resume_from)


def _follower(cfg: Config, resume_from: dict[str, Any] | None) -> int:
    """A rank other than 0: the run's epochs with no output; a stop signal stops it cleanly."""
    from engine.config import ConfigError
    from engine.core.control import Control
    from engine.core.signals import StopOnSignals
    from engine.data.dataset import Stopped
    from engine.training.distributed import outlive_rank0
    from engine.training.trainer import run_training

    control = Control()
    signals = StopOnSignals(control)
    try:
        with signals:
            fin = run_training(cfg, lambda event: None, control, resume_from=resume_from)
    except Stopped:
        return signals.exit_code
    except ConfigError:  # bad data: every rank finds the same first error; rank 0 says it
        outlive_rank0()
        return EXIT_BAD_INPUT
    if fin.reason == "cancelled" and signals.interrupted:
        return signals.exit_code
    return EXIT_FAILED if fin.reason == "diverged" else EXIT_OK
