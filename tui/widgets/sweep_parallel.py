"""Parallel coordinates of a sweep's trials in the terminal: one vertical axis per searched
parameter and one for the metric, each complete trial a line across them, the best trial
drawn last in its own colour.

Why: a scatter shows one parameter at a time; here every trial's whole setting is one line,
so "the good trials all have lr near 0.3 and any momentum" reads at a glance (the view
hyperparameter tools draw in a browser; plotext draws it in text). Each axis has its own
scale, in real units: the smallest and largest value are written at its foot and head, a
parameter searched on a log range (two decades or more) is spaced by log10, and a choice
(``sgd``/``adam``) by its index among the choices seen.
"""

from __future__ import annotations

import math
from typing import Any

from textual_plotext import PlotextPlot

from engine.core.numbers import fmt_number
from engine.sweep.monitor import choice_labels
from tui.widgets.sweep_plots import BEST_COLOR

TRIAL_COLOR, AXIS_COLOR = "cyan", "gray"
MAX_LINES = 200
"""Trials drawn at most (the best ones): more is a solid block in 80 columns anyway."""


def axis_positions(view: Any, key: str | None) -> tuple[dict[int, float], str, str]:
    """Where each complete trial sits on the axis of ``key`` (None: the metric), from 0 (the
    foot) to 1 (the head), and the axis' foot and head labels in real units."""
    done = [
        r
        for r in view.rows
        if r.state == "complete" and r.value is not None and math.isfinite(r.value)
    ]
    labels = choice_labels(view.rows, key) if key else []
    raw: dict[int, float] = {}
    for r in done:
        v = r.value if key is None else r.params.get(key)
        if labels:
            raw[r.number] = float(labels.index(v))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            raw[r.number] = float(v)
    if not raw:
        return {}, "", ""
    lo, hi = min(raw.values()), max(raw.values())
    log = lo > 0 and hi >= 100 * lo and not labels
    scale = (lambda x: math.log10(x)) if log else (lambda x: x)
    span = scale(hi) - scale(lo)
    pos = {n: (scale(x) - scale(lo)) / span if span > 0 else 0.5 for n, x in raw.items()}
    if labels:
        return pos, str(labels[0]), str(labels[-1])
    return pos, fmt_number(lo, 2), fmt_number(hi, 2)


class ParallelPlot(PlotextPlot):
    """Parallel coordinates of a :class:`engine.sweep.monitor.StudyView`'s complete trials."""

    DEFAULT_CSS = "ParallelPlot { height: 1fr; min-height: 8; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: Any = None
        self.axes: list[tuple[str, str, str]] = []
        """Each axis as drawn: (name, foot label, head label); tests read it."""
        self.lines: dict[int, list[float]] = {}
        """Each drawn trial's line (trial number → position on every axis, 0 to 1)."""
        self.best: int | None = None

    def show(self, view: Any) -> None:
        self.view = view
        self.replot()

    def on_resize(self) -> None:
        self.replot()

    def _compute(self) -> None:
        view = self.view
        self.axes, self.lines, self.best = [], {}, None
        if view is None:
            return
        keys: list[str | None] = [*view.params, None]
        placed = []
        for key in keys:
            pos, foot, head = axis_positions(view, key)
            name = key.rsplit(".", 1)[-1] if key else view.metric
            self.axes.append((name, foot, head))
            placed.append(pos)
        numbers = set(placed[-1])
        for pos in placed:
            numbers &= set(pos)
        best = view.best()
        self.best = best.number if best is not None and best.number in numbers else None
        sign = 1.0 if view.direction == "minimize" else -1.0
        values = {r.number: r.value for r in view.rows if r.number in numbers}
        kept = sorted(numbers, key=lambda n: sign * values[n])[:MAX_LINES]
        self.lines = {n: [pos[n] for pos in placed] for n in sorted(kept)}

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self._compute()
        n = len(self.axes)
        plt.title("parallel coordinates: a line per trial, best in green")
        if n == 0 or not self.lines:
            self.refresh()
            return
        xs = list(range(n))
        plt.xticks(xs, [a[0] for a in self.axes])
        plt.yticks([])
        plt.ylim(-0.12, 1.12)
        plt.xlim(-0.4, n - 0.6)
        for x in xs:
            plt.vline(x, AXIS_COLOR)
        for number, ys in self.lines.items():
            if number != self.best:
                plt.plot(xs, ys, color=TRIAL_COLOR, marker="braille")
        if self.best is not None:
            plt.plot(xs, self.lines[self.best], color=BEST_COLOR, marker="braille")
        for x, (_, foot, head) in enumerate(self.axes):
            plt.text(foot, x, -0.08, alignment="center", color=AXIS_COLOR)
            plt.text(head, x, 1.08, alignment="center", color=AXIS_COLOR)
        self.refresh()
