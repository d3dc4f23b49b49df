"""A finished run of any length, written in seconds: the engine's own :class:`RunWriter` fed
events at full speed (no training), so the run directory is exactly what a trainer writes —
``events.jsonl`` thinned as logged, ``curve.bin``, status and model file.

The numbers follow closed forms (so a test knows every epoch's value without reading the log):
``train_loss = 1 + 100/e``, ``val_loss = 1.1 + 100/e``, the val metrics ``rmse = sqrt(val_loss)``,
``mae = val_loss / 2``, ``r2 = 1 - val_loss / 1000``, weights ``[k - 1/e for k = 1, 2, 3]``,
and one spike: epoch ``spike`` has ``train_loss = 500`` (a min/max summary must keep it).

Used by the curve tests, the dashboard's Pilot and tmux tests and
``benchmarks/bench_dashboard.py`` (``python -m tests.long_run N RUNS_DIR`` writes one).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from engine.core.events import EpochEnded, RunFinished
from engine.runs.log import FULL_WEIGHT_EPOCHS, WEIGHT_STRIDE
from engine.runs.writer import RunWriter
from tests.builders import config_dict, started


def train_loss(e: int, spike: int | None = None) -> float:
    return 500.0 if e == spike else 1.0 + 100.0 / e


def val_loss(e: int) -> float:
    return 1.1 + 100.0 / e


def val_metrics(e: int) -> dict[str, float]:
    v = val_loss(e)
    return {"rmse": math.sqrt(v), "mae": v / 2, "r2": 1 - v / 1000, "mse": v}


def weights(e: int) -> list[float]:
    return [k - 1.0 / e for k in (1, 2, 3)]


def epoch_event(e: int, n: int, spike: int | None = None) -> EpochEnded:
    """Epoch ``e`` of ``n`` (every ``WEIGHT_STRIDE``-th one improves past the full-weight
    epochs, as a long run's log keeps them)."""
    return EpochEnded(
        epoch=e,
        epochs=n,
        train_loss=train_loss(e, spike),
        val_loss=val_loss(e),
        best_epoch=e,
        best_monitor=val_loss(e),
        improved=e <= FULL_WEIGHT_EPOCHS or e % WEIGHT_STRIDE == 0,
        wait=0,
        patience=10,
        lr=0.05,
        weights=weights(e),
        bias=0.5,
        elapsed_s=e * 1e-4,
        samples_per_s=1e6,
        metrics={"val": val_metrics(e), "train": {"rmse": math.sqrt(train_loss(e, spike))}},
    )


def write_long_run(
    runs: Path,
    n: int,
    *,
    spike: int | None = None,
    name: str = "long",
    loss: dict[str, object] | None = None,
) -> Path:
    """A finished ``n``-epoch run under ``runs`` (its directory is returned); ``loss`` is its
    config's loss section (the numbers do not change with it)."""
    run = runs / f"20260101-000000-{name}-{n:07d}"
    run.mkdir(parents=True)
    settings: dict[str, object] = {"train.epochs": n, "early_stopping.enabled": False}
    settings.update({f"loss.{k}": v for k, v in (loss or {}).items()})
    config = config_dict(settings, name=name)
    writer = RunWriter(run, config)
    try:
        writer(started(("x1", "x2", "x3"), epochs=n, settings=dict(config)))
        for e in range(1, n + 1):
            writer(epoch_event(e, n, spike))
        writer(
            RunFinished(
                reason="completed",
                epochs_run=n,
                best_epoch=n,
                best_monitor=val_loss(n),
                weights=weights(n),
                bias=0.5,
                message=f"completed {n} epochs",
                elapsed_s=n * 1e-4,
                metrics={"val": val_metrics(n)},
            )
        )
    finally:
        writer.close()
    return run


if __name__ == "__main__":
    print(write_long_run(Path(sys.argv[2]), int(sys.argv[1])))
