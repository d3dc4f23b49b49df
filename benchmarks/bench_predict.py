"""``predict`` on a large CSV, streamed in blocks, against ``numpy.loadtxt`` + a matmul.

Makes a CSV of ``--rows`` rows (default 2,000,000 x 10 features + target, ~200 MB), trains
nothing (a model file is written from known weights), then in this one process times:

- predict: :class:`engine.cli.predict.BlockWriter` over :func:`engine.data.blocks.table_blocks`
  (pyarrow's streaming reader, one ~1 MB block at a time), writing the CSV to a file;
- read+pred: the same blocks predicted, nothing written (what the anchor does);
- loadtxt: ``numpy.loadtxt`` of the whole file and ``x @ w`` (no output written).

Each reports wall time and how far it raised the process's peak RSS
(``resource.getrusage`` peak less the RSS before it, each case in a forked copy of the
process so each peak is its own), and ``tracemalloc``'s peak of Python/numpy allocations. Run:
``.venv/bin/python benchmarks/bench_predict.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

FEATURES = 10


def make_csv(path: Path, rows: int) -> np.ndarray:
    """Write ``rows`` random rows (x0..x9, y); return the true weights."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal(FEATURES).astype(np.float32)
    header = ",".join([f"x{i}" for i in range(FEATURES)] + ["y"])
    with path.open("w") as fh:
        fh.write(header + "\n")
        for start in range(0, rows, 200_000):
            x = rng.standard_normal((min(200_000, rows - start), FEATURES)).astype(np.float32)
            np.savetxt(fh, np.c_[x, x @ w], delimiter=",", fmt="%.7g")
    return w


def run_predict(path: Path, out: Path, w: np.ndarray) -> int:
    from engine.cli.predict import BlockWriter
    from engine.data.blocks import table_blocks
    from engine.data.tables import file_columns
    from engine.runs.model_file import LinearModel

    names = [f"x{i}" for i in range(FEATURES)]
    model = LinearModel(
        torch.tensor(w).reshape(1, -1),
        torch.zeros(1),
        names,
        names,
        1,
        None,
        None,
        0.0,
        1.0,
        "y",
        {},
        {},
    )
    header = file_columns(path, key=None)
    writer = BlockWriter(model, names, [*names, "y"], as_json=False)
    with out.open("wb") as fh:
        writer.write_all(table_blocks(path, header, [*names, "y"]), fh.write)
    return writer.rows


def run_predict_only(path: Path, out: Path, w: np.ndarray) -> int:
    """The same read and prediction, block by block, with nothing written (like the anchor)."""
    from engine.data.blocks import table_blocks
    from engine.data.tables import file_columns

    header = file_columns(path, key=None)
    weight, bias = torch.tensor(w).reshape(1, -1), torch.zeros(1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as BlockWriter does
    rows = 0
    try:
        for block in table_blocks(path, header, header):
            rows += len(torch.nn.functional.linear(block[:, :FEATURES], weight, bias))
    finally:
        torch.set_num_threads(threads)
    return rows


def run_loadtxt(path: Path, out: Path, w: np.ndarray) -> int:
    """The anchor reads and predicts only (``numpy.savetxt`` of the result would add ~30 s per
    million rows): predict, which also writes its CSV, is charged more than it."""
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
    pred = data[:, :FEATURES] @ w
    return len(pred)


def rss_bytes() -> int:
    """This process's RSS now (Linux /proc), in bytes."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _child(fn, args, pipe) -> None:  # type: ignore[no-untyped-def]
    before = rss_bytes()
    tracemalloc.start()
    t0 = time.perf_counter()
    fn(*args)
    wall = time.perf_counter() - t0
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    pipe.send((wall, max(peak_rss_bytes() - before, 0), traced))


def measure(fn, *args) -> tuple[float, int, int]:  # type: ignore[no-untyped-def]
    """Wall seconds, peak RSS growth over the RSS at the start, tracemalloc peak: in a forked
    copy of this process (imports done, same state), so each case has its own peak RSS."""
    ctx = multiprocessing.get_context("fork")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(fn, args, there))
    proc.start()
    result = here.recv()
    proc.join()
    return result  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "rows.csv", Path(tmp) / "out.csv"
        w = make_csv(path, args.rows)
        mb = os.path.getsize(path) / 1e6
        tensor_mb = args.rows * (FEATURES + 1) * 4 / 1e6
        print(f"{args.rows} rows, {mb:.0f} MB CSV, whole tensor {tensor_mb:.0f} MB")
        run_predict(path, out, w)  # warm: imports, arrow's pool
        p = measure(run_predict, path, out, w)
        r = measure(run_predict_only, path, out, w)
        lt = measure(run_loadtxt, path, out, w)
        print(f"{'':10}{'wall s':>9}{'+peak RSS MB':>14}{'traced MB':>11}")
        for name, m in (("predict", p), ("read+pred", r), ("loadtxt", lt)):
            print(f"{name:10}{m[0]:9.2f}{m[1] / 1e6:14.1f}{m[2] / 1e6:11.1f}")
        print(
            f"read+predict/loadtxt+matmul: time {r[0] / lt[0]:.2f}x; predict writing its "
            f"CSV/loadtxt+matmul: time {p[0] / lt[0]:.2f}x, peak RSS growth "
            f"{p[1] / max(lt[1], 1):.3f}x (whole tensor {tensor_mb:.0f} MB)"
        )


if __name__ == "__main__":
    main()
