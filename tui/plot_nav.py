"""Where the loss plot looks: which series, which epochs (zoom and pan), log-x, and a cursor.

Textual-free state with one method per key, each returning the note the top bar shows, so the
plot's keys are tested without an app. The plot (:mod:`tui.widgets.plot`) draws what this says;
the run history (:mod:`tui.history`) answers for any epoch range at any width, so a zoom into a
1,000,000-epoch run reads only what the plot's width needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.core.numbers import fmt_number
from tui.history import RunHistory

PlotSeries = tuple[str, str, tuple[str, ...]]
SERIES: tuple[PlotSeries, ...] = (
    ("loss", "loss", ("train_loss", "val_loss")),
    ("rmse", "RMSE", ("train.rmse", "val.rmse")),
    ("r2", "R²", ("train.r2", "val.r2")),
    ("mae", "MAE", ("train.mae", "val.mae")),
    ("accuracy", "accuracy", ("train.accuracy", "val.accuracy")),
    ("f1", "F1", ("train.f1", "val.f1")),
    ("log_loss", "log loss", ("train.log_loss", "val.log_loss")),
    ("weights", "weights", tuple(f"w{i}" for i in range(1, 7))),
    ("lr", "learning rate", ("lr",)),
    ("grad_norm", "grad norm", ("grad_norm",)),
)
"""``(key, label, the history's fields it draws)`` in the order ``y`` cycles through; a run
shows those its log has (metrics are in target units, weights as trained; the gradient norm
``‖∇L‖₂`` of the epoch's last step, which a log from before it was logged does not have)."""
MIN_SPAN = 10
"""The narrowest zoom, in epochs."""


def available(history: RunHistory) -> list[PlotSeries]:
    """The series this run has something to draw for."""
    have = set(history.fields)
    return [s for s in SERIES if s[0] == "loss" or have.intersection(s[2])]


def series_named(key: str) -> PlotSeries:
    return next((s for s in SERIES if s[0] == key), SERIES[0])


def short(value: float) -> str:
    return fmt_number(value, 4)


@dataclass
class PlotNav:
    """The plot's view of a run: series, zoom (``span``), log-x and the cursor."""

    series: str = "loss"
    span: tuple[int, int] | None = None
    """The epochs shown when zoomed (None: the whole run, or the z window)."""
    log_x: bool = False
    cursor: int | None = None
    """The epoch whose values the legend reads out (None: no cursor)."""

    def range(self, history: RunHistory, window: int | None) -> tuple[int, int]:
        """The epochs drawn: the zoom, else the last ``window`` epochs, else the whole run."""
        first, last = history.window_range(None)
        if self.span is None:
            return history.window_range(window)
        lo, hi = self.span
        return max(first, lo), min(max(last, first + 1), hi)

    def next_series(self, history: RunHistory) -> str:
        """y: the next series the run has (loss → RMSE → R² → MAE → weights → lr → grad
        norm → loss)."""
        keys = [s[0] for s in available(history)]
        i = keys.index(self.series) if self.series in keys else -1
        self.series = keys[(i + 1) % len(keys)]
        label = series_named(self.series)[1]
        if self.series == "grad_norm":  # it falls over decades: say where log-y is
            return f"plot: {label} ‖∇L‖₂ of each epoch's last step (y: next series, l: log-y)"
        return f"plot: {label} (y: next series)"

    def toggle_log_x(self) -> str:
        self.log_x = not self.log_x
        return "log-x on" if self.log_x else "log-x off"

    def zoom(self, history: RunHistory, window: int | None, factor: float) -> str:
        """Zoom in (``factor`` < 1) or out around the cursor, else the middle of the view."""
        first, last = history.window_range(None)
        lo, hi = self.range(history, window)
        centre = self.cursor if self.cursor is not None else (lo + hi) / 2
        width = max(MIN_SPAN, round((hi - lo) * factor))
        if width >= last - first:
            self.span = None
            return "plot: all epochs"
        new_lo = round(min(max(first, centre - width / 2), last - width))
        self.span = (new_lo, new_lo + width)
        return f"plot: epochs {self.span[0]:,}–{self.span[1]:,} (+ - zoom, [ ] pan, 0 all)"

    def pan(self, history: RunHistory, window: int | None, direction: int) -> str:
        """Move the view a quarter of its width left (``-1``) or right (``1``)."""
        first, last = history.window_range(None)
        lo, hi = self.range(history, window)
        width = hi - lo
        if width >= last - first:
            return "plot: all epochs are shown (+ zooms in)"
        step = max(1, width // 4) * direction
        new_lo = min(max(first, lo + step), last - width)
        self.span = (new_lo, new_lo + width)
        return f"plot: epochs {self.span[0]:,}–{self.span[1]:,}"

    def reset(self) -> str:
        self.span = None
        return "plot: all epochs"

    def move_cursor(self, history: RunHistory, window: int | None, steps: int, columns: int) -> str:
        """Put the cursor on the plot (at its last epoch), or move it ``steps`` columns."""
        lo, hi = self.range(history, window)
        if self.cursor is None or not lo <= self.cursor <= hi:
            self.cursor = hi
        else:
            per_column = max(1.0, (hi - lo) / max(columns, 1))
            if self.log_x:  # a column is a constant ratio of epochs on log-x
                ratio = (hi / max(lo, 1)) ** (1 / max(columns, 1))
                moved = self.cursor * ratio**steps
                self.cursor = round(moved if steps > 0 else min(moved, self.cursor - 1))
            else:
                self.cursor += round(per_column * steps) or steps
            self.cursor = min(max(lo, self.cursor), hi)
        return self.reading(history) or f"epoch {self.cursor:,}"

    def hide_cursor(self) -> str:
        self.cursor = None
        return "cursor off"

    def reading(self, history: RunHistory) -> str:
        """The cursor's epoch and the values of the series shown there, as logged."""
        if self.cursor is None:
            return ""
        values = history.value_at(self.cursor)
        if values is None:
            return f"epoch {self.cursor:,}: not logged"
        _, _, fields = series_named(self.series)
        parts = []
        for name in fields:
            value = values.get(name)
            if value is not None and math.isfinite(value):
                parts.append(f"{label_of(name)} {short(value)}")
        if not parts:
            parts = ["(no value logged at this epoch)"]
        return f"epoch {self.cursor:,}: " + " · ".join(parts)


def label_of(field: str) -> str:
    """``train_loss`` → ``train``, ``val.rmse`` → ``val``, ``w2`` → ``w2``, ``grad_norm`` →
    ``‖∇L‖``."""
    if field == "grad_norm":
        return "‖∇L‖"
    if field.endswith("_loss") and "." not in field:
        return field.removesuffix("_loss")
    return field.split(".", 1)[0]
