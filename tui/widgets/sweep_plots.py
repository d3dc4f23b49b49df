"""The sweep screen's two plots (textual-plotext): the best value so far against the trial
number, and the metric against one searched parameter.

Both take a :class:`engine.sweep.monitor.StudyView` and draw only what it holds; the axis
labels are our own short numbers (:func:`tui.series.linear_ticks`), as in the loss plot, so a
diverged trial's huge value never prints every digit.
"""

from __future__ import annotations

import math
from typing import Any

from textual_plotext import PlotextPlot

from engine.core.numbers import fmt_number
from engine.sweep.monitor import best_so_far, choice_labels, scatter
from tui.series import linear_ticks

BEST_COLOR, POINT_COLOR = "green+", "cyan"


def decade_ticks(lo: float, hi: float) -> list[tuple[float, str]]:
    """Ticks of a log10-spaced axis from ``lo`` to ``hi`` (log10 units), labelled in real
    units: every power of ten inside, or the two ends when fewer than two are."""
    inside = list(range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1))
    places = [float(k) for k in inside] if len(inside) >= 2 else [lo, hi]
    return [(x, fmt_number(10.0**x, 2)) for x in places]


class _SweepPlot(PlotextPlot):
    """A plot redrawn from the last study it was given (a resize redraws it too)."""

    DEFAULT_CSS = "_SweepPlot { height: 1fr; min-height: 5; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: Any = None
        self.points: list[tuple[float, float]] = []
        """What the last redraw drew (tests read it)."""

    def show(self, view: Any) -> None:
        self.view = view
        self.replot()

    def on_resize(self) -> None:
        self.replot()

    def _axes(self, title: str, xs: list[float], ys: list[float]) -> None:
        plt = self.plt
        plt.title(title)
        if ys:
            ticks, labels = linear_ticks(min(ys), max(ys), 4)
            if ticks:
                plt.yticks(ticks, labels)
        if xs and min(xs) == max(xs):
            plt.xlim(min(xs) - 1, max(xs) + 1)

    def replot(self) -> None:
        self.plt.clear_data()
        self.plt.clear_figure()
        self.points = self._points() if self.view is not None else []
        self._draw()
        self.refresh()

    def _points(self) -> list[tuple[float, float]]:
        raise NotImplementedError

    def _draw(self) -> None:
        raise NotImplementedError


class BestSoFarPlot(_SweepPlot):
    """The best complete trial's value after each trial: how the search is converging."""

    def _points(self) -> list[tuple[float, float]]:
        return [(float(n), v) for n, v in best_so_far(self.view.rows, self.view.direction)]

    def _draw(self) -> None:
        metric = self.view.metric if self.view is not None else "metric"
        xs, ys = [p[0] for p in self.points], [p[1] for p in self.points]
        self._axes(f"best {metric} so far", xs, ys)
        if self.points:
            self.plt.plot(xs, ys, color=BEST_COLOR, marker="braille")


class ParamScatter(_SweepPlot):
    """The metric of each complete trial against one searched parameter (``key``)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.key: str | None = None

        self.log_x = False
        """Whether x is spaced by log10 of the value (a positive range over two decades or
        more); its ticks are still labelled in real units (``0.001``, not ``-3``)."""
        self.xtick_labels: list[tuple[float, str]] = []
        """The log axis' ticks as drawn: (position, label in real units); tests read it."""

    def _points(self) -> list[tuple[float, float]]:
        points = scatter(self.view.rows, self.key) if self.key else []
        xs = [x for x, _ in points]
        self.log_x = (
            bool(xs)
            and min(xs) > 0
            and max(xs) >= 100 * min(xs)
            and not choice_labels(self.view.rows, self.key or "")
        )
        return [(math.log10(x), y) for x, y in points] if self.log_x else points

    def _draw(self) -> None:
        view = self.view
        metric = view.metric if view is not None else "metric"
        xs, ys = [p[0] for p in self.points], [p[1] for p in self.points]
        shown = f"{self.key} (log scale)" if self.log_x else (self.key or "-")
        self._axes(f"{metric} vs {shown}", xs, ys)
        if view is not None and self.key:
            labels = choice_labels(view.rows, self.key)
            if labels:
                self.plt.xticks(list(range(len(labels))), [str(v) for v in labels])
            elif self.log_x and xs:
                self.xtick_labels = decade_ticks(min(xs), max(xs))
                self.plt.xticks(
                    [t for t, _ in self.xtick_labels], [s for _, s in self.xtick_labels]
                )
        if self.points:
            self.plt.scatter(xs, ys, color=POINT_COLOR, marker="•")
