"""The loss lab's line plots (textual-plotext): loss shape over the residual histogram, and the
regularisation path with its validation error.

Why one small widget for both: each is a few layers — lines, bars, a vertical marker — drawn from
numbers the lab computed, redrawn as they are at any size. Tick labels are our own short
numbers (:func:`tui.series.linear_ticks`), as in the loss plot, so a long tail never prints every
digit. ``drawn`` keeps what the last :meth:`LabPlot.show` drew (tests read it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual_plotext import PlotextPlot

from tui.series import linear_ticks

COLORS = ("cyan", "orange", "green+", "magenta", "yellow", "blue+", "red+", "white")
"""Line colours in order (the path's coefficients take them one by one)."""


@dataclass(frozen=True)
class Layer:
    """One thing drawn: ``line`` (braille), ``bars`` (a histogram) or ``vline`` (at ``xs[0]``)."""

    kind: str
    xs: list[float]
    ys: list[float]
    color: str = "cyan"


def scaled_bars(counts: list[int], top: float) -> list[float]:
    """Histogram counts scaled so the fullest bin reaches ``top`` (its axis is the curve's)."""
    most = max(counts, default=0)
    return [c * top / most if most else 0.0 for c in counts]


class LabPlot(PlotextPlot):
    """A titled plot of :class:`Layer` s; a resize redraws it."""

    DEFAULT_CSS = "LabPlot { height: 1fr; min-height: 5; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.plot_title = ""
        self.drawn: list[Layer] = []

    def show(self, title: str, layers: list[Layer]) -> None:
        self.plot_title, self.drawn = title, layers
        self.replot()

    def on_resize(self) -> None:
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.plot_title)
        for layer in self.drawn:
            if layer.kind == "bars" and layer.xs:
                plt.bar(layer.xs, layer.ys, color=layer.color, width=0.8)
            elif layer.kind == "line" and layer.xs:
                plt.plot(layer.xs, layer.ys, color=layer.color, marker="braille")
            elif layer.kind == "vline" and layer.xs:
                plt.vline(layer.xs[0], color=layer.color)
        # ticks after the layers: a bar plot sets every bar's x as a tick of its own
        ys = [y for layer in self.drawn if layer.kind != "vline" for y in layer.ys]
        xs = [x for layer in self.drawn for x in layer.xs]
        for values, set_ticks, count in ((xs, plt.xticks, 5), (ys, plt.yticks, 3)):
            finite = [v for v in values if math.isfinite(v)]
            ticks, labels = linear_ticks(min(finite), max(finite), count) if finite else ([], [])
            if ticks:
                set_ticks(ticks, labels)
        self.refresh()
