"""How long a run has left: the epoch rate over a recent window, and the time it gives.

The rate comes from the run's own clock (``EpochEnded.elapsed_s``, which leaves paused time
out), over the last :data:`WINDOW_S` seconds of training rather than since the start: a run's
speed changes (a warm-up, a GPU that clocks down, another job on the box), and the recent pace
is the better guess for the rest. The estimate is ``epochs left / rate``; with early stopping
on, the run may end sooner, so it is an upper bound and reads ``ETA ≤1m12s``. Used by the
dashboard's run panel and the headless progress line. No torch.
"""

from __future__ import annotations

import math
from collections import deque

WINDOW_S = 10.0
"""The span of training time the rate is measured over."""
MIN_SPAN_S = 0.05
"""Below this much training time there is no rate to speak of yet (no ETA shown)."""


class EpochRate:
    """Epochs per second over the last :data:`WINDOW_S` seconds of a run's training time.

    Feed it ``(epoch, elapsed_s)`` of each epoch (or of any subset of them: a dashboard that
    samples at its redraw rate gets the same answer); a point that goes back in time (a new run,
    a resume) starts the window afresh.
    """

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._points: deque[tuple[int, float]] = deque()

    def add(self, epoch: int, elapsed_s: float) -> None:
        points = self._points
        if points and (epoch < points[-1][0] or elapsed_s < points[-1][1]):
            points.clear()
        if points and epoch == points[-1][0]:
            return
        points.append((epoch, elapsed_s))
        while len(points) > 2 and elapsed_s - points[1][1] >= self.window_s:
            points.popleft()

    @property
    def rate(self) -> float | None:
        """Epochs per second over the window, or None before there is one."""
        if len(self._points) < 2:
            return None
        (e0, t0), (e1, t1) = self._points[0], self._points[-1]
        if t1 - t0 < MIN_SPAN_S or e1 <= e0:
            return None
        return (e1 - e0) / (t1 - t0)


def eta_s(epoch: int, total: int, rate: float | None) -> float | None:
    """Seconds left at ``rate`` epochs/s to reach epoch ``total`` (None without a rate)."""
    if rate is None or not math.isfinite(rate) or rate <= 0:
        return None
    return max(total - epoch, 0) / rate


def fmt_duration(seconds: float) -> str:
    """``42s``, ``1m12s``, ``2h03m``, ``3d04h``: two units at most, rounded down to the
    second."""
    s = int(max(seconds, 0.0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def eta_text(
    epoch: int, total: int, rate: float | None, *, upper_bound: bool = False
) -> str | None:
    """``ETA 1m12s`` (``ETA ≤1m12s`` when early stopping may end the run sooner), or None
    without a rate or once every epoch has run."""
    left = eta_s(epoch, total, rate)
    if left is None or epoch >= total:
        return None
    return f"ETA {'≤' if upper_bound else ''}{fmt_duration(left)}"
