"""Plot-ready series: constant-cost downsampling, debiased EMA smoothing, a safe log scale.

Pure Python, no Textual, no torch: the numbers come from engine events, these helpers only decide
which of them a plot of a given width needs. Appending is amortised O(1) and drawing costs
O(width), so a redraw at epoch 100,000 costs what it costs at epoch 100.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.core.events import EpochEnded
from engine.core.numbers import fmt_number
from engine.runs.curve import MAX_WEIGHTS

Point = tuple[float, float]


class Downsampler:
    """Keeps the min and max of each bucket of epochs, merging buckets pairwise as data grows.

    Min/max (rather than striding) keeps spikes such as a divergence or an lr jump visible however
    long the run. The bucket count stays between ``cap`` and ``2 * cap``.
    """

    def __init__(self, cap: int = 512) -> None:
        self.cap = cap
        self.bucket_size = 1
        # each bucket: [count, x_min, y_min, x_max, y_max]
        self._buckets: list[list[float]] = []

    def __len__(self) -> int:
        return len(self._buckets)

    def append(self, x: float, y: float) -> None:
        """Add one point; non-finite values are the caller's to filter (a plot cannot draw them)."""
        last = self._buckets[-1] if self._buckets else None
        if last is not None and last[0] < self.bucket_size:
            last[0] += 1
            if y < last[2]:
                last[1], last[2] = x, y
            if y > last[4]:
                last[3], last[4] = x, y
            return
        self._buckets.append([1, x, y, x, y])
        if len(self._buckets) > 2 * self.cap:
            self._merge_pairs()

    def _merge_pairs(self) -> None:
        merged = []
        for i in range(0, len(self._buckets) - 1, 2):
            merged.append(_merge(self._buckets[i], self._buckets[i + 1]))
        if len(self._buckets) % 2:
            merged.append(self._buckets[-1])
        self._buckets = merged
        self.bucket_size *= 2

    def points(self, max_points: int) -> list[Point]:
        """At most about ``max_points`` points in x order, keeping each group's min and max."""
        buckets = self._buckets
        groups = max(1, max_points // 2)
        if len(buckets) > groups:
            step = len(buckets) / groups
            regrouped = []
            for g in range(groups):
                lo, hi = int(g * step), int((g + 1) * step)
                acc = list(buckets[lo])
                for b in buckets[lo + 1 : hi]:
                    acc = _merge(acc, b)
                regrouped.append(acc)
            buckets = regrouped
        out: list[Point] = []
        for _, x_lo, y_lo, x_hi, y_hi in buckets:
            if x_lo == x_hi:
                out.append((x_lo, y_lo))
            elif x_lo < x_hi:
                out += [(x_lo, y_lo), (x_hi, y_hi)]
            else:
                out += [(x_hi, y_hi), (x_lo, y_lo)]
        return out


def _merge(a: list[float], b: list[float]) -> list[float]:
    lo = (a[1], a[2]) if a[2] <= b[2] else (b[1], b[2])
    hi = (a[3], a[4]) if a[4] >= b[4] else (b[3], b[4])
    return [a[0] + b[0], lo[0], lo[1], hi[0], hi[1]]


class DebiasedEMA:
    """Exponential moving average with Adam-style bias correction: ``m_t / (1 - β^t)``.

    Without the correction the curve would start near zero and creep up; with it the first
    smoothed value equals the first raw value.
    """

    def __init__(self, beta: float) -> None:
        self.beta = beta
        self._m = 0.0
        self._t = 0

    def update(self, y: float) -> float:
        """Fold in one finite value and return the smoothed value."""
        self._t += 1
        self._m = self.beta * self._m + (1.0 - self.beta) * y
        return self._m / (1.0 - self.beta**self._t)


def to_log10(points: Sequence[Point], floor: float) -> tuple[list[Point], bool]:
    """``log10`` of each y, with values <= floor clipped to it; says whether any were clipped.

    Plotext's own log scale fails on zero and negative values (plotext#37); a loss can be 0 on
    noise-free data and a custom loss or a gap can be negative, so we transform ourselves.
    """
    out: list[Point] = []
    clipped = False
    for x, y in points:
        if y <= floor:
            clipped = clipped or y <= 0
            y = floor
        out.append((x, math.log10(y)))
    return out, clipped


def log_ticks(lo: float, hi: float, max_ticks: int = 5) -> tuple[list[float], list[str]]:
    """Tick positions in log10 space with labels in data units (``1e-3``, ``0.1``, ``10``)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [], []
    decades = [float(d) for d in range(math.ceil(lo), math.floor(hi) + 1)]
    stride = max(1, math.ceil(len(decades) / max_ticks))
    ticks = decades[::stride]
    if len(ticks) < 3:  # under a few decades visible: label the ends too
        near = 0.15 * max(hi - lo, 1e-12)
        ends = [t for t in (lo, hi) if all(abs(t - d) > near for d in ticks)]
        ticks = sorted(set(ticks + ends))
    return ticks, [fmt_num(10**t, 2) for t in ticks]


def linear_ticks(lo: float, hi: float, max_ticks: int = 5) -> tuple[list[float], list[str]]:
    """Round tick positions (steps of 1, 2 or 5 times a power of ten) with compact labels.

    Labels have 3 significant digits (more only when a narrow range needs them to differ) and
    e-notation for big or tiny values, so a diverged run (losses near 1e33) cannot widen the
    axis and squeeze the plot.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [], []
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo <= 1e-12 * max(abs(lo), abs(hi), 1e-300):
        return [lo], [fmt_num(lo, 3)]
    power = 10.0 ** math.floor(math.log10((hi - lo) / max_ticks))
    for step in (m * power for m in (1, 2, 5, 10, 20, 50, 100)):
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
        if last - first + 1 <= max_ticks:
            break
    ticks = [k * step for k in range(first, last + 1)]
    for digits in range(3, 8):  # more digits only when a narrow range needs them to differ
        labels = [fmt_num(t, digits) for t in ticks]
        if len(set(labels)) == len(labels):
            break
    return ticks, labels


MISSING = "—"
"""What the dashboard's panels show for a number that is not there (the CLI's tables: "-")."""


def fmt_num(value: float | None, digits: int = 4) -> str:
    """:func:`engine.core.numbers.fmt_number` (``digits`` significant, ``inf``/``nan`` spelled
    out) with the dashboard's ``—`` for a missing value."""
    return fmt_number(value, digits, missing=MISSING)


def window_points(xs: Sequence[float], ys: Sequence[float | None], max_points: int) -> list[Point]:
    """Min/max downsampling of a slice of raw values (a plot window), skipping None, inf and nan.

    Costs O(len(xs)): used for the last-N-epochs window (N <= 10,000), where the whole-run
    buckets are too coarse.
    """
    groups = max(1, max_points // 2)
    size = max(1, math.ceil(len(xs) / groups))
    out: list[Point] = []
    for start in range(0, len(xs), size):
        pts = [
            (x, y)
            for x, y in zip(xs[start : start + size], ys[start : start + size])
            if y is not None and math.isfinite(y)
        ]
        if not pts:
            continue
        lo, hi = min(pts, key=lambda p: p[1]), max(pts, key=lambda p: p[1])
        out += sorted({lo, hi})
    return out


def decades(lo: float, hi: float) -> int:
    """Whole powers of ten between a positive ``lo`` and ``hi`` (0 when lo <= 0 or hi <= lo)."""
    if not (lo > 0 and hi > lo and math.isfinite(hi)):
        return 0
    return math.floor(math.log10(hi / lo))


SMOOTHING_BETAS: tuple[float, ...] = (0.9, 0.99)
"""EMA strengths the smoothing key cycles through (after "off")."""


def epoch_fields(event: EpochEnded) -> dict[str, float | None]:
    """The series an epoch feeds, named as :mod:`engine.runs.curve` names them."""
    out: dict[str, float | None] = {
        "train_loss": event.train_loss,
        "val_loss": event.val_loss,
        "lr": event.lr,
        "grad_norm": event.grad_norm,
    }
    for split, metrics in event.metrics.items():
        for name, value in metrics.items():
            out[f"{split}.{name}"] = value
    if event.weights is not None:
        for i, w in enumerate(event.weights[:MAX_WEIGHTS]):
            out[f"w{i + 1}"] = w if isinstance(w, (int, float)) else None
    return out


SMOOTHED_AS_FILED = ("train_loss", "val_loss")
DENSE = frozenset({"train_loss", "val_loss", "lr", "grad_norm"})
"""Series every epoch logs (the others are thinned in a long run's log)."""
"""Series smoothed epoch by epoch as they are filed (the others: over their drawn points)."""


@dataclass
class CurveSeries:
    """One series: raw points, and one smoothed copy per EMA strength, all downsampled
    (``smoothing=False``: smoothed only when drawn, over the drawn points)."""

    smoothing: bool = True
    raw: Downsampler = field(default_factory=Downsampler)
    smooth: dict[float, Downsampler] = field(default_factory=dict)
    _ema: dict[float, DebiasedEMA] = field(default_factory=dict)
    base_smooth: dict[float, list[Point]] = field(default_factory=dict)
    """The smoothed curve over a seeded summary's epochs (see :meth:`RunHistory.seed`)."""

    def __post_init__(self) -> None:
        if self.smoothing:
            self.smooth = {b: Downsampler() for b in SMOOTHING_BETAS}
            self._ema = {b: DebiasedEMA(b) for b in SMOOTHING_BETAS}

    def append(self, x: float, y: float) -> None:
        """Add a finite value (a plot cannot draw inf or nan; those stay in the history)."""
        if not math.isfinite(y):
            return
        self.raw.append(x, y)
        for beta, ema in self._ema.items():
            self.smooth[beta].append(x, ema.update(y))

    def smoothed(self, beta: float, n_points: int) -> list[Point]:
        """The EMA curve: over the seeded summary, then over the epochs filed here."""
        if beta not in self.smooth:
            ema = DebiasedEMA(beta)
            return [(x, ema.update(y)) for x, y in self.raw.points(n_points)]
        return self.base_smooth.get(beta, []) + self.smooth[beta].points(n_points)
