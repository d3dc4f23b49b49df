"""Data loading against its anchors, from one run: speed ratios and peak memory.

    .venv/bin/python benchmarks/bench_data.py          # 215 MB CSV (1.45M x 11), 5M x 100 draw
    .venv/bin/python benchmarks/bench_data.py --quick  # small sizes: a smoke test for CI

Each case runs in its own process, so its peak RSS (``ru_maxrss``) is its own; the baseline is
the same process's peak after importing torch, numpy, pyarrow and the engine, before
any work. Files are
generated in a temporary folder (never in the repository) and removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASE = r"""
import json, resource, sys, time
import numpy as np, torch
import engine.data.dataset, engine.data.tables
import pyarrow.csv, pyarrow.parquet  # a fixed library cost, in the baseline
from tests.conftest import make_config
kind, arg = sys.argv[1], sys.argv[2]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if kind == "engine":
    names = engine.data.tables.file_columns(__import__("pathlib").Path(arg))
    out = engine.data.dataset.read_table(arg, names).values
elif kind == "loadtxt":
    out = torch.from_numpy(np.loadtxt(arg, delimiter=",", skiprows=1, dtype=np.float32))
else:
    n, d = map(int, arg.split("x"))
    ds = engine.data.dataset.load_dataset(make_config(data={"n_samples": n, "n_features": d}))
    out = [ds.train.x, ds.val.x, ds.train.y, ds.val.y]
seconds = time.perf_counter() - t0
nbytes = sum(t.nbytes for t in out) if isinstance(out, list) else out.nbytes
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"s": seconds, "base_mb": base / 1024, "peak_mb": peak / 1024,
                  "data_mb": nbytes / 2**20}))
"""


def run_case(kind: str, arg: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CASE, kind, arg],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def write_csv(path: Path, rows: int, cols: int) -> None:
    """Random numbers with mixed scales, written by pyarrow (fast), ~13 characters a cell."""
    import numpy as np
    import pyarrow as pa
    from pyarrow import csv as pcsv

    rng = np.random.default_rng(0)
    scale = 10.0 ** rng.integers(-2, 4, cols)
    table = pa.table(
        {f"c{j}": (rng.standard_normal(rows) * scale[j]).astype(np.float32) for j in range(cols)}
    )
    pcsv.write_csv(table, path)


def memory_line(name: str, r: dict, allowed: float) -> str:
    extra = r["peak_mb"] - r["base_mb"]
    return (
        f"{name:<34} peak {r['peak_mb']:7.0f} MB = baseline {r['base_mb']:5.0f} + "
        f"{extra:6.0f} MB = {extra / r['data_mb']:.2f}x the {r['data_mb']:.0f} MB of data "
        f"(goal <= {allowed}x)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (CI smoke test)")
    args = ap.parse_args()
    rows, draw = (50_000, "200000x20") if args.quick else (1_450_000, "5000000x100")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        write_csv(csv, rows, 11)
        size = csv.stat().st_size / 2**20
        eng, anchor = run_case("engine", str(csv)), run_case("loadtxt", str(csv))
    syn = run_case("synthetic", draw)
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        f"CSV {size:.0f} MB ({rows} x 11): engine {eng['s']:.2f} s, numpy.loadtxt "
        f"{anchor['s']:.2f} s -> {anchor['s'] / eng['s']:.1f}x loadtxt's speed (goal >= 1x)"
    )
    print(memory_line("CSV load, engine:", eng, 2))
    print(memory_line("CSV load, numpy.loadtxt:", anchor, 2))
    print(f"synthetic {draw}: load_dataset {syn['s']:.2f} s")
    print(memory_line(f"synthetic {draw}:", syn, 1.5))


if __name__ == "__main__":
    main()
