"""What the robust metrics cost per epoch, from one run of this script (issue 13 item 7).

- ``coef_rmse`` is on every ``EpochEnded`` (synthetic data): host numbers only, no device sync.
  Printed: its time per call beside the engine's median epoch time (ratio = share of an epoch).
- ``medae`` is only in ``RunFinished``: a median per epoch measured 5-14% of a small
  full-batch epoch. Printed: a median of the validation residuals beside the epoch time, the
  cost an epoch would pay.

    python benchmarks/bench_metrics.py
"""

from __future__ import annotations

import itertools
import timeit

import torch

import engine
from engine.config.presets import load_config
from engine.training.metrics import coef_rmse, median_abs


def median_epoch_s(preset: str, extra: list[str]) -> float:
    """The median interval between consecutive EpochEnded events of a 400-epoch run."""
    cfg = load_config(
        preset, ["early_stopping.enabled=false", "train.epochs=400", "train.device=cpu", *extra]
    )
    ts = [e.elapsed_s for e in engine.fit(cfg).epochs]
    gaps = sorted(b - a for a, b in itertools.pairwise(ts))
    return gaps[len(gaps) // 2]


def per_call_s(fn, number: int = 2000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def main() -> None:
    torch.set_num_threads(2)
    print(
        f"{'case':<34} {'epoch':>9} {'coef_rmse':>10} {'share':>7} {'val median':>11} {'share':>7}"
    )
    for preset, extra, d, n_val in (
        ("default", [], 3, 200),
        ("huber-outliers", [], 4, 400),
        ("default", ["data.n_features=200"], 200, 200),
    ):
        epoch = median_epoch_s(preset, extra)
        w, t = [0.1] * d, [0.2] * d
        coef = per_call_s(lambda w=w, t=t: coef_rmse(w, 0.1, t, 0.3))
        r = torch.randn(n_val)
        med = per_call_s(lambda r=r: median_abs(r).item(), number=500)
        name = f"{preset} {' '.join(extra)}".strip()
        print(
            f"{name:<34} {epoch * 1e6:7.0f}us {coef * 1e6:8.1f}us {coef / epoch:7.3f} "
            f"{med * 1e6:9.1f}us {med / epoch:7.3f}"
        )


if __name__ == "__main__":
    main()
