"""Data-parallel training: 2 torchrun ranks against 1 process on a large full-batch problem.

Each case is a real ``linreg-tui train`` (``--nproc 2`` runs torchrun's elastic agent and two
gloo ranks; 1 process is the plain run), timed from its own events: steady-state epochs per
second are the epochs after the first tenth over the training time they took (each rank's
epoch = its half of the rows, the only rows it holds, the all-reduces, its half of the
validation pass, and rank 0's event). Two step
strategies: the per-epoch gradient pass (``LINREG_TUI_STEPS=closed_form``: one all-reduce of
the gradient and one of the epoch's sums per epoch) and the sufficient statistics (MSE's
default: ``ZᵀZ``/``Zᵀy`` all-reduced once, then one all-reduce of the sums per epoch).

Threads: every process, the single one and each rank, gets ``--threads`` torch threads (default
1), so the comparison is of the same compute per process, one process against two; on a shared
machine a process whose threads outnumber the free cores spins and slows down many times over,
which would say nothing about data parallelism (``--threads 0``: torch's default, every core).

The all-reduce share is measured apart, in two gloo ranks that only all-reduce a vector the
size of the epoch's (d + 1 gradient values, then 7 sums) as often as an epoch does: its time
over the 2-rank epoch time.

Reading is measured apart too: a large CSV and a Parquet file read by 1 process
(:func:`engine.data.tables.read_columns`) and by 2 gloo ranks that each read only their byte
range or row groups and then gather the parts (:func:`engine.data.shard.read_shard`): the time
per rank, split into its own part and the gather.

    python benchmarks/bench_distributed.py            # 2M x 32, 200 epochs (a few minutes)
    python benchmarks/bench_distributed.py --quick    # tiny sizes, to check the script runs
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"full": (2_000_000, 32, 200), "quick": (20_000, 8, 30)}
READ_SIZES = {"full": (1_000_000, 16), "quick": (20_000, 8)}
PROBE_CALLS = 2000


def train(
    nproc: int, steps: str, n: int, d: int, epochs: int, tmp: Path, threads: int
) -> dict[str, float]:
    """One real run; its steady-state epochs/s and wall time."""
    run_dir = tmp / f"run-{nproc}-{steps}"
    cmd = [
        sys.executable,
        "-m",
        "engine",
        "train",
        "default",
        f"--set=data.n_samples={n}",
        f"--set=data.n_features={d}",
        "--set=data.val_fraction=0.05",
        f"--set=train.epochs={epochs}",
        "--set=train.device=cpu",
        "--set=early_stopping.enabled=false",
        f"--set=train.processes={nproc}",
        "--run-dir",
        str(run_dir),
    ]
    env = {**os.environ, "LINREG_TUI_STEPS": steps, "PYTHONPATH": str(ROOT)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    else:
        env.pop("OMP_NUM_THREADS", None)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    times = [
        e["elapsed_s"]
        for e in map(json.loads, (run_dir / "events.jsonl").read_text().splitlines())
        if e["type"] == "EpochEnded"
    ]
    k0 = max(1, len(times) // 10)
    rate = (len(times) - k0) / (times[-1] - times[k0 - 1])
    return {"epochs_per_s": rate, "wall_s": wall}


def probe(sizes: list[int], out: Path) -> None:
    """In a rank: time ``PROBE_CALLS`` rounds of all-reducing vectors of ``sizes`` floats."""
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    vecs = [torch.zeros(s) for s in sizes]
    for _ in range(100):
        for v in vecs:
            dist.all_reduce(v)
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(PROBE_CALLS):
        for v in vecs:
            dist.all_reduce(v)
    per_round = (time.perf_counter() - t0) / PROBE_CALLS
    if dist.get_rank() == 0:
        out.write_text(json.dumps(per_round))
    dist.destroy_process_group()


def allreduce_s(sizes: list[int], tmp: Path) -> float:
    """Seconds per epoch's worth of all-reduces between 2 gloo ranks on this machine."""

    from torch.distributed.launcher.api import elastic_launch

    from engine.cli.launch import local_config

    out = tmp / "probe.json"
    config = local_config(2)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    elastic_launch(config, sys.executable)(__file__, "--probe", json.dumps(sizes), str(out))
    return float(json.loads(out.read_text()))


def write_tables(n: int, d: int, tmp: Path) -> list[Path]:
    """A CSV and a Parquet file (16 row groups) of ``n`` random rows and ``d`` + 1 columns."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    table = pa.table({f"c{j}": rng.normal(size=n).astype(np.float32) for j in range(d + 1)})
    csv, parquet = tmp / "big.csv", tmp / "big.parquet"
    pcsv.write_csv(table, csv, pcsv.WriteOptions(quoting_header="none"))  # no quotes: sharded
    pq.write_table(table, parquet, row_group_size=max(1, n // 16))
    return [csv, parquet]


def read_once(path: Path) -> float:
    """Seconds for one process to read every column of ``path``."""
    from engine.data.tables import file_columns, read_columns

    header = file_columns(path)
    t0 = time.perf_counter()
    read_columns(path, header, header)
    return time.perf_counter() - t0


def read_rank(path: Path, out: Path) -> None:
    """In a rank: read ``path`` sharded; write this rank's total and gather seconds."""
    import torch.distributed as dist

    from engine.data.shard import Shard, read_shard
    from engine.data.tables import file_columns, is_parquet
    from engine.training.distributed import Dist

    dist.init_process_group("gloo")
    shard, spent = Dist(dist.get_rank(), dist.get_world_size()).shard(), [0.0]

    def timed_gather(t: Any, counts: list[int]) -> Any:
        t0 = time.perf_counter()
        try:
            return shard.gather_rows(t, counts)
        finally:
            spent[0] += time.perf_counter() - t0

    timed = Shard(shard.rank, shard.world, shard.gather, timed_gather)
    header = file_columns(path)
    dist.barrier()
    t0 = time.perf_counter()
    if read_shard(path, header, header, timed, parquet=is_parquet(path)) is None:
        raise SystemExit(f"{path} has quotes: it was not read in parts")
    total = time.perf_counter() - t0
    Path(f"{out}-{shard.rank}").write_text(json.dumps([total, spent[0]]))
    dist.destroy_process_group()


def read_ranks(path: Path, tmp: Path) -> list[list[float]]:
    """Per rank of 2: seconds to read ``path`` sharded, and of them the gather's."""

    from torch.distributed.launcher.api import elastic_launch

    from engine.cli.launch import local_config

    out = tmp / "read"
    config = local_config(2)
    elastic_launch(config, sys.executable)(__file__, "--read", str(path), str(out))
    return [json.loads(Path(f"{out}-{r}").read_text()) for r in (0, 1)]


def reading(n: int, d: int, tmp: Path) -> None:
    """Print read times: 1 process against each of 2 ranks reading its own part."""
    print()
    for path in write_tables(n, d, tmp):
        one = read_once(path)
        ranks = read_ranks(path, tmp)
        size = path.stat().st_size / 2**20
        each = ", ".join(f"{t:.2f} s ({t - g:.2f} own part + {g:.2f} gather)" for t, g in ranks)
        print(
            f"read {path.suffix[1:]:<8} {n:,} x {d + 1} ({size:,.0f} MB): "
            f"1 process {one:.2f} s; 2 ranks: {each}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process (0: all)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default 200)")
    p.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--read", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--only-read", action="store_true", help="only the reading benchmark")
    args = p.parse_args()
    if args.probe:
        probe(json.loads(args.probe[0]), Path(args.probe[1]))
        return
    if args.read:
        read_rank(Path(args.read[0]), Path(args.read[1]))
        return
    if args.only_read:
        with tempfile.TemporaryDirectory() as name:
            reading(*READ_SIZES["quick" if args.quick else "full"], Path(name))
        return
    n, d, epochs = SIZES["quick" if args.quick else "full"]
    epochs = args.epochs or epochs
    threads = f"{args.threads} thread{'s' if args.threads != 1 else ''}" if args.threads else "all"
    print(
        f"full batch, MSE, {n:,} rows x {d} features ({n * d * 4 / 2**20:,.0f} MB), {epochs} epochs"
    )
    print(
        f"on {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the start); "
        f"{threads} per process"
    )
    print()
    print(f"{'steps':<24}{'1 process':>14}{'2 ranks':>14}{'ratio':>8}   wall 1 / 2 ranks")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        rows = {}
        for steps, label in (
            ("closed_form", "gradient each epoch"),
            ("gram", "sufficient statistics"),
        ):
            one = train(1, steps, n, d, epochs, tmp, args.threads)
            two = train(2, steps, n, d, epochs, tmp, args.threads)
            rows[steps] = two
            print(
                f"{label:<24}{one['epochs_per_s']:>9.1f} ep/s{two['epochs_per_s']:>9.1f} ep/s"
                f"{two['epochs_per_s'] / one['epochs_per_s']:>7.2f}x"
                f"   {one['wall_s']:.1f} s / {two['wall_s']:.1f} s"
            )
        print()
        for steps, sizes in (("closed_form", [d + 1, 7]), ("gram", [7])):
            per_epoch = allreduce_s(sizes, tmp)
            share = per_epoch * rows[steps]["epochs_per_s"]
            what = " + ".join(f"{s} floats" for s in sizes)
            print(
                f"all-reduce per epoch ({steps}: {what}): {per_epoch * 1e6:,.0f} us = "
                f"{share:.1%} of the 2-rank epoch"
            )
        reading(*READ_SIZES["quick" if args.quick else "full"], tmp)


if __name__ == "__main__":
    main()
