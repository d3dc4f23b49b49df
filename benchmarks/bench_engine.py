"""Engine vs the classic tutorial loop, side by side on the same data in one process.

The tutorial loop (the one most PyTorch regression tutorials teach): a ``TensorDataset`` in a
``DataLoader(shuffle=True)``, ``nn.Linear``, ``nn.MSELoss``, ``loss.backward()``,
``optimizer.step()`` and ``loss.item()`` every step. A third column, a plain tensor loop without a
DataLoader (still ``.item()`` every step), shows how much of the gap the DataLoader alone makes.

The engine's time is its training loop (RunStarted to RunFinished: epochs, per-epoch validation,
metrics and events); its one-off set-up (data generation, the exact optimum) is printed apart.

    python benchmarks/bench_engine.py            # both cases (about 3 minutes on 2 cores)
    python benchmarks/bench_engine.py --quick    # tiny sizes, to check the script runs

Prints, per case, seconds per epoch of each loop and the ratios tutorial/engine and
plain/engine (above 1 means the engine is faster).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import engine
from engine.config import parse_config
from engine.data import load_dataset
from engine.events import RunFinished, RunStarted
from engine.trainer import run_training


def case_config(n: int, d: int, batch: int | None, epochs: int) -> engine.Config:
    return parse_config({
        "seed": 0,
        "data": {"n_samples": n, "n_features": d, "noise": 0.5, "val_fraction": 0.0,
                 "standardize": False},
        "loss": {"name": "mse"},
        "optim": {"name": "sgd", "lr": 0.01, "batch_size": batch},
        "train": {"epochs": epochs, "device": "cpu"},
        "early_stopping": {"enabled": False, "monitor": "train_loss"},
    }, where="benchmark")


def time_engine(cfg: engine.Config) -> tuple[float, float]:
    """(training-loop seconds, set-up seconds) of one engine run."""
    marks: dict[str, float] = {}

    def emit(ev: object) -> None:
        if isinstance(ev, RunStarted):
            marks["start"] = time.perf_counter()
        elif isinstance(ev, RunFinished):
            marks["end"] = time.perf_counter()

    t0 = time.perf_counter()
    run_training(cfg, emit)
    return marks["end"] - marks["start"], marks["start"] - t0


def time_tutorial(x: torch.Tensor, y: torch.Tensor, batch: int, epochs: int,
                  use_loader: bool) -> float:
    """Seconds for ``epochs`` epochs of the textbook loop (with or without a DataLoader)."""
    torch.manual_seed(0)
    model = nn.Linear(x.shape[1], 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.MSELoss()
    history: list[float] = []
    yy = y.unsqueeze(1)
    t0 = time.perf_counter()
    for _ in range(epochs):
        if use_loader:
            batches = DataLoader(TensorDataset(x, yy), batch_size=batch, shuffle=True)
        elif batch >= x.shape[0]:
            batches = [(x, yy)]  # full batch: nothing to shuffle
        else:
            perm = torch.randperm(x.shape[0])
            batches = ((x[perm[i:i + batch]], yy[perm[i:i + batch]])
                       for i in range(0, x.shape[0], batch))
        for xb, yb in batches:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.append(loss.item())
    return time.perf_counter() - t0


def run_case(name: str, n: int, d: int, batch: int | None, epochs: int, repeats: int) -> None:
    """Time the three loops ``repeats`` times, interleaved, and keep each one's best time
    (the least disturbed by whatever else the machine is doing)."""
    cfg = case_config(n, d, batch, epochs)
    ds = load_dataset(cfg)
    x, y = ds.train.x, ds.train.y
    bs = batch or n
    time_engine(case_config(min(n, 1000), d, batch and min(batch, 100), 1))  # warm-up
    eng, tut, plain, setup = [], [], [], []
    for _ in range(repeats):
        loop_s, setup_s = time_engine(cfg)
        eng.append(loop_s)
        setup.append(setup_s)
        tut.append(time_tutorial(x, y, bs, epochs, use_loader=True))
        plain.append(time_tutorial(x, y, bs, epochs, use_loader=False))
    e, t, p = min(eng), min(tut), min(plain)
    print(f"{name}: {n:,} x {d}, batch {'full' if batch is None else batch}, {epochs} epochs, "
          f"best of {repeats}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"  engine          {e / epochs:8.4f} s/epoch   (+ {min(setup):.2f} s one-off set-up)")
    print(f"  tutorial loop   {t / epochs:8.4f} s/epoch   ratio tutorial/engine = {t / e:6.2f}x")
    print(f"  plain loop      {p / epochs:8.4f} s/epoch   ratio plain/engine    = {p / e:6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per loop (best kept)")
    args = parser.parse_args()
    if args.quick:
        run_case("minibatch", 2_000, 5, 64, 2, args.repeats)
        run_case("full batch", 5_000, 8, None, 3, args.repeats)
    else:
        run_case("minibatch", 200_000, 20, 256, 3, args.repeats)
        run_case("full batch", 2_000_000, 64, None, 2, args.repeats)


if __name__ == "__main__":
    main()
