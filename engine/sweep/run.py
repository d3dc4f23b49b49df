"""Running a sweep: worker processes that each take trials from one Optuna study until it has
its total, and a clean stop on Ctrl-C, SIGTERM and SIGHUP.

This is Optuna's own pattern for parallel search: several workers share a study through its
RDB storage (SQLite here by default, any database URL across machines), each asking for the
next trial, training it and telling the result. A batched or exact sweep (:func:`sweep_mode`)
runs its batches in this process, or in one forked worker when the summary's importances will
import scikit-learn meanwhile (:func:`_overlap_summary`: both cores busy, the same trials). With
``parallel`` 1 the trials of a per-process sweep run in this process (or in one forked worker,
likewise); otherwise ``parallel`` worker
processes do (forked on Linux after torch is imported, so start-up is paid once; spawned
elsewhere), each with ``cores / parallel`` torch threads, and this process prints the trials
as workers finish them, importing what the summary needs meanwhile.

Stopping: the first signal asks every worker to stop; a worker's trial in flight ends at its
next batch as ``cancelled`` (Optuna FAIL, its values queued again) and the summary is still
printed; the exit code is 128 + the signal. A second signal makes workers leave at once (their
trial is still marked cancelled). The study is kept: the same command continues it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

from engine.sweep.spec import SweepSetup
from engine.sweep.trial import StopSwitch, TrialContext, TrialResult

OnTrial = Callable[[TrialResult], None]
POLL_S = 0.2


@dataclass
class SweepJob:
    """Everything a worker needs (picklable: it crosses into worker processes)."""

    ctx: TrialContext
    storage_url: str
    mode: str = "runs"
    """How the trials run (:func:`sweep_mode`): a worker of a batched or exact sweep runs
    :func:`_work_in_process` instead of one trial at a time."""
    batch: int = 1
    """Trials asked at once; 0: :func:`engine.sweep.batch_work.batch_size` decides."""


@dataclass
class SweepOutcome:
    """How the sweep ended: the study as it stands, and why it ended."""

    study_name: str
    storage_url: str
    table: list[Any]
    best: Any
    importances: dict[str, float] | None
    importances_note: str | None
    ran: int
    signum: int | None = None
    errors: list[str] = field(default_factory=list)


def make_job(setup: SweepSetup, runs_root: Path, storage_url: str | None) -> SweepJob:
    from engine.sweep.study import default_storage

    ctx = TrialContext(setup.base, setup.base_dir, setup.spec, setup.study_name, runs_root)
    return SweepJob(ctx, storage_url or default_storage(runs_root))


def pending(job: SweepJob, storage: Any) -> tuple[int, int]:
    """``(counted, to_run)``: trials the study already has (done or running) and how many
    more this sweep runs. Creates the study when it is new."""
    from engine.sweep.study import counts_toward_total, describe, open_study

    study = open_study(storage, job.ctx.study_name, job.ctx.spec)
    describe(study, job.ctx.spec, job.ctx.base)
    counted = sum(counts_toward_total(t) for t in study.get_trials(deepcopy=False))
    return counted, max(0, job.ctx.spec.trials - counted)


def work(
    job: SweepJob,
    on_trial: OnTrial,
    switch: StopSwitch,
    parent_pid: int | None = None,
    storage: Any = None,
) -> int:
    """Take trials until the study has its total or ``switch`` stops; return how many ran.
    ``storage``: an open one (this process's), else the job's is opened here."""
    from engine.sweep.study import next_trial, open_storage, open_study, tell
    from engine.sweep.trial import run_trial

    own = storage is None
    storage = open_storage(job.storage_url, checked=True) if own else storage
    if job.mode != "runs":
        try:
            return _work_in_process(job.mode, job, on_trial, switch, storage, job.batch)
        finally:
            if own:
                storage.engine.dispose()
    study = open_study(storage, job.ctx.study_name, job.ctx.spec)
    ran = 0
    while not switch.stopping:
        if parent_pid is not None and os.getppid() != parent_pid:
            break  # the sweep's process is gone: take no new trial
        trial = next_trial(study, job.ctx.spec, job.ctx.runs_root)
        if trial is None:
            break
        try:
            result = run_trial(trial, job.ctx, switch)
        except KeyboardInterrupt:  # a second signal: record the trial as cancelled, leave
            tell(study, trial, TrialResult(trial.number, dict(trial.params), "cancelled"))
            raise
        tell(study, trial, result)
        ran += 1
        on_trial(result)
    if own:
        storage.engine.dispose()
    return ran


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


def _run_parallel(
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
            prewarm = threading.Thread(target=_prewarm_importances, daemon=True)
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


def _overlap_summary(spec: Any) -> bool:
    """Whether a sequential sweep runs its trials in one forked worker: when the summary will
    compute importances and a core is spare, this process imports scikit-learn for them
    (seconds) while the worker trains, instead of after the last trial. The results are the
    same: one worker takes the trials in the same order. Only in a process that has not
    imported torch yet (the CLI): a fork of one whose torch already ran ops in its thread pool
    hangs in the worker's first multi-threaded op (OpenMP is not fork-safe)."""
    return (
        len(spec.params) > 1
        and (os.cpu_count() or 1) > 1
        and sys.platform.startswith("linux")
        and "torch" not in sys.modules
    )


def _prewarm_importances() -> None:
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


def sweep_mode(setup: SweepSetup, batch: int) -> str:
    """How the trials run: ``exact`` (l1/l2 on MSE: solved, :mod:`engine.sweep.exact`),
    ``batched`` (K at a time as one program in this process, :mod:`engine.sweep.batch_work`)
    or ``runs`` (one run per trial, in ``parallel`` workers: ``--batch 1``, or a metric the
    batched program does not report)."""
    from engine.sweep.exact import exact_applies

    ctx = TrialContext(setup.base, setup.base_dir, setup.spec, setup.study_name, Path("."))
    if exact_applies(ctx, setup.config):
        return "exact"
    if (
        (batch > 1 or batch == 0)
        and ctx.spec.metric in ("val_loss", "train_loss")
        and _batchable(setup)
    ):
        return "batched"
    return "runs"


def _batchable(setup: SweepSetup) -> bool:
    """Whether the preset's loss and task are ones the batched program trains (a trial the
    program refuses anyway still trains alone; this only keeps a custom/combined-loss sweep on
    its ``parallel`` workers)."""
    from engine.sweep.batched_plan import BATCHED_LOSSES

    cfg = setup.config
    searched = {p.key for p in setup.spec.params}
    loss_ok = (cfg.loss.name in BATCHED_LOSSES and not cfg.loss.terms) or "loss.name" in searched
    return loss_ok and cfg.model.task == "regression"


def run_sweep(
    setup: SweepSetup,
    runs_root: Path,
    *,
    storage_url: str | None = None,
    on_trial: OnTrial = lambda r: None,
    on_start: Callable[[SweepJob, int, int, int], None] | None = None,
    batch: int = 1,
) -> SweepOutcome:
    """Run the sweep to the study's total (or a signal) and read the study back.

    ``on_start(job, counted, to_run, workers)`` is called once the study is open (``workers``
    is 1 for a batched or exact sweep: its trials run in this process); ``on_trial`` with each
    finished trial (in this process, in finishing order). ``batch``: trials asked at once
    (see :func:`sweep_mode`).
    """
    from engine.sweep.study import open_storage

    job = make_job(setup, runs_root, storage_url)
    mode = sweep_mode(setup, batch)
    if mode != "runs" and _overlap_summary(setup.spec):
        return _run_forked(job, mode, batch, on_trial, on_start)
    storage = open_storage(job.storage_url)  # one connection pool for this process's part
    try:
        counted, to_run = pending(job, storage)
        workers = max(1, min(setup.spec.parallel, to_run)) if mode == "runs" else 1
        if on_start is not None:
            on_start(job, counted, to_run, workers)
        signum, ran = None, 0
        errors: list[str] = []
        if to_run and mode != "runs":
            from engine.core.signals import StopOnSignals

            switch = StopSwitch()
            prewarm = threading.Thread(target=_prewarm_importances, daemon=True)
            if len(setup.spec.params) > 1:  # the import overlaps the trials' tensor work
                prewarm.start()
            try:
                with StopOnSignals(switch) as signals:
                    ran = _work_in_process(mode, job, on_trial, switch, storage, batch)
            finally:
                if prewarm.is_alive():
                    prewarm.join()
            signum = signals.signum
        elif to_run and workers == 1 and not _overlap_summary(setup.spec):
            from engine.core.signals import StopOnSignals

            switch = StopSwitch()
            with StopOnSignals(switch) as signals:
                ran = work(job, on_trial, switch, storage=storage)
            signum = signals.signum
        elif to_run:
            storage.engine.dispose()  # no connection may cross into a forked worker
            ran, signum, errors = _run_parallel(job, workers, on_trial)
        return summarize(job, storage, ran, signum, errors)
    finally:
        storage.engine.dispose()


def _run_forked(
    job: SweepJob,
    mode: str,
    batch: int,
    on_trial: OnTrial,
    on_start: Callable[[SweepJob, int, int, int], None] | None,
) -> SweepOutcome:
    """A batched or exact sweep in one forked worker (:func:`_overlap_summary`): the worker
    imports torch while this process opens the study, then trains the batches while this
    process imports the importances' scikit-learn; same trials, same order."""
    from engine.sweep.study import open_storage, preload_storage

    job = dataclasses.replace(job, mode=mode, batch=max(0, batch))
    preload_storage(job.storage_url)  # imported once, before the fork: both processes use it
    opened: list[Any] = []

    def prepare() -> None:
        storage = open_storage(job.storage_url)
        opened.append(storage)
        counted, to_run = pending(job, storage)  # none to run: the worker finds none either
        if on_start is not None:
            on_start(job, counted, to_run, 1)
        storage.engine.dispose()  # the worker has its own; the summary reconnects

    try:
        ran, signum, errors = _run_parallel(job, 1, on_trial, prepare=prepare)
        return summarize(job, opened[0], ran, signum, errors)
    finally:
        for storage in opened:
            storage.engine.dispose()


def _work_in_process(
    mode: str, job: SweepJob, on_trial: OnTrial, switch: StopSwitch, storage: Any, batch: int
) -> int:
    from engine.sweep.batch_work import work_batched
    from engine.sweep.exact import work_exact

    work_fn = work_exact if mode == "exact" else work_batched
    return work_fn(job, on_trial, switch, storage, max(0, batch))


def summarize(
    job: SweepJob,
    storage: Any,
    ran: int,
    signum: int | None = None,
    errors: list[str] | None = None,
) -> SweepOutcome:
    """The study as it stands: the table, the best trial and the importances."""
    from engine.sweep.study import best_row, importances, open_study, rows

    study = open_study(storage, job.ctx.study_name, job.ctx.spec)
    table = rows(study)
    found, note = importances(study, table, job.ctx.spec)
    return SweepOutcome(
        job.ctx.study_name,
        job.storage_url,
        table,
        best_row(table, job.ctx.spec.direction),
        found,
        note,
        ran,
        signum,
        list(errors or []),
    )
