"""The engine's speed against anchors, side by side from one run of this script.

Cases (each prints the engine, the anchor beside it and the ratio anchor/engine: above 1 means
the engine is faster; the goal from issue 10 is printed with it):

- minibatch 200k x 20, batch 256, MSE, SGD (s/epoch), against
  the tutorial loop (``DataLoader(shuffle=True)``, autograd, ``torch.optim.SGD``, ``.item()``
  every step; goal >= 15x), a hand-derived-gradient tensor loop (``index_select`` batches,
  ``r = Xb·w + b - yb``, ``w -= lr·2/m·Xbᵀr``; goal >= 1x) and scikit-learn's
  ``SGDRegressor`` (constant learning rate, per-sample updates: a different algorithm with the
  same per-epoch work; chased, >= 1x is the goal);
- full batch 2M x 64 (512 MB), MSE (ms/epoch), against the one-read limit: the time to copy X
  once at memcpy speed (goal >= 0.5): the blocked closed-form pass (every built-in loss), the
  sufficient-statistics pass (MSE/ridge; its one-off cost printed apart) and the autograd path
  (what user losses take);
- start-up: ``linreg-tui train default`` wall against ``python -c "import torch"`` wall
  (goal: at most 0.5 s more);
- peak RSS of each engine case in its own process, beside the data's bytes and the RSS of a
  process that only imported torch.

Engine epoch times are steady-state: the smallest interval between consecutive ``EpochEnded``
events (an epoch's steps, its validation pass, metrics, the one host read and the event).

    python benchmarks/bench_engine.py            # all cases (a few minutes on 2 cores)
    python benchmarks/bench_engine.py --quick    # tiny sizes, to check the script runs (CI)
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = {
    "full": {"minibatch": (200_000, 20, 256, 4), "full_batch": (2_000_000, 64, None, 6)},
    "quick": {"minibatch": (4_000, 5, 64, 3), "full_batch": (20_000, 8, None, 4)},
}
LR = 0.01


def case_config(n: int, d: int, batch: int | None, epochs: int):
    from engine.config import parse_config

    return parse_config(
        {
            "seed": 0,
            "data": {
                "n_samples": n,
                "n_features": d,
                "noise": 0.5,
                "val_fraction": 0.0,
                "standardize": False,
            },
            "loss": {"name": "mse"},
            "optim": {"name": "sgd", "lr": LR, "batch_size": batch},
            "train": {"epochs": epochs, "device": "cpu"},
            "early_stopping": {"enabled": False, "monitor": "train_loss"},
        },
        where="benchmark",
    )


def best(fn, repeats: int) -> float:
    """The smallest of ``repeats`` timings of ``fn()`` (the least disturbed by other work)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def time_engine(cfg, ds, steps: str) -> dict[str, float]:
    """Steady-state s/epoch of one engine run with step strategy ``steps``, and the one-off
    extra of its first epoch (sufficient statistics are built then)."""
    from engine.core.events import EpochEnded, RunStarted
    from engine.training.epoch import STEPS_ENV
    from engine.training.trainer import run_training

    os.environ[STEPS_ENV] = steps
    marks: list[float] = []  # RunStarted, then every EpochEnded

    def emit(ev: object) -> None:
        if isinstance(ev, (RunStarted, EpochEnded)):
            marks.append(time.perf_counter())

    run_training(cfg, emit, dataset=ds)
    epochs = [b - a for a, b in itertools.pairwise(marks)]
    steady = min(epochs[1:])
    return {"epoch_s": steady, "first_extra_s": max(0.0, epochs[0] - steady)}


def tutorial_epoch(x, y, batch: int) -> None:
    """The classic loop: DataLoader, nn.Linear, MSELoss, backward, step, .item() per step."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    model = nn.Linear(x.shape[1], 1)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.MSELoss()
    history = []
    for xb, yb in DataLoader(TensorDataset(x, y.unsqueeze(1)), batch_size=batch, shuffle=True):
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())


def hand_epoch(x, y, batch: int) -> None:
    """Hand-derived MSE gradient on tensors: no autograd, no optimizer object, no sync."""
    import torch

    n, d = x.shape
    w, b = torch.zeros(d), torch.zeros(1)
    perm = torch.randperm(n)
    for start in range(0, n, batch):
        idx = perm[start : start + batch]
        xb, yb = x.index_select(0, idx), y.index_select(0, idx)
        r = torch.addmv(b - yb, xb, w)
        step = LR * 2.0 / idx.shape[0]
        w.sub_(xb.t() @ r, alpha=step)
        b.sub_(r.sum(), alpha=step)


def sklearn_epochs(x, y, epochs: int) -> float:
    """Seconds per epoch of scikit-learn's SGDRegressor (constant step, no penalty)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDRegressor

    xn, yn = x.numpy().astype("float64"), y.numpy().astype("float64")
    model = SGDRegressor(
        loss="squared_error",
        penalty=None,
        learning_rate="constant",
        eta0=LR,
        max_iter=epochs,
        tol=None,
        shuffle=True,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        model.fit(xn, yn)
    return (time.perf_counter() - t0) / epochs


def child_minibatch(size: str, repeats: int) -> dict:
    import torch

    from engine.data.dataset import load_dataset

    n, d, batch, epochs = SIZES[size]["minibatch"]
    cfg = case_config(n, d, batch, epochs)
    ds = load_dataset(cfg)
    x, y = ds.train.x, ds.train.y
    out: dict[str, float] = {"engine": 1e9, "tutorial": 1e9, "hand": 1e9, "sklearn": 1e9}
    for _ in range(repeats):  # interleaved, best of each
        out["engine"] = min(out["engine"], time_engine(cfg, ds, "auto")["epoch_s"])
        out["tutorial"] = min(out["tutorial"], best(lambda: tutorial_epoch(x, y, batch), 1))
        out["hand"] = min(out["hand"], best(lambda: hand_epoch(x, y, batch), 2))
        out["sklearn"] = min(out["sklearn"], sklearn_epochs(x, y, epochs))
    out["threads"] = torch.get_num_threads()
    return out


def child_full_batch(size: str, repeats: int) -> dict:
    import torch

    from engine.data.dataset import load_dataset

    n, d, _, epochs = SIZES[size]["full_batch"]
    cfg = case_config(n, d, None, epochs)
    ds = load_dataset(cfg)
    x = ds.train.x
    # the copy's destination lives only in the partial: freed once the memcpy is timed
    out: dict[str, float] = {"memcpy": best(functools.partial(torch.empty_like(x).copy_, x), 5)}
    for steps in ("closed_form", "gram", "autograd"):
        runs = [time_engine(cfg, ds, steps) for _ in range(repeats if steps != "autograd" else 1)]
        out[steps] = min(r["epoch_s"] for r in runs)
        out[steps + "_first_extra"] = min(r["first_extra_s"] for r in runs)
    out["x_bytes"] = x.numel() * x.element_size()
    return out


def child_rss(case: str, size: str) -> dict:
    """Peak RSS of one engine run of ``case`` (its data generated in this process)."""
    from engine.training.trainer import run_training

    n, d, batch, epochs = SIZES[size][case]
    run_training(case_config(n, d, batch, epochs), lambda ev: None)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"peak_rss_mb": rss_mb, "data_mb": n * (d + 1) * 4 / 2**20}


def child_torch_rss() -> dict:
    import torch  # noqa: F401

    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def in_child(*args: str) -> dict:
    """Run this script's ``--child`` mode in a fresh process and return its JSON line."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child {args} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def start_up(repeats: int) -> tuple[float, float]:
    """(``import torch`` wall, ``linreg-tui train default`` wall): each the best of ``repeats``
    fresh processes, interleaved so a burst of load elsewhere hits both alike."""
    script = Path(sys.executable).with_name("linreg-tui")
    train = [str(script)] if script.exists() else [sys.executable, "-m", "tui.cli"]
    cmds = {"torch": [sys.executable, "-c", "import torch"], "train": [*train, "train", "default"]}
    times: dict[str, list[float]] = {"torch": [], "train": []}
    with tempfile.TemporaryDirectory() as runs:
        env = {**os.environ, "XDG_STATE_HOME": runs}
        env.pop("LINREG_TUI_STEPS", None)
        for _ in range(repeats):
            for name, cmd in cmds.items():
                t0 = time.perf_counter()
                subprocess.run(
                    cmd,
                    cwd=ROOT,
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                times[name].append(time.perf_counter() - t0)
    return min(times["torch"]), min(times["train"])


def row(name: str, engine: float, unit: str, anchor_name: str, anchor: float, goal: str) -> str:
    scale = 1000 if unit == "ms" else 1
    return (
        f"  {name:<26} {engine * scale:9.4g} {unit:<5}| {anchor_name:<30} "
        f"{anchor * scale:9.4g} {unit:<5}| ratio {anchor / engine:7.3g}x | goal {goal}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per loop (best kept)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = "quick" if args.quick else "full"
    if args.child:
        kind, *rest = args.child
        result = {
            "minibatch": lambda: child_minibatch(rest[0], int(rest[1])),
            "full_batch": lambda: child_full_batch(rest[0], int(rest[1])),
            "rss": lambda: child_rss(rest[0], rest[1]),
            "torch_rss": child_torch_rss,
        }[kind]()
        print(json.dumps(result))
        return

    import torch

    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU"
    print(
        f"torch {torch.__version__} ({build} build), {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} threads, "
        f"python {sys.version.split()[0]}; {size} sizes, best of {args.repeats}; "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )
    n, d, batch, _ = SIZES[size]["minibatch"]
    mb = in_child("minibatch", size, str(args.repeats))
    print(f"minibatch {n:,} x {d}, batch {batch}, MSE, SGD (s/epoch; ratio = anchor/engine)")
    print(row("engine", mb["engine"], "s", "tutorial loop (DataLoader)", mb["tutorial"], ">= 15x"))
    print(row("engine", mb["engine"], "s", "hand-gradient tensor loop", mb["hand"], ">= 1x"))
    print(row("engine", mb["engine"], "s", "sklearn SGDRegressor", mb["sklearn"], "chase (>= 1x)"))

    n, d, _, _ = SIZES[size]["full_batch"]
    fb = in_child("full_batch", size, str(args.repeats))
    print(
        f"full batch {n:,} x {d} ({fb['x_bytes'] / 2**20:.0f} MB), MSE, SGD "
        "(ms/epoch; ratio = fraction of the one-read limit)"
    )
    limit = "one read of X (memcpy)"
    print(row("engine, blocked pass", fb["closed_form"], "ms", limit, fb["memcpy"], ">= 0.5"))
    print(
        row("engine, sufficient stats", fb["gram"], "ms", limit, fb["memcpy"], "past 1")
        + f" (+ {fb['gram_first_extra']:.2f} s once for XᵀX, Xᵀy)"
    )
    print(row("engine, autograd path", fb["autograd"], "ms", limit, fb["memcpy"], "(user losses)"))

    torch_s, train_s = start_up(1 if args.quick else max(3, args.repeats))
    print("start-up (s; wall of a fresh process)")
    print(
        f"  linreg-tui train default   {train_s:9.3f} s    | python -c 'import torch'       "
        f"{torch_s:9.3f} s    | extra {train_s - torch_s:+.3f} s | goal <= +0.5 s"
    )

    base = in_child("torch_rss")["peak_rss_mb"]
    print(f"peak RSS (MB, each in its own process; import torch alone: {base:.0f} MB)")
    for case in ("minibatch", "full_batch"):
        r = in_child("rss", case, size)
        print(
            f"  {case:<26} {r['peak_rss_mb']:9.0f} MB   | data (X and y, float32)        "
            f"{r['data_mb']:9.0f} MB   | above torch {r['peak_rss_mb'] - base:.0f} MB "
            f"= {(r['peak_rss_mb'] - base) / r['data_mb']:.2f}x the data"
        )
    print(
        f"load average {os.getloadavg()[0]:.2f} at the end (other work on the machine "
        "slows torch's multi-threaded ops most)"
    )


if __name__ == "__main__":
    main()
