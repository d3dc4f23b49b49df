"""Batched sweep trials against the sequential loop: trials per second, side by side.

The same K trials of the default preset (random ``optim.lr`` log-uniform in [1e-3, 1] and
``optim.momentum`` uniform in [0, 0.9], drawn from ``--seed``) run twice in this one process:

- **sequential**: ``engine.fit`` of each trial's config (``with_values`` on the preset, checked:
  what a sweep's trial builds), one after another: the in-process loop a sweep is compared with;
- **batched**: :func:`engine.sweep.batched.train_batched` of the preset and the K value dicts:
  the same config checks, the data loaded once, one tensor program for all K.

Both columns count everything from the values to the results (config checks, data, training,
reading back); torch's import and first-call warm-up are paid before either timing starts.
The batched column also shows its training time alone and its host reads. The last line checks
that the two agree: per trial the same stop reason and epochs, weights within 1e-5.

    .venv/bin/python benchmarks/bench_batched.py [--trials 100] [--device cpu] [--rows 1000]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def draw(trials: int, seed: int) -> list[dict[str, Any]]:
    """The searched values: lr log-uniform in [1e-3, 1], momentum uniform in [0, 0.9]."""
    rng = random.Random(seed)
    return [
        {"optim.lr": 10 ** rng.uniform(-3.0, 0.0), "optim.momentum": rng.uniform(0.0, 0.9)}
        for _ in range(trials)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--device", default=None, help="train.device (default: the preset's)")
    parser.add_argument("--rows", type=int, default=None, help="data.n_samples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the drawn values")
    args = parser.parse_args()

    import torch

    import engine
    from engine.config import parse_config
    from engine.config.presets import load_raw
    from engine.sweep.batched import train_batched
    from engine.sweep.batched_plan import trial_config

    raw, path = load_raw("default")
    raw = {k: v for k, v in raw.items() if k != "sweep"}
    if args.device:
        raw["train"] = {**raw["train"], "device": args.device}
    if args.rows:
        raw["data"] = {**raw["data"], "n_samples": args.rows}
    base = parse_config(raw, where="default", base_dir=str(path.parent))
    values = draw(args.trials, args.seed)
    print(
        f"torch {torch.__version__}, {os.cpu_count()} cores, {torch.get_num_threads()} "
        f"threads; load average {os.getloadavg()[0]:.2f} at start"
    )

    engine.fit(trial_config(base, values[0], 0))  # warm-up: first calls, lazy imports
    train_batched(base, values[:2])

    started = time.perf_counter()
    configs = [trial_config(base, v, i) for i, v in enumerate(values)]
    checks_s = time.perf_counter() - started
    sequential = [engine.fit(cfg).finished for cfg in configs]
    seq_s = time.perf_counter() - started
    started = time.perf_counter()
    result = train_batched(base, values)
    bat_s = time.perf_counter() - started

    k = len(values)
    epochs = sum(f.epochs_run for f in sequential)
    n = int(base.data.n_samples)
    print(
        f"{k} trials of the default preset ({n:,} rows; lr, momentum random; "
        f"{epochs:,} epochs in all, the longest {max(f.epochs_run for f in sequential)}) "
        f"on {result.device}"
    )
    print(
        f"  sequential engine.fit  {seq_s:9.3f} s | {k / seq_s:9.1f} trials/s | "
        f"(of which {checks_s:.3f} s building and checking the {k} configs)"
    )
    print(
        f"  batched program        {bat_s:9.3f} s | {k / bat_s:9.1f} trials/s | "
        f"ratio {seq_s / bat_s:6.1f}x  (set-up with the config checks "
        f"{result.setup_s:.3f} s; epochs {result.elapsed_s:.3f} s: {result.epochs} of them, "
        f"{result.host_reads} host reads)"
    )
    seq_fit, bat_fit = seq_s - checks_s, bat_s - result.checks_s
    print(
        f"  without the config checks: sequential {seq_fit:.3f} s, batched {bat_fit:.3f} s "
        f"(data once, set-up, epochs, read back): ratio {seq_fit / bat_fit:.1f}x"
    )
    same = worst = 0.0
    for fin, run in zip(sequential, result.trials):
        same += (fin.reason, fin.epochs_run) == (run.reason, run.epochs_run)
        for a, b in zip(run.weights + [run.bias or 0.0], fin.weights + [fin.bias or 0.0]):
            if math.isfinite(b):
                worst = max(worst, abs(a - b) / max(abs(b), 1e-6))
    print(
        f"  agreement: {int(same)}/{k} trials with the same reason and epochs; "
        f"weights within {worst:.1e} (relative)"
    )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
