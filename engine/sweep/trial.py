"""One sweep trial: the searched values → a normal run in the run store → the trial's result.

A trial is an ordinary run (:class:`engine.runs.store.RunWriter`), so ``runs``, ``watch``,
``predict`` and ``resume`` work on it; its ``status.json`` also carries ``study``, ``trial``
and ``trial_state``. While it trains, its metric's best-so-far value is reported to Optuna at
epochs 1, 2, 3, 4, 6, 8, 12, 16, 24, … (powers of two and three times powers of two): every
trial reports at the same steps, so the median pruner can compare them, and a report costs a
database write, so there are ~2·log₂(epochs) of them rather than one per epoch. The pruner is
asked (a read of the whole study) only from its warm-up epoch on, before which it never prunes.
When it says so, the run is stopped like a Ctrl-C (``control.stop``) and the trial is recorded
as pruned.

Outcomes (``trial_state``): ``complete`` (the metric's value), ``pruned``, ``diverged`` (a
result, recorded with the worst value, +inf when minimising: never a crash of the sweep),
``failed`` (the config or the run raised; the error is kept) and ``cancelled`` (a signal
stopped the sweep mid-trial: Optuna marks it FAIL and the same values are queued again, so
running the sweep again redoes it).
"""

from __future__ import annotations

import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import Config, ConfigError, parse_config
from engine.core.control import Control
from engine.core.events import EpochEnded, Event, RunFinished
from engine.sweep.spec import SweepSpec
from engine.sweep.spec_params import with_values

STATES = ("complete", "pruned", "diverged", "failed", "cancelled")


def is_report_epoch(epoch: int) -> bool:
    """Epochs at which a trial reports to the pruner: 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, …"""
    if epoch < 1:
        return False
    odd = epoch // (epoch & -epoch)  # epoch without its factors of two
    return odd in (1, 3)


@dataclass
class TrialResult:
    """How one trial ended (what the live log prints and Optuna is told)."""

    number: int
    params: dict[str, Any]
    state: str
    value: float | None = None
    epochs: int = 0
    run: str | None = None
    error: str | None = None
    message: str = ""
    train_s: float = 0.0
    """Wall seconds the trial spent training: in ``run_training``, less the time its reports
    to the pruner took (``benchmarks/bench_sweep.py`` adds these up)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial": self.number,
            "state": self.state,
            "value": _json_number(self.value),
            "params": self.params,
            "epochs": self.epochs,
            "run": self.run,
            "error": self.error,
            "message": self.message,
            "train_s": round(self.train_s, 4),
        }


def _json_number(v: float | None) -> Any:
    if v is None or math.isfinite(v):
        return v
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


class MetricTracker:
    """The trial's metric from the run's events: per epoch (for the pruner) and at the end."""

    def __init__(self, metric: str, direction: str, monitor: str) -> None:
        self.metric, self.monitor = metric, monitor
        self.sign = 1.0 if direction == "minimize" else -1.0
        self.best: float | None = None

    def epoch_value(self, ev: EpochEnded) -> float | None:
        """The metric at this epoch (None where the epoch does not have it)."""
        if self.metric in ("val_loss", "train_loss"):
            value = getattr(ev, self.metric)
        else:
            split, name = self.metric.split(".")
            value = (ev.metrics or {}).get(split, {}).get(name)
        return None if value is None else float(value)

    def update(self, ev: EpochEnded) -> float | None:
        """Fold in one epoch; return the best value so far."""
        value = self.epoch_value(ev)
        if (
            value is not None
            and math.isfinite(value)
            and (self.best is None or self.sign * value < self.sign * self.best)
        ):
            self.best = value
        return self.best

    def final(self, fin: RunFinished) -> float | None:
        """The trial's value: the run's best monitor value when the metric is the monitor, the
        best epoch value of another loss, or a split metric of the weights the run leaves."""
        if self.metric == self.monitor and fin.best_monitor is not None:
            return float(fin.best_monitor)
        if self.metric in ("val_loss", "train_loss"):
            return self.best
        split, name = self.metric.split(".")
        value = (fin.metrics or {}).get(split, {}).get(name)
        return None if value is None else float(value)


@dataclass
class TrialContext:
    """What every trial of a sweep shares: the preset, the spec, where runs go, the study."""

    base: dict[str, Any]
    base_dir: str
    spec: SweepSpec
    study_name: str
    runs_root: Path
    extra: dict[str, Any] = field(default_factory=dict)


class StopSwitch:
    """The sweep's stop flag and the running trial's :class:`Control` (a signal handler calls
    :meth:`stop`; the pruner stops only the trial's control)."""

    def __init__(self) -> None:
        self.stopping = False
        self.current: Control | None = None

    def stop(self, by: str | None = None) -> None:
        self.stopping = True
        if self.current is not None:
            self.current.stop(by=by)


def trial_config(ctx: TrialContext, params: dict[str, Any]) -> Config:
    """The config of a trial: the preset with the searched values set, checked."""
    raw = with_values(ctx.base, params)
    return parse_config(raw, where=f"trial {params}", base_dir=ctx.base_dir)


def run_trial(trial: Any, ctx: TrialContext, switch: StopSwitch) -> TrialResult:
    """Train one Optuna ``trial`` as a run in the store and say how it ended (no exceptions
    for a bad combination or a crashing run: those are ``failed`` results)."""
    from engine.config.presets import portable_dict
    from engine.runs.store import RunWriter, new_run_dir, write_status
    from engine.training.trainer import run_training

    params = dict(trial.params)
    result = TrialResult(trial.number, params, "failed")
    try:
        cfg = trial_config(ctx, params)
    except ConfigError as exc:
        result.error = str(exc)
        return result
    spec = ctx.spec
    tracker = MetricTracker(spec.metric, spec.direction, cfg.early_stopping.monitor)
    control = Control()
    switch.current = control
    if switch.stopping:
        control.stop(by="the sweep's stop")
    run_dir = new_run_dir(ctx.runs_root, f"{cfg.name}-t{trial.number}")
    result.run = str(run_dir)
    writer = RunWriter(run_dir, portable_dict(cfg, cfg.name))
    write_status(run_dir, study=ctx.study_name, trial=trial.number, trial_state="running")
    trial.set_user_attr("run", str(run_dir))
    pruned = False
    pruner_s = 0.0

    def emit(ev: Event) -> None:
        nonlocal pruned, pruner_s
        writer(ev)
        if isinstance(ev, EpochEnded):
            best = tracker.update(ev)
            if spec.pruning and best is not None and is_report_epoch(ev.epoch) and not pruned:
                asked = time.perf_counter()
                trial.report(best, ev.epoch)
                # Before its warm-up the median pruner never prunes: skip its read of the study.
                if ev.epoch >= spec.warmup_epochs and trial.should_prune():
                    pruned = True
                    control.stop(by="the pruner")
                pruner_s += time.perf_counter() - asked

    started = time.perf_counter()
    try:
        fin = run_training(cfg, emit, control, checkpoints=writer)
    except BaseException as exc:  # a second signal (Interrupted), or the run itself failed
        cancelled = isinstance(exc, KeyboardInterrupt)
        writer.crashed(
            "interrupted by a second signal" if cancelled else f"{type(exc).__name__}: {exc}"
        )
        # The sweep's stop reached the run before its first epoch (reading the data stops
        # with ``Stopped``): cancelled like a stop mid-training, so its values are queued again.
        stopped = not cancelled and switch.stopping and type(exc).__name__ == "Stopped"
        write_status(run_dir, trial_state="cancelled" if cancelled or stopped else "failed")
        if cancelled:
            raise
        if stopped:
            result.state = "cancelled"
            return result
        result.error = f"{type(exc).__name__}: {exc}"[:300]
        return result
    finally:
        result.train_s = time.perf_counter() - started - pruner_s
        writer.close()
        switch.current = None
    result.epochs, result.message = fin.epochs_run, fin.message
    if fin.reason == "diverged":
        result.state, result.value = "diverged", math.inf if tracker.sign > 0 else -math.inf
    elif fin.reason == "cancelled" and pruned and not switch.stopping:
        result.state, result.value = "pruned", tracker.best
    elif fin.reason == "cancelled":
        result.state = "cancelled"
    else:
        value = tracker.final(fin)
        if value is None or math.isnan(value):
            result.error = f"{spec.metric} is not available for this run"
        else:
            result.state, result.value = "complete", value
    write_status(run_dir, trial_state=result.state, trial_value=_json_number(result.value))
    return result


def owner_attrs() -> dict[str, Any]:
    """Who runs a trial (so a later sweep can tell a trial whose process died)."""
    return {"host": socket.gethostname(), "pid": os.getpid()}
