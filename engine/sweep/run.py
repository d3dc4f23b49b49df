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

import dataclasses
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.sweep.job import OnTrial, SweepJob, make_job, pending, work, work_in_process
from engine.sweep.spec import SweepSetup
from engine.sweep.trial import StopSwitch, TrialContext
from engine.sweep.workers import prewarm_importances, run_parallel


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
            prewarm = threading.Thread(target=prewarm_importances, daemon=True)
            if len(setup.spec.params) > 1:  # the import overlaps the trials' tensor work
                prewarm.start()
            try:
                with StopOnSignals(switch) as signals:
                    ran = work_in_process(mode, job, on_trial, switch, storage, batch)
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
            ran, signum, errors = run_parallel(job, workers, on_trial)
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
        ran, signum, errors = run_parallel(job, 1, on_trial, prepare=prepare)
        return summarize(job, opened[0], ran, signum, errors)
    finally:
        for storage in opened:
            storage.engine.dispose()


def summarize(
    job: SweepJob,
    storage: Any,
    ran: int,
    signum: int | None = None,
    errors: list[str] | None = None,
) -> SweepOutcome:
    """The study as it stands: the table, the best trial and the importances."""
    from engine.sweep.study import open_study
    from engine.sweep.study_table import best_row, importances, rows

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
