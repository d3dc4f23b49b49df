"""``linreg-tui sweep PRESET``: a hyperparameter search with Optuna, each trial a normal run.

Prints one line per finished trial as it happens, then the results table, the best trial and
the parameter importances; ``--json`` prints the same as JSON lines instead: ``SweepStarted``,
one ``TrialFinished`` per trial, and ``SweepFinished`` with the table, best trial and
importances. Exit codes: 0 the study has its trials, 1 no trial gave a finite value (all
failed or diverged) or a worker failed, 2 bad input (a bad preset, spec or ``--storage``: one
line), 128 + N when signal N stopped the sweep (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP; the
summary is still printed and the same command continues the study).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from engine.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    QuietWhenGone,
    add_preset_args,
    add_runs_dir_arg,
    positive,
    table,
)
from engine.config import ConfigError
from engine.core.numbers import fmt_number
from engine.sweep.monitor import state_line
from engine.sweep.spec import SweepSetup

DEFAULT_BATCH = 32
"""Trials asked at once by TPE (``engine.sweep.batch_work.DEFAULT_BATCH``; no torch import
here)."""
AUTO_BATCH = 0
"""``--batch``'s default (``engine.sweep.batch_work.batch_size``)."""

HELP = (
    "search hyperparameters with Optuna (grid, random or TPE; pruning; a study in SQLite "
    "or any database URL); each trial is a run"
)
DIGITS = 6


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sweep``."""
    add_preset_args(p)
    p.add_argument(
        "--sweep",
        metavar="FILE",
        help="the sweep spec as a YAML file (default: the preset's sweep: section)",
    )
    p.add_argument(
        "--trials",
        type=positive,
        metavar="N",
        help="the study's total number of trials (default: the spec's; a rerun "
        "only runs the missing ones)",
    )
    p.add_argument(
        "--parallel",
        type=positive,
        metavar="N",
        help="trials at once, in worker processes (default: the spec's, else the number of cores)",
    )
    p.add_argument(
        "--batch",
        type=positive,
        metavar="K",
        default=AUTO_BATCH,
        help=f"trials asked at once and trained as one tensor program (default: "
        f"{DEFAULT_BATCH} for TPE or pruning, else every remaining trial up to a memory "
        f"cap); 1 runs each trial as its own run in --parallel worker processes",
    )
    p.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage URL, e.g. postgresql://user@host/db to share a study "
        "between machines (default: sqlite:///RUNS/sweeps.db)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON lines: SweepStarted, TrialFinished per trial, SweepFinished",
    )
    add_runs_dir_arg(p)


def _fmt(v: Any) -> str:
    """A value of the sweep's table: numbers to 6 significant digits, "-" for none."""
    return fmt_number(v, DIGITS)


def _params(params: dict[str, Any]) -> str:
    return "  ".join(f"{k}={_fmt(v)}" for k, v in params.items())


class SweepPrinter:
    """Writes a sweep for a person, or as JSON lines."""

    def __init__(self, out: TextIO, setup: SweepSetup, *, as_json: bool) -> None:
        self.out = QuietWhenGone(out)
        self.setup, self.spec, self.as_json = setup, setup.spec, as_json

    def _json(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(obj) + "\n")

    def started(self, job: Any, counted: int, to_run: int, workers: int) -> None:
        s = self.spec
        if self.as_json:
            self._json(
                {
                    "type": "SweepStarted",
                    "study": job.ctx.study_name,
                    "storage": job.storage_url,
                    "sampler": s.sampler,
                    "trials": s.trials,
                    "done": counted,
                    "to_run": to_run,
                    "parallel": workers,
                    "metric": s.metric,
                    "direction": s.direction,
                    "pruning": s.pruning,
                    "seed": s.seed,
                    "params": [p.key for p in s.params],
                }
            )
            return
        pruning = "pruning on" if s.pruning else "pruning off"
        self.out.write(
            f"sweep {job.ctx.study_name}: {s.trials} trials ({s.sampler}, seed "
            f"{s.seed}), {s.direction} {s.metric}, {workers} parallel, {pruning}\n"
        )
        self.out.write(f"study: {job.storage_url}\n")
        if counted:
            self.out.write(
                f"continuing: {counted} trial{'s' if counted != 1 else ''} already "
                f"in the study, {to_run} to run\n"
            )

    def trial(self, r: Any) -> None:
        if self.as_json:
            self._json(
                {
                    "type": "TrialFinished",
                    "study": self.setup.study_name,
                    "metric": self.spec.metric,
                    **r.to_dict(),
                }
            )
            return
        width = len(str(self.spec.trials))
        value = f"{self.spec.metric} {_fmt(r.value)}" if r.value is not None else ""
        detail = f"  {r.error}" if r.error else ""
        self.out.write(
            f"trial {r.number:>{width}}  {r.state:<9}  {value:<22}  "
            f"{r.epochs:>5} epochs  {_params(r.params)}{detail}\n"
        )

    def finished(self, o: Any) -> None:
        if self.as_json:
            self._json(
                {
                    "type": "SweepFinished",
                    "study": o.study_name,
                    "storage": o.storage_url,
                    "metric": self.spec.metric,
                    "direction": self.spec.direction,
                    "ran": o.ran,
                    "trials": [r.to_dict() for r in o.table],
                    "best": o.best.to_dict() if o.best else None,
                    "importances": o.importances,
                    "importances_note": o.importances_note,
                    "stopped_by_signal": o.signum,
                    "errors": o.errors,
                    "state": state_line(o.table, self.spec.trials, o.signum is not None),
                }
            )
            return
        keys = [p.key for p in self.spec.params]
        head = ["trial", *keys, self.spec.metric, "epochs", "state"]
        body = [
            [
                str(r.number),
                *(_fmt(r.params.get(k)) for k in keys),
                _fmt(r.value),
                _fmt(r.epochs),
                r.state,
            ]
            for r in o.table
        ]
        self.out.write("\n" + "\n".join(table([head, *body], left=(0, -1))) + "\n")
        self.out.write(f"{state_line(o.table, self.spec.trials, o.signum is not None)}\n")
        if o.best is None:
            self.out.write("best: none (no trial gave a finite value)\n")
        else:
            b = o.best
            self.out.write(
                f"best: trial {b.number}  {self.spec.metric} {_fmt(b.value)}  {_params(b.params)}\n"
            )
            if b.run:
                self.out.write(
                    f"  run {b.run}  (train it again: linreg-tui train {b.run}/config.yaml)\n"
                )
        if o.importances:
            shown = "  ".join(f"{k} {v:.2f}" for k, v in o.importances.items())
            self.out.write(f"importance (fANOVA): {shown}\n")
        else:
            self.out.write(f"importance: {o.importances_note}\n")


def capped(setup: SweepSetup) -> SweepSetup:
    """``setup`` with its ``parallel`` at most the CPU count, saying so on stderr in one line
    (more worker processes than CPUs only share them)."""
    cores = os.cpu_count() or 1
    if setup.spec.parallel <= cores:
        return setup
    print(
        f"sweep: parallel {setup.spec.parallel} capped at {cores} (the number of CPUs)",
        file=sys.stderr,
    )
    return dataclasses.replace(setup, spec=dataclasses.replace(setup.spec, parallel=cores))


def run(args: argparse.Namespace) -> int:
    """``linreg-tui sweep``: validate everything first (exit 2 on bad input), then run."""
    from engine.runs.store import runs_dir
    from engine.sweep.spec import load_sweep

    setup = capped(
        load_sweep(
            args.preset, args.sweep, args.overrides, trials=args.trials, parallel=args.parallel
        )
    )
    try:
        import optuna  # noqa: F401 - an optional extra: say how to get it, once
    except ImportError:
        raise ConfigError(
            "linreg-tui sweep needs Optuna: pip install 'linreg-tui[sweep]'",
            reason="Optuna is not installed",
        ) from None
    return run_setup(
        setup, runs_dir(args.runs_dir), args.storage, as_json=args.json, batch=args.batch
    )


def run_setup(
    setup: SweepSetup,
    runs_root: Path,
    storage_url: str | None,
    *,
    as_json: bool = False,
    batch: int = AUTO_BATCH,
) -> int:
    """Run a checked sweep, printing it to stdout; the exit code (see the module docstring)."""
    from engine.sweep.run import run_sweep

    printer = SweepPrinter(sys.stdout, setup, as_json=as_json)
    outcome = run_sweep(
        setup,
        runs_root,
        storage_url=storage_url,
        on_trial=printer.trial,
        on_start=printer.started,
        batch=batch,
    )
    printer.finished(outcome)
    for err in outcome.errors:
        print(f"error: a sweep worker failed: {err}", file=sys.stderr)
    if outcome.signum is not None:
        return 128 + outcome.signum
    return EXIT_FAILED if outcome.errors or outcome.best is None else EXIT_OK
