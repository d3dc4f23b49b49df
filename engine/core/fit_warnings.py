"""Warnings about a fit that went wrong: what a person should look at before trusting it.

A pure function of what the run's events hold, so the dashboard and the headless summary say
the same thing, and a test builds the history by hand:

- **poor fit**: the final validation R² is below 0, i.e. the model predicts worse than the
  validation target's mean: ``R² = 1 - Σ(y - ŷ)² / Σ(y - ȳ)²``;
- **diverging**: the last training loss is at least :data:`GROWTH` times its minimum over the
  run (``last / min ≥ 1000``), or not finite: the learning rate is likely too high;
- **large target scale**: the target is not standardised and its standard deviation (from the
  final training metrics, ``std(y) = sqrt(mse / (1 - R²))``, exact for the training split) is
  at least :data:`LARGE_TARGET_STD`: losses in the millions make learning rates hard to choose,
  ``data.standardize_target: true`` trains in std units and reports metrics in raw ones.

Regression only (classification metrics have no R²). No torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from engine.core.events import RunFinished, RunStarted
from engine.core.numbers import fmt_number

GROWTH = 1000.0
"""A last training loss this many times its minimum is called diverging."""
LARGE_TARGET_STD = 1000.0
"""A raw target standard deviation from here on is called large."""


class LossRange:
    """The minimum and the last of a run's training losses, kept as they come (O(1) memory)."""

    def __init__(self, losses: Iterable[float] = ()) -> None:
        self.minimum = math.inf
        self.min_epoch: int | None = None
        self.last: float | None = None
        self.count = 0
        for loss in losses:
            self.add(loss)

    def add(self, loss: float) -> None:
        self.count += 1
        self.last = loss
        if math.isfinite(loss) and loss < self.minimum:
            self.minimum, self.min_epoch = loss, self.count


def fit_warnings(
    started: RunStarted | None, fin: RunFinished | None, losses: LossRange
) -> list[str]:
    """One line per warning about the run (``[]`` when the fit looks sound)."""
    out: list[str] = []
    if started is not None and started.task not in (None, "regression"):
        return out
    growth = _growth(losses)
    if growth is not None:
        out.append(growth)
    val = (fin.metrics.get("val") or {}) if fin is not None else {}
    r2 = val.get("r2")
    if r2 is not None and math.isfinite(r2) and r2 < 0:
        out.append(
            f"poor fit: validation R² is {fmt_number(r2, 3)} (< 0: worse than predicting the "
            "mean); check the loss, the learning rate and the features"
        )
    scale = target_std(started, fin)
    if scale is not None and scale >= LARGE_TARGET_STD:
        out.append(
            f"the target's scale is large (std {scale:,.0f}): "
            "data.standardize_target=true trains in std units (metrics stay in raw units)"
        )
    return out


def _growth(losses: LossRange) -> str | None:
    last, low = losses.last, losses.minimum
    if last is None or not math.isfinite(low):
        return None
    if not math.isfinite(last):
        return (
            f"diverging: the training loss became {fmt_number(last)} after a minimum of "
            f"{fmt_number(low)} at epoch {losses.min_epoch}; lower optim.lr"
        )
    if last >= GROWTH * low and last > low:
        times = last / low if low > 0 else math.inf
        if not math.isfinite(times):
            grew = "from 0"
        else:  # 5,000x reads well; 3.516e+30x beats a 31-digit count
            grew = f"{times:,.0f}x" if times < 1e6 else f"{fmt_number(times)}x"
        return (
            f"diverging: the training loss grew {grew} from its minimum "
            f"{fmt_number(low)} at epoch {losses.min_epoch} to {fmt_number(last)}; "
            "lower optim.lr"
        )
    return None


def target_std(started: RunStarted | None, fin: RunFinished | None) -> float | None:
    """The raw target's standard deviation on the training split when the run did not
    standardise it (None when it did, or when the metrics cannot say)."""
    if started is None or fin is None:
        return None
    if (started.config.get("data") or {}).get("standardize_target"):
        return None
    train = fin.metrics.get("train") or {}
    mse, r2 = train.get("mse"), train.get("r2")
    if mse is None or r2 is None or not (math.isfinite(mse) and math.isfinite(r2)) or r2 >= 1:
        return None
    return math.sqrt(mse / (1.0 - r2))
