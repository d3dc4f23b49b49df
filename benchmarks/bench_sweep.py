"""Sweep throughput: trials per minute for a 20-trial sweep of the default preset, and the share
of time spent outside training (Optuna, SQLite, run bookkeeping, process start-up).

Each sweep is ``python -m engine sweep default --json`` as a user runs it: a fresh process and a
fresh study, with ``--parallel 1`` and ``--parallel <cores>``. Its JSON lines are read as they
arrive, each stamped with the time it came.

Definitions (all from one sweep's own numbers, nothing borrowed from another process):

- **training**: Σ ``train_s`` of its ``TrialFinished`` events, the wall time each trial spent
  inside ``run_training`` (data set-up, epochs, the run's event log and model file) less the
  time its reports to the pruner took inside it;
- **outside training, all**: ``1 − training / (wall × workers)``, ``wall`` being the
  command's whole wall time: interpreter and imports (torch alone is seconds), opening the
  study, every trial's Optuna and run-store bookkeeping, the summary and its importances;
- **outside training, steady**: the same share between the first and the last finished trial,
  i.e. only what each further trial costs (``--parallel 1``; with several workers their
  trials overlap, so the window cannot be split per trial and the column shows ``-``);
- **fixed s**: wall time not between the first and last finished trial, i.e. start-up before
  the first trial finished minus its own training, plus the summary after the last one.

A baseline row trains the same configs one after another in this process (``run_training``
and a run directory each, no Optuna, no start-up): what 20 ``train`` runs would cost at best.

    .venv/bin/python benchmarks/bench_sweep.py [--trials 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SPEC = ("params:\n  optim.lr: {low: 1.0e-3, high: 1.0, log: true}\n"
        "  optim.momentum: {low: 0.0, high: 0.9}\nsampler: tpe\npruning: false\nseed: 0\n")
"""The searched space (pruning off, so the baseline trains exactly the sweep's epochs; one more
sequential sweep runs with pruning on, a spec's default, whose reports cost database writes)."""


@dataclass
class Sweep:
    """One timed sweep command."""

    name: str
    workers: int
    wall: float
    trials: list[dict]
    finished_at: list[float]
    """Seconds from the command's start at which each TrialFinished line arrived."""

    @property
    def training(self) -> float:
        return sum(t["train_s"] for t in self.trials)

    def outside(self) -> float:
        return 1 - self.training / (self.wall * self.workers)

    def steady(self) -> float | None:
        if self.workers != 1 or len(self.trials) < 3:
            return None
        window = self.finished_at[-1] - self.finished_at[0]
        return 1 - sum(t["train_s"] for t in self.trials[1:]) / window

    def fixed(self) -> float:
        return self.wall - (self.finished_at[-1] - self.finished_at[0]) - \
            self.trials[0]["train_s"]


def sweep_cmd() -> list[str]:
    return [sys.executable, "-m", "engine", "sweep"]


SETS: list[str] = ["train.device=cpu"]
"""Overrides of the default preset for every sweep and the baseline (``--set``, repeatable)."""


def run_sweep(spec: Path, runs: Path, trials: int, parallel: int, note: str = "") -> Sweep:
    t0 = time.perf_counter()
    proc = subprocess.Popen([*sweep_cmd(), "default", "--sweep", str(spec), "--json",
                             "--trials", str(trials), "--parallel", str(parallel),
                             "--runs-dir", str(runs),
                             *(a for kv in SETS for a in ("--set", kv))],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    finished, at, last = [], [], None
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        if event["type"] == "TrialFinished":
            finished.append(event)
            at.append(time.perf_counter() - t0)
        last = event
    if proc.wait() != 0 or last is None or last["type"] != "SweepFinished":
        raise SystemExit(f"sweep --parallel {parallel} failed (exit {proc.returncode})")
    name = f"sweep --parallel {parallel}" + (f", {note}" if note else "")
    return Sweep(name, parallel, time.perf_counter() - t0, finished, at)


def baseline(trials: list[dict], runs: Path) -> float:
    """Train the sweep's configs in this process; the wall time of the loop."""
    from engine.config.presets import load_config, portable_dict
    from engine.runs.store import RunWriter, new_run_dir
    from engine.training.trainer import run_training

    run_training(load_config("default", SETS), lambda e: None)  # warm up
    t0 = time.perf_counter()
    for t in trials:
        cfg = load_config("default", [*SETS, *(f"{k}={v}" for k, v in t["params"].items())])
        writer = RunWriter(new_run_dir(runs, "baseline"), portable_dict(cfg, cfg.name))
        run_training(cfg, writer, checkpoints=writer)
        writer.close()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override the default preset (e.g. data.n_samples=200000: longer trials)")
    args = ap.parse_args()
    SETS.extend(args.set)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.yaml"
        spec.write_text(SPEC)
        pruned = Path(tmp) / "pruned.yaml"
        pruned.write_text(SPEC.replace("pruning: false", "pruning: true"))
        sweeps = [run_sweep(spec, Path(tmp) / "seq", args.trials, 1),
                  run_sweep(pruned, Path(tmp) / "pruned", args.trials, 1, "pruning on")]
        if cores > 1:
            sweeps.append(run_sweep(spec, Path(tmp) / "par", args.trials, cores))
        base_wall = baseline(sweeps[0].trials, Path(tmp) / "base")
    epochs = sum(t["epochs"] or 0 for t in sweeps[0].trials)
    sets = f" with {', '.join(args.set)}" if args.set else ""
    print(f"{args.trials}-trial TPE sweep of the default preset{sets} (lr, momentum; {epochs} "
          f"epochs in all at --parallel 1), {cores} cores")
    print(f"{'':28s} {'wall s':>7s} {'trials/min':>10s} {'training s':>10s} {'fixed s':>7s} "
          f"{'outside: all':>12s} {'steady':>6s} {'vs baseline':>11s}")
    print(f"{'baseline (in-process)':28s} {base_wall:7.2f} {60 * args.trials / base_wall:10.1f}")
    for s in sweeps:
        steady = s.steady()
        print(f"{s.name:28s} {s.wall:7.2f} "
              f"{60 * len(s.trials) / s.wall:10.1f} {s.training:10.2f} {s.fixed():7.2f} "
              f"{s.outside():12.0%} {'-' if steady is None else f'{steady:.0%}':>6s} "
              f"{s.wall / base_wall:10.2f}x")


if __name__ == "__main__":
    main()
