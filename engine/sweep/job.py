"""A sweep's job and the loop a worker runs: take trials from the study until it has its
total or a stop, one run per trial (``runs``) or batched/exact (:mod:`engine.sweep.batch_work`,
:mod:`engine.sweep.exact`). Picklable, so it crosses into worker processes
(:mod:`engine.sweep.workers`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.sweep.spec import SweepSetup
from engine.sweep.trial import StopSwitch, TrialContext, TrialResult

OnTrial = Callable[[TrialResult], None]


@dataclass
class SweepJob:
    """Everything a worker needs (picklable: it crosses into worker processes)."""

    ctx: TrialContext
    storage_url: str
    mode: str = "runs"
    """How the trials run (:func:`sweep_mode`): a worker of a batched or exact sweep runs
    :func:`work_in_process` instead of one trial at a time."""
    batch: int = 1
    """Trials asked at once; 0: :func:`engine.sweep.batch_work.batch_size` decides."""


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
            return work_in_process(job.mode, job, on_trial, switch, storage, job.batch)
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


def work_in_process(
    mode: str, job: SweepJob, on_trial: OnTrial, switch: StopSwitch, storage: Any, batch: int
) -> int:
    from engine.sweep.batch_work import work_batched
    from engine.sweep.exact import work_exact

    work_fn = work_exact if mode == "exact" else work_batched
    return work_fn(job, on_trial, switch, storage, max(0, batch))
