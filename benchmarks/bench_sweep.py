"""Sweep throughput, start-up included: a random sweep of the default preset (lr, momentum)
three ways, side by side, as trials per minute and ratios.

- **batched**: ``python -m engine sweep default`` as a user runs it (``--batch 32``, the
  default): Optuna asks 32 trials, they train as one tensor program in the sweep's process;
- **per-process**: the same command with ``--batch 1 --parallel 1``, one run (and run
  directory) per trial, the sweep as it was before batching;
- **in-process loop**: a fresh Python process that opens the same kind of study (SQLite) and
  runs ``study.ask()`` → ``engine.fit(config)`` → ``study.tell`` per trial, no run directories:
  the best a sequential loop in one process does.

Each is timed from process start to exit. The same again with a million rows
(``--set data.n_samples=1000000``, fewer trials). Also measured, in this process: what Optuna's
bookkeeping of a trial costs (ask, two suggests, two user attributes, tell) on SQLite (WAL,
as the sweep opens it) and on ``JournalStorage(JournalFileBackend)`` through Optuna's API, and
through the batched sweep's record (:mod:`engine.sweep.batch_store`: sampled in memory, two
SQLite transactions a batch), and what a run directory adds to a trial (``run_training`` with
and without a ``RunWriter``).

Goal (issue 23): batched >= 10x per-process and >= 1.5x the in-process loop.

    .venv/bin/python benchmarks/bench_sweep.py [--trials 100] [--million-trials 10]
        [--skip-million]
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
SPEC = (
    "params:\n  optim.lr: {low: 1.0e-3, high: 1.0, log: true}\n"
    "  optim.momentum: {low: 0.0, high: 0.9}\nsampler: random\npruning: false\nseed: 0\n"
)
BASE_SETS = ["train.device=cpu"]


def sweep_cmd(spec: Path, runs: Path, trials: int, sets: list[str], *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "engine",
        "sweep",
        "default",
        "--sweep",
        str(spec),
        "--json",
        "--trials",
        str(trials),
        "--runs-dir",
        str(runs),
        *extra,
        *(a for kv in sets for a in ("--set", kv)),
    ]


def child_cpu_s() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed_sweep(cmd: list[str]) -> tuple[float, int, float]:
    """Wall seconds of a sweep command, the trials it finished and its CPU seconds (all its
    processes: on a machine shared with other work the CPU seconds move less than the wall)."""
    cpu0, t0 = child_cpu_s(), time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-500:]}")
    n = sum(json.loads(line)["type"] == "TrialFinished" for line in done.stdout.splitlines())
    return wall, n, child_cpu_s() - cpu0


def in_process_loop(spec_text: str, db: Path, trials: int, sets: list[str]) -> int:
    """The child side of the in-process loop (``--loop``): ask, fit, tell per trial."""
    import optuna

    from engine.config.presets import load_config
    from engine.training.run import fit

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=f"sqlite:///{db}",
        sampler=optuna.samplers.RandomSampler(seed=0),
        direction="minimize",
    )
    for _ in range(trials):
        t = study.ask()
        lr = t.suggest_float("optim.lr", 1e-3, 1.0, log=True)
        mom = t.suggest_float("optim.momentum", 0.0, 0.9)
        cfg = load_config("default", [*sets, f"optim.lr={lr}", f"optim.momentum={mom}"])
        fin = fit(cfg).finished
        study.tell(t, fin.best_monitor if fin.best_monitor is not None else float("inf"))
    return trials


def storage_costs(trials: int, tmp: Path) -> dict[str, float]:
    """Milliseconds of Optuna bookkeeping per trial, SQLite (as the sweep opens it) vs the
    journal file."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from engine.sweep.study import open_storage

    out = {}
    stores = {
        "sqlite (WAL)": lambda: open_storage(f"sqlite:///{tmp / 'cost.db'}"),
        "journal file": lambda: JournalStorage(JournalFileBackend(str(tmp / "cost.log"))),
    }
    for name, make in stores.items():  # Optuna's API, a trial at a time
        t0 = time.perf_counter()
        study = optuna.create_study(storage=make(), sampler=optuna.samplers.RandomSampler(0))
        for i in range(trials):
            t = study.ask()
            t.suggest_float("lr", 1e-3, 1.0, log=True)
            t.suggest_float("momentum", 0.0, 0.9)
            t.set_user_attr("host", "h")
            t.set_user_attr("pid", i)
            study.tell(t, float(i))
        out[name] = 1000 * (time.perf_counter() - t0) / trials
    out["sqlite, batched record (batch 32)"] = batched_record_cost(trials, tmp)
    return out


def batched_record_cost(trials: int, tmp: Path) -> float:
    """Milliseconds per trial of what a batched sweep does instead
    (:class:`engine.sweep.batch_store.BatchStudy`): sample in memory, two transactions a
    batch of 32."""
    from engine.sweep.batch_store import BatchStudy
    from engine.sweep.spec import load_sweep
    from engine.sweep.study import open_storage, open_study
    from engine.sweep.trial import TrialResult

    spec_path = tmp / "cost-spec.yaml"
    spec_path.write_text(SPEC)
    setup = load_sweep("default", str(spec_path), BASE_SETS, trials=trials)
    storage = open_storage(f"sqlite:///{tmp / 'cost-batched.db'}")
    t0 = time.perf_counter()
    asker = BatchStudy(open_study(storage, "cost", setup.spec), setup.spec, tmp)
    while batch := asker.ask(32):
        asker.tell(
            batch, [TrialResult(t.number, t.params, "complete", float(t.number)) for t in batch]
        )
    return 1000 * (time.perf_counter() - t0) / trials


def run_dir_cost(trials: int, tmp: Path, sets: list[str]) -> tuple[float, float]:
    """Milliseconds per trial of ``run_training`` without and with a run directory."""
    from engine.config.presets import load_config, portable_dict
    from engine.runs.store import RunWriter, new_run_dir
    from engine.training.trainer import run_training

    cfg = load_config("default", sets)
    run_training(cfg, lambda e: None)  # warm up
    t0 = time.perf_counter()
    for _ in range(trials):
        run_training(cfg, lambda e: None)
    bare = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(trials):
        writer = RunWriter(new_run_dir(tmp / "runs-cost", "cost"), portable_dict(cfg, cfg.name))
        run_training(cfg, writer, checkpoints=writer)
        writer.close()
    return 1000 * bare / trials, 1000 * (time.perf_counter() - t0) / trials


def side_by_side(tmp: Path, trials: int, sets: list[str], label: str) -> None:
    spec = tmp / "spec.yaml"
    spec.write_text(SPEC)
    tag = str(abs(hash(label)))
    rows = {}
    rows["batched (default --batch)"] = timed_sweep(sweep_cmd(spec, tmp / f"b{tag}", trials, sets))
    rows["per-process (--batch 1)"] = timed_sweep(
        sweep_cmd(spec, tmp / f"p{tag}", trials, sets, "--batch", "1", "--parallel", "1")
    )
    cpu0, t0 = child_cpu_s(), time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--loop", str(tmp / f"l{tag}.db"), str(trials), *sets],
        cwd=ROOT,
        check=True,
    )
    rows["in-process loop (fit)"] = (time.perf_counter() - t0, trials, child_cpu_s() - cpu0)
    print(
        f"\n{label}: {trials}-trial random sweep of the default preset (lr, momentum), "
        f"{os.cpu_count()} cores, start-up included (load average {os.getloadavg()[0]:.1f})"
    )
    print(f"{'':26s} {'wall s':>7s} {'trials/min':>10s} {'batched is':>11s} {'cpu s':>7s}")
    batched = rows["batched (default --batch)"]
    rate_b = 60 * batched[1] / batched[0]
    for name, (wall, n, cpu) in rows.items():
        rate = 60 * n / wall
        print(f"{name:26s} {wall:7.2f} {rate:10.1f} {rate_b / rate:10.2f}x {cpu:7.2f}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--loop":
        in_process_loop(SPEC, Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--million-trials", type=int, default=10)
    ap.add_argument("--skip-million", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        costs = storage_costs(args.trials, tmp)
        print(
            f"Optuna bookkeeping per trial ({args.trials} trials: ask, 2 suggests, 2 user "
            "attributes, tell): " + ", ".join(f"{k} {v:.1f} ms" for k, v in costs.items())
        )
        bare, with_dir = run_dir_cost(20, tmp, BASE_SETS)
        print(
            f"a default-preset trial: {bare:.1f} ms training alone, {with_dir:.1f} ms with "
            f"its run directory"
        )
        side_by_side(tmp, args.trials, BASE_SETS, "1000 rows")
        if not args.skip_million:
            side_by_side(
                tmp, args.million_trials, [*BASE_SETS, "data.n_samples=1000000"], "a million rows"
            )


if __name__ == "__main__":
    main()
