"""Sweep throughput: trials per minute for a 20-trial sweep of the default preset, and the share
of time spent outside training (Optuna, SQLite, process start-up).

Side by side in one script:

- baseline: the same 20 configs trained one after another in this process with
  ``run_training`` and a run directory each (what 20 ``train`` runs cost, without start-up);
- sweep: ``python -m engine sweep`` (or ``engine.cli_sweep``) as a user runs it, a fresh
  process and a fresh study, with ``--parallel 1`` and ``--parallel <cores>``.

"Training" is the time each trial spent inside ``run_training`` (from its ``RunFinished``
elapsed time is only the epochs, so the run's own wall time is read from its status times and
event log instead: here the sum of per-trial ``run_training`` wall time measured in the
baseline, which trains exactly the same configs). The outside share is
``1 - Σ training / (wall × workers)``.

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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SPEC = ("params:\n  optim.lr: {low: 1.0e-3, high: 1.0, log: true}\n"
        "  optim.momentum: {low: 0.0, high: 0.9}\nsampler: tpe\npruning: false\nseed: 0\n")
"""The searched space (pruning off, so the baseline trains exactly the sweep's epochs)."""


def sweep_cmd() -> list[str]:
    from engine.cli import COMMANDS

    mod = ["-m", "engine", "sweep"] if "sweep" in COMMANDS else ["-m", "engine.cli_sweep"]
    return [sys.executable, *mod]


def run_sweep(spec: Path, runs: Path, trials: int, parallel: int) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    proc = subprocess.run([*sweep_cmd(), "default", "--sweep", str(spec), "--json",
                           "--trials", str(trials), "--parallel", str(parallel),
                           "--runs-dir", str(runs), "--set", "train.device=cpu"],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    summary = json.loads(proc.stdout.splitlines()[-1])
    return wall, summary["trials"]


def baseline(trials: list[dict], runs: Path) -> tuple[float, list[float]]:
    """Train the sweep's configs in this process; per-trial wall time of ``run_training``."""
    from engine.presets import load_config, portable_dict
    from engine.store import RunWriter, new_run_dir
    from engine.trainer import run_training

    run_training(load_config("default", ["train.device=cpu"]), lambda e: None)  # warm up
    times = []
    t0 = time.perf_counter()
    for t in trials:
        sets = ["train.device=cpu", *(f"{k}={v}" for k, v in t["params"].items())]
        cfg = load_config("default", sets)
        run = new_run_dir(runs, "baseline")
        writer = RunWriter(run, portable_dict(cfg, cfg.name))
        t1 = time.perf_counter()
        run_training(cfg, writer, checkpoints=writer)
        times.append(time.perf_counter() - t1)
        writer.close()
    return time.perf_counter() - t0, times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.yaml"
        spec.write_text(SPEC)
        wall1, trials = run_sweep(spec, Path(tmp) / "seq", args.trials, 1)
        base_wall, train_times = baseline(trials, Path(tmp) / "base")
        train = sum(train_times)
        rows = [("baseline (in-process, no Optuna)", base_wall, 1)]
        rows.append(("sweep --parallel 1", wall1, 1))
        if cores > 1:
            wallp, trials_p = run_sweep(spec, Path(tmp) / "par", args.trials, cores)
            rows.append((f"sweep --parallel {cores}", wallp, cores))
    epochs = sum(t["epochs"] or 0 for t in trials)
    print(f"{args.trials}-trial TPE sweep of the default preset (lr, momentum; {epochs} epochs "
          f"in all), {cores} cores; training alone: {train:.2f} s")
    print(f"{'':34s} {'wall s':>7s} {'trials/min':>10s} {'outside training':>16s} "
          f"{'vs baseline':>11s}")
    for name, wall, workers in rows:
        outside = 1 - train / (wall * workers)
        print(f"{name:34s} {wall:7.2f} {60 * args.trials / wall:10.1f} {outside:16.0%} "
              f"{wall / base_wall:10.2f}x")


if __name__ == "__main__":
    main()
