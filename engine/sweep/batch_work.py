"""A sweep's trials in batches: Optuna asks K trials, the batchable ones train as one tensor
program in this process (:func:`engine.sweep.batched.train_batched`), the rest as single runs.

Why: a trial of a small preset trains in 0.05-0.1 s, less than a process, an Optuna round trip
or a run directory cost; K trials in one program cost about one trial's epochs. The study's
bookkeeping is batched as well (:class:`engine.sweep.batch_store.BatchStudy`): the sampler
and the pruner run in memory, the database gets two transactions a batch, and the study is the
same durable record a per-process sweep leaves; a random or grid sweep asks the same values
(the sampler is seeded per counted trial).

Pruning: :class:`StudyPruner` is the batched program's :class:`~engine.sweep.batched.Pruner`
hook: at the same report epochs as a single trial (1, 2, 3, 4, 6, 8, 12, …) it reports each
running trial's best-so-far metric (``trial.report``) and, from the warm-up epoch on, asks
``trial.should_prune``; the trials it names stop in the program and are told PRUNED.

Inspecting trials: a batched trial has no run directory of its own (a run directory costs
about as much as the trial's training, see ``benchmarks/bench_sweep.py``). When the sweep
ends (not on a signal), the study's best trial is trained again alone as a normal run
(:func:`keep_best`: ``runs``, ``predict``, ``runs show`` work on it), once rather than at every
batch that improves on the best.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from typing import Any

from engine.config import Config, ConfigError, parse_config
from engine.core.control import Control
from engine.sweep.trial import StopSwitch, TrialContext, TrialResult, is_report_epoch

DEFAULT_BATCH = 32
"""Trials asked at once by a sampler that learns between batches (TPE) or a pruned sweep:
enough that the program's per-epoch cost is shared, few enough that the sampler and the
median pruner see finished trials early."""
AUTO_BATCH = 0
"""``--batch``'s default: :func:`batch_size` decides."""
MAX_BATCH = 1024
BATCH_CELLS = 1 << 24
"""A batch's rows × trials at most (16M floats, 64 MB per rows × trials tensor), so a batch
of a million-row preset stays at :data:`DEFAULT_BATCH`."""


def batch_size(spec: Any, requested: int, n_train: int) -> int:
    """Trials to ask at once. ``requested`` unless it is :data:`AUTO_BATCH`: then a random
    or grid sweep without pruning (a sampler that does not learn from finished trials) asks
    every remaining trial at once, up to :data:`MAX_BATCH` and :data:`BATCH_CELLS`: the
    batched program's cost is per epoch, so one batch of 100 costs about a batch of 32
    (``benchmarks/bench_sweep.py``); TPE and pruned sweeps ask :data:`DEFAULT_BATCH`."""
    if requested != AUTO_BATCH:
        return max(1, requested)
    if spec.sampler == "tpe" or spec.pruning:
        return DEFAULT_BATCH
    return max(DEFAULT_BATCH, min(MAX_BATCH, BATCH_CELLS // max(1, n_train)))


class StudyPruner:
    """The study's pruner over a batched program: report at the report epochs, prune on
    Optuna's word."""

    def __init__(self, trials: dict[int, Any], metric: str, sign: float, warmup: int) -> None:
        self.trials, self.metric, self.sign, self.warmup = trials, metric, sign, warmup
        self.pruned_best: dict[int, float] = {}

    def due(self, epoch: int) -> bool:
        return is_report_epoch(epoch)

    def prune(self, progress: Any) -> Collection[int]:
        out = []
        for index in progress.running:
            losses = (
                progress.val_losses(index)
                if self.metric == "val_loss"
                else progress.train_losses(index)
            ) or []
            best = best_of(losses, self.sign)
            if best is None:
                continue
            trial = self.trials[index]
            trial.report(best, progress.epoch)
            if progress.epoch >= self.warmup and trial.should_prune():
                out.append(index)
                self.pruned_best[index] = best
        return out


def best_of(values: list[float], sign: float) -> float | None:
    """The best finite value (lowest when ``sign`` is 1, highest when -1), None if none."""
    finite = [v for v in values if math.isfinite(v)]
    return min(finite, key=lambda v: sign * v) if finite else None


def batchable(ctx: TrialContext) -> bool:
    """Whether the sweep's metric is one the batched program reports (a loss)."""
    return ctx.spec.metric in ("val_loss", "train_loss")


def result_of(
    number: int,
    params: dict[str, Any],
    run: Any,
    metric: str,
    sign: float,
    pruned: dict[int, float],
) -> TrialResult:
    """A batched trial's :class:`TrialResult`, as :func:`engine.sweep.trial.run_trial` would
    say it for the same run."""
    out = TrialResult(number, params, "failed", epochs=run.epochs_run, message=run.message)
    losses = run.val_losses if metric == "val_loss" else run.train_losses
    if run.reason == "diverged":
        out.state, out.value = "diverged", math.inf if sign > 0 else -math.inf
    elif run.reason == "cancelled" and run.index in pruned:
        out.state, out.value = "pruned", pruned[run.index]
    elif run.reason == "cancelled":  # the sweep's stop: its values are queued again
        out.state = "cancelled"
    else:
        monitor = run.config.early_stopping.monitor
        value = (
            run.best_monitor
            if metric == monitor and run.best_monitor is not None
            else best_of(losses or [], sign)
        )
        if value is None or math.isnan(value):
            out.error = f"{metric} is not available for this run"
        else:
            out.state, out.value = "complete", float(value)
    return out


def run_batch(
    trials: list[Any],
    ctx: TrialContext,
    switch: StopSwitch,
    base: Config,
    dataset: Any,
    best: float | None = None,
) -> list[TrialResult]:
    """Train ``trials`` (asked Optuna trials): the batchable together, the refused alone as
    runs. (``best`` is not used any more: the study's best gets its run directory once, when
    the sweep ends, :func:`keep_best`.)"""
    from engine.sweep.batched import train_batched
    from engine.sweep.trial import run_trial

    spec = ctx.spec
    sign = 1.0 if spec.direction == "minimize" else -1.0
    values = [dict(t.params) for t in trials]
    pruner = (
        StudyPruner(dict(enumerate(trials)), spec.metric, sign, spec.warmup_epochs)
        if spec.pruning
        else None
    )
    control = Control()
    switch.current = control
    if switch.stopping:
        control.stop(by="the sweep's stop")
    try:
        batch = train_batched(base, values, control=control, pruner=pruner, dataset=dataset)
    finally:
        switch.current = None
    pruned = pruner.pruned_best if pruner is not None else {}
    results: list[TrialResult | None] = [None] * len(trials)
    for run in batch.trials:
        r = result_of(trials[run.index].number, values[run.index], run, spec.metric, sign, pruned)
        r.train_s = batch.elapsed_s / max(1, len(batch.trials))
        results[run.index] = r
    for refused in batch.refused:
        results[refused.index] = run_trial(trials[refused.index], ctx, switch)
    return [r for r in results if r is not None]


def keep_best(asker: Any, ctx: TrialContext, switch: StopSwitch) -> str | None:
    """Give the study's best complete trial a run directory when it has none (a single run of
    its config; its trial's ``run`` attribute names it), once, when the sweep ends: a run
    directory costs about a batch's training, so not one per improving batch. A sweep
    stopped by a signal leaves it to the next one (``--continue``)."""
    from engine.sweep.study_table import best_row, rows

    if switch.stopping:
        return None
    found = best_row(rows(asker.durable), ctx.spec.direction)
    if found is None or found.run is not None:
        return None
    try:
        run = write_run(ctx, found.number, found.params, switch)
    except (ConfigError, OSError):
        return None
    asker.set_user_attr(found.number, "run", run)
    return run


def write_run(ctx: TrialContext, number: int, params: dict[str, Any], switch: StopSwitch) -> str:
    """Train one trial's config alone as a normal run in the store; its directory."""
    from engine.config.presets import portable_dict
    from engine.runs.store import RunWriter, new_run_dir, write_status
    from engine.sweep.trial import trial_config
    from engine.training.trainer import run_training

    cfg = trial_config(ctx, params)
    run_dir = new_run_dir(ctx.runs_root, f"{cfg.name}-t{number}")
    writer = RunWriter(run_dir, portable_dict(cfg, cfg.name))
    write_status(run_dir, study=ctx.study_name, trial=number, trial_state="running")
    control = Control()
    switch.current = control
    try:
        run_training(cfg, writer, control, checkpoints=writer)
    finally:
        switch.current = None
        writer.close()
    write_status(run_dir, trial_state="complete")
    return str(run_dir)


def work_batched(
    job: Any, on_trial: Callable[[TrialResult], None], switch: StopSwitch, storage: Any, batch: int
) -> int:
    """Take trials ``batch`` at a time until the study has its total or ``switch`` stops;
    return how many ran. The study's bookkeeping is two transactions a batch
    (:class:`engine.sweep.batch_store.BatchStudy`)."""
    from engine.data.dataset import load_dataset
    from engine.sweep.batch_store import BatchStudy
    from engine.sweep.study import open_study

    ctx = job.ctx
    study = open_study(storage, ctx.study_name, ctx.spec)
    base = parse_config(ctx.base, where="sweep", base_dir=ctx.base_dir)
    dataset = load_dataset(base, stop=lambda: switch.stopping)
    asker = BatchStudy(study, ctx.spec, ctx.runs_root)
    k = batch_size(ctx.spec, batch, len(dataset.train))
    ran = 0
    while not switch.stopping:
        trials = asker.ask(k)
        if not trials:
            break
        try:
            results = run_batch(trials, ctx, switch, base, dataset)
        except KeyboardInterrupt:  # a second signal: the batch is cancelled, values requeued
            asker.tell(trials, [TrialResult(t.number, t.params, "cancelled") for t in trials])
            raise
        asker.tell(trials, results)
        for r in results:
            ran += 1
            on_trial(r)
    keep_best(asker, ctx, switch)
    return ran
