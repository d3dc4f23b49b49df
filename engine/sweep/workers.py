"""Worker processes of a per-process (or forked) sweep: each takes trials from the one study
(:func:`engine.sweep.job.work`); the sweep's process forwards its signals to them, prints their
trials as they finish and reaps them, so no worker outlives the sweep."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from engine.sweep.job import OnTrial, SweepJob, work
from engine.sweep.trial import StopSwitch

POLL_S = 0.2


def _worker_main(
    job: SweepJob, results: Any, parent_pid: int, threads: int, gate: Any = None
) -> None:
    """A worker process: SIGTERM (sent by the sweep's process) stops it; SIGINT and SIGHUP
    reach the sweep's process, which decides. ``gate``: an event the sweep's process sets once
    the study is open (the worker imports torch meanwhile)."""
    from engine.core.signals import StopOnSignals

    switch = StopSwitch()
    try:
        import torch

        torch.set_num_threads(threads)
        with StopOnSignals(switch):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            while gate is not None and not gate.wait(POLL_S):
                if switch.stopping or os.getppid() != parent_pid:
                    return
            if job.mode != "runs":  # a batch checks no parent between trials: a thread does
                threading.Thread(
                    target=_orphan_stop, args=(switch, parent_pid), daemon=True
                ).start()
            work(job, lambda r: results.put(("trial", r)), switch, parent_pid)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001 - reported by the sweep's process, one line
        results.put(("error", f"{type(exc).__name__}: {exc}"[:300]))
        sys.exit(1)


def _orphan_stop(switch: StopSwitch, parent_pid: int) -> None:
    """Stop the worker's sweep (its batch ends cancelled, values queued again) once the
    sweep's process is gone (``kill -9``): no worker trains on for nobody."""
    import time

    while not switch.stopping:
        if os.getppid() != parent_pid:
            switch.stop(by="the sweep's process is gone")
            return
        time.sleep(POLL_S)


class _Forward:
    """The sweep process's handler: pass the first (and a second) signal on to the workers."""

    def __init__(self, procs: Sequence[BaseProcess]) -> None:
        self.procs = procs
        self.signum: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        for p in self.procs:
            if p.is_alive() and p.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGTERM)


def run_parallel(
    job: SweepJob, workers: int, on_trial: OnTrial, prepare: Callable[[], None] | None = None
) -> tuple[int, int | None, list[str]]:
    """Run ``workers`` worker processes to the end. ``prepare``: open the study in this
    process after the workers started (they import torch meanwhile, each on its own: not
    first here), then let them go."""
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    # A parent whose torch already ran ops in its OpenMP pool (a script or a test that trained
    # before sweeping) hangs a forked worker's first multi-threaded op: its workers get one
    # thread each.
    torch_ran = "torch" in sys.modules
    if method == "fork" and prepare is None:
        import torch  # noqa: F401 - imported once here, shared by every forked worker
    ctx = mp.get_context("fork") if method == "fork" else mp.get_context("spawn")
    results = ctx.Queue()
    gate = ctx.Event() if prepare is not None else None
    threads = 1 if torch_ran else max(1, (os.cpu_count() or 1) // workers)
    procs = [
        ctx.Process(
            target=_worker_main,
            args=(job, results, os.getpid(), threads, gate),
            name=f"sweep-worker-{i}",
        )
        for i in range(workers)
    ]
    forward = _Forward(procs)
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, forward) for s in handled}
    ran, errors = 0, []
    prewarm: threading.Thread | None = None
    try:
        for p in procs:
            p.start()
        if prepare is not None and gate is not None:
            prepare()
            gate.set()
        if len(job.ctx.spec.params) > 1:  # this process idles while workers train
            prewarm = threading.Thread(target=prewarm_importances, daemon=True)
            prewarm.start()
        while True:
            try:
                kind, item = results.get(timeout=POLL_S)
            except queue_mod.Empty:
                if not any(p.is_alive() for p in procs):
                    break
                continue
            if kind == "trial":
                ran += 1
                on_trial(item)
            else:
                errors.append(item)
        for p in procs:
            p.join()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _reap(procs)  # the loop above failed: no worker outlives the sweep
        if prewarm is not None:  # no thread outlives it either: a later fork must not copy
            prewarm.join()  # an import lock that thread holds
    return ran, forward.signum, errors


def prewarm_importances() -> None:
    """Import Optuna's importance module (scikit-learn: seconds) while the workers train, so
    the summary does not wait for it at the end."""
    with contextlib.suppress(Exception):  # the summary imports it again and says what failed
        import optuna.importance  # noqa: F401


def _reap(procs: Sequence[BaseProcess], grace_s: float = 5.0) -> None:
    """SIGTERM every worker still alive (it stops its trial cleanly), then wait for it."""
    started = [p for p in procs if p.pid is not None]
    for p in started:
        if p.is_alive():
            p.terminate()
    for p in started:
        p.join(grace_s)
        if p.is_alive():
            p.kill()
            p.join()
