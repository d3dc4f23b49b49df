"""The live plot: loss (or a metric, the weights, the learning rate) per epoch, drawn with
textual-plotext, and the keys that move around it.

Redraws ask the run history for the epochs in view at the plot's width, so their cost depends on
the width and not on the number of epochs, and a zoom into a 1,000,000-epoch run reads from disk
only what the width needs. Log-y is our own log10 transform with a floor, because plotext's log
scale breaks on zero and negative values (plotext#37); log-x is ours too. While a run goes,
plotext builds the frames in a worker thread (:mod:`tui.widgets.plot_frame`), so keys are not
held behind a build. The plot's own keys (zoom, pan, cursor, series, log-x) work wherever it is
focused: the dashboard, an opened run.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from dataclasses import replace

from rich.text import Text
from textual.app import RenderResult
from textual.geometry import Size
from textual_plotext import PlotextPlot

from tui.history import RunHistory
from tui.messages import Note
from tui.plot_nav import PlotNav, series_named
from tui.series import SMOOTHING_BETAS, DebiasedEMA, Point, linear_ticks, log_ticks, to_log10
from tui.view import View
from tui.widgets.plot_frame import Call, Recorder, build_frame
from tui.widgets.plot_keys import PLOT_BINDINGS
from tui.widgets.plot_legend import LOG_HINT_DECADES, WINDOW_LABEL, Legend, fit_items
from tui.widgets.plot_style import (
    BEST_COLOR,
    CURSOR_COLOR,
    OPTIMUM_COLOR,
    RICH_COLORS,
    SMOOTH_TRAIN_COLOR,
    SMOOTH_VAL_COLOR,
    TRAIN_COLOR,
    VAL_COLOR,
    WEIGHT_COLORS,
)

__all__ = ["LOG_HINT_DECADES", "RICH_COLORS", "WINDOW_LABEL", "Legend", "LossPlot", "fit_items"]

PLOT_WINDOWS: tuple[int, ...] = (100, 1_000, 10_000)
"""The last-N-epochs windows z cycles through (those shorter than the run so far), then all."""
LOG_X_PIECES = 12
"""On log-x the epochs in view are read in at most this many log-spaced stretches."""
PLOT_EVERY_S = 0.2
"""While a run goes the plot is rebuilt at most 5 times a second: plotext builds its canvas in
Python (the dashboard's costliest draw), and a curve that moves 5 times a second reads as live
while the loop stays free for keys. The text panels keep the full redraw rate."""


class LossPlot(PlotextPlot):
    """Train/val loss curves, best-epoch marker, optimum line; focusable so keys land here."""

    can_focus = True
    BINDINGS = PLOT_BINDINGS
    DEFAULT_CSS = """
    LossPlot {
        height: 1fr;
        min-height: 6;
        &:focus { background-tint: $foreground 3%; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history = RunHistory()
        """The history last drawn (a resize redraws it)."""
        self.log_y = False
        self.smoothing: float | None = None
        self.window: int | None = None
        """Draw only the last this many epochs (None: all)."""
        self.nav = PlotNav()
        """Series, zoom, log-x and cursor (see :mod:`tui.plot_nav`)."""
        self.view = View()
        """The view last drawn with (the plot's own keys redraw with it)."""
        self.clipped = False
        """Whether the last log-y draw clipped zero or negative values to the floor."""
        self.next_plot_at, self.pending = 0.0, False
        self.live = False
        """A run is going: frames are built in a worker thread (else in ``render``)."""
        self._calls: list[Call] = []
        self._frame: tuple[Size, str, Text] | None = None
        """The newest built frame: the size and theme it was built for, and its text."""
        self._generation = 0
        """Counts recordings: a thread builds until it has built the newest."""
        self._building = False

    # -- the plot's keys: each changes what is drawn and says so (the caller shows the note) --
    def toggle_log_y(self) -> str:
        """Log-y on or off (zero and negative losses are drawn at a floor)."""
        self.log_y = not self.log_y
        return "log-y on" if self.log_y else "log-y off"

    def next_smoothing(self) -> str:
        """Smoothing off → each of SMOOTHING_BETAS → off."""
        betas = (None, *SMOOTHING_BETAS)
        self.smoothing = betas[(betas.index(self.smoothing) + 1) % len(betas)]
        return (
            "smoothing off"
            if self.smoothing is None
            else f"smoothing: debiased EMA β={self.smoothing:g} over the raw curve"
        )

    def next_window(self, n_epochs: int) -> str | None:
        """All epochs → the last 100 / 1,000 / 10,000 (those shorter than the ``n_epochs`` run
        so far) → all: a long run's end is readable, not a flat line after a spike. None when
        the run is too short for any window (nothing changes)."""
        choices = [w for w in PLOT_WINDOWS if w < n_epochs]
        if not choices:
            return None
        later = [w for w in choices if self.window is None or w > self.window]
        self.window = later[0] if later else None
        self.nav.span = None
        return (
            "plot: all epochs"
            if self.window is None
            else f"plot: last {self.window:,} epochs (z: next window)"
        )

    # -- the navigation keys: the plot and its legend redraw at once, the note is shown ------
    def _moved(self, note: str) -> None:
        if self.nav.span is not None:
            self.window = None  # a zoom replaces the z window (the dashboard reads it here)
            self.view = replace(self.view, window=None)
        self.replot()
        for legend in self.screen.query(Legend):
            legend.nav = self.nav
            legend.render_history(self.history, self.view)
        tell_damage(self, passing=note)

    def action_log_x(self) -> None:
        self._moved(self.nav.toggle_log_x())

    def action_zoom(self, factor: float) -> None:
        self._moved(self.nav.zoom(self.history, self.window, factor))

    def action_pan(self, direction: int) -> None:
        self._moved(self.nav.pan(self.history, self.window, direction))

    def action_all_epochs(self) -> None:
        self.window = None
        self._moved(self.nav.reset())

    def action_cursor(self, steps: int) -> None:
        columns = max(self.size.width - 10, 10)  # less the y-axis labels
        self._moved(self.nav.move_cursor(self.history, self.window, steps, columns))

    def action_hide_cursor(self) -> None:
        self._moved(self.nav.hide_cursor())

    def action_series(self) -> None:
        self._moved(self.nav.next_series(self.history))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The navigation keys do nothing before a run's first epoch."""
        return self.history.last_epoch > 0 or action not in _NAV_ACTIONS

    def render_history(self, history: RunHistory, view: View) -> None:
        """Draw ``history``; while a run goes, at most every :data:`PLOT_EVERY_S` (else
        :attr:`pending` says a newer frame is owed)."""
        if history is not self.history:
            self.nav.cursor = self.nav.cursor if history.started is self.history.started else None
        self.history, self.log_y, self.smoothing = history, view.log_y, view.smoothing
        self.window, self.view = view.window, view
        self.live = view.running
        now = time.monotonic()
        self.pending = view.running and now < self.next_plot_at
        if not self.pending:
            self.next_plot_at = now + PLOT_EVERY_S
            self.replot()

    def on_mount(self) -> None:
        super().on_mount()
        for legend in self.screen.query(Legend):  # the legend reads the cursor and the zoom
            legend.nav = self.nav
        self.replot()

    def on_resize(self) -> None:
        self.replot()

    def _series(self, points: list[Point], floor: float | None = None) -> list[Point]:
        if self.nav.log_x:
            points = [(math.log10(max(x, 1.0)), y) for x, y in points]
        if not self.log_y:
            return points
        out, clipped = to_log10(points, self.history.log_floor if floor is None else floor)
        self.clipped = self.clipped or clipped
        return out

    def _x(self, epoch: float) -> float:
        return math.log10(max(epoch, 1.0)) if self.nav.log_x else epoch

    @staticmethod
    def _draw(plt: Recorder, points: list[Point], color: str) -> None:
        if points:
            xs, ys = zip(*points)
            plt.plot(list(xs), list(ys), color=color, marker="braille")

    def replot(self) -> None:
        """Record the figure for the history, then build it: in a worker thread while a run
        goes (the newest frame shows when done), else at the next paint."""
        plt = Recorder()
        self._record(plt)
        self._calls = plt.calls
        tell_damage(self)
        self._generation += 1
        if self.live:
            if not self._building:
                self._building = True
                self.run_worker(self._build_frames, group="plot-frames", exit_on_error=False)
        else:
            self._frame = None
            self.refresh()

    async def _build_frames(self) -> None:
        """Build the newest recording in a thread until it is built; once the run has ended
        the plot draws in ``render``, and an older build no longer replaces that."""
        loop = asyncio.get_running_loop()
        built = -1
        try:
            while self.live and built != self._generation:
                built, size, theme = self._generation, self.size, self._theme_name()
                text = await loop.run_in_executor(
                    None, build_frame, self._calls, size.width, size.height, theme
                )
                if self.live:
                    self._frame = (size, theme, text)
                    self.refresh()
        except Exception:  # noqa: BLE001 - build it in render instead, where errors show
            self._frame = None
            self.refresh()
        finally:
            self._building = False

    @property
    def building(self) -> bool:
        """A frame is being built in a worker thread."""
        return self._building

    async def settled(self) -> None:
        """Wait until no frame is being built in a thread (for tests and redraw_now)."""
        while self._building:
            await asyncio.sleep(0.005)

    def _theme_name(self) -> str:
        return self._get_plotext_theme_name(self.app.theme)

    def render(self) -> RenderResult:
        """The newest frame at this size, else one built now."""
        size, theme = self.size, self._theme_name()
        if self._frame is None or self._frame[:2] != (size, theme):
            self._frame = (size, theme, build_frame(self._calls, size.width, size.height, theme))
        return self._frame[2]

    def _record(self, plt: Recorder) -> None:
        history = self.history
        self.clipped = False
        width = max(self.size.width, 10)
        n_points = 2 * width  # braille gives two dots per cell
        if history.started is None or history.last_epoch == 0:
            plt.xlim(1, 10)
            plt.xticks([1, 5, 10])
            plt.ylim(0, 1)
            return
        key, _, fields = series_named(self.nav.series)
        x_lo, x_hi = self.nav.range(history, self.window)
        x_hi = max(x_hi, x_lo + 1)
        all_y: list[float] = []
        floor = history.log_floor if key == "loss" else self._floor(fields, x_lo, x_hi)
        if key == "loss":
            opt = history.started.optimum
            if opt is not None and opt.get("loss") is not None:
                # Drawn first, so curves that converge onto it stay visible on top of it.
                line = self._series([(x_lo, float(opt["loss"])), (x_hi, float(opt["loss"]))])
                self._draw(plt, line, OPTIMUM_COLOR)
                all_y.append(line[0][1])
        colors = WEIGHT_COLORS if key == "weights" else (TRAIN_COLOR, VAL_COLOR)
        smooth_colors = (SMOOTH_TRAIN_COLOR, SMOOTH_VAL_COLOR)
        for i, name in enumerate(f for f in fields if f in history.curves or self._based(f)):
            raw = self._points(name, x_lo, x_hi, n_points)
            drawn = self._series(raw, floor)
            self._draw(plt, drawn, colors[i % len(colors)])
            all_y += [y for _, y in drawn]
            if self.smoothing is not None:
                smooth = self._smoothed(name, raw, self.smoothing, n_points, x_lo, x_hi)
                self._draw(plt, self._series(smooth, floor), smooth_colors[i % 2])
        last = history.last
        if (
            key == "loss"
            and last is not None
            and last.best_epoch is not None
            and last.best_monitor is not None
            and x_lo <= last.best_epoch <= x_hi
        ):
            (pt,) = self._series([(float(last.best_epoch), float(last.best_monitor))])
            plt.scatter([pt[0]], [pt[1]], color=BEST_COLOR, marker="◆")
        cursor = self.nav.cursor
        if cursor is not None and x_lo <= cursor <= x_hi:
            plt.vline(self._x(cursor), color=CURSOR_COLOR)
        self._x_axis(plt, x_lo, x_hi)
        if all_y:
            # Our own labels on both scales: plotext's would print every digit of a diverged
            # loss (1281644738659826072141765992775680.0) and squeeze the plot to a sliver.
            lo, hi = min(all_y), max(all_y)
            ticks, labels = (log_ticks if self.log_y else linear_ticks)(lo, hi)
            if ticks:
                plt.yticks(ticks, labels)

    def _points(self, name: str, lo: int, hi: int, n_points: int) -> list[Point]:
        """The series' points in view; on log-x, read in log-spaced stretches so the first
        decades get as many columns as the last (one stretch would put epochs 1..1,000 of a
        100,000-epoch run into one point)."""
        if not self.nav.log_x or hi <= 2 * max(lo, 1):
            return self.history.points(name, lo, hi, n_points)
        ratio = hi / max(lo, 1)
        pieces = max(2, min(LOG_X_PIECES, math.ceil(math.log2(ratio))))
        edges = sorted({round(max(lo, 1) * ratio ** (k / pieces)) for k in range(pieces + 1)})
        out: list[Point] = []
        for a, b in itertools.pairwise(edges):
            first = a if a == edges[0] else a + 1
            if first <= b:
                out += self.history.points(name, first, b, max(8, n_points // pieces))
        return out

    def _based(self, name: str) -> bool:
        base = self.history.base
        return base is not None and name in base.fields

    def _floor(self, fields: tuple[str, ...], lo: int, hi: int) -> float:
        """The log-y floor of a series other than the loss: a decade under its smallest
        positive value in view."""
        ys = [y for f in fields for _, y in self.history.points(f, lo, hi, 64) if y > 0]
        return min(ys) / 10.0 if ys else 1e-12

    def _smoothed(
        self, name: str, raw: list[Point], beta: float, n_points: int, lo: int, hi: int
    ) -> list[Point]:
        """The EMA curve in view: filed epoch by epoch for the losses, else over the points."""
        curve = self.history.curves.get(name)
        if curve is not None and beta in curve.smooth:
            return [p for p in curve.smoothed(beta, n_points) if lo <= p[0] <= hi]
        ema = DebiasedEMA(beta)
        return [(x, ema.update(y)) for x, y in raw]

    def _x_axis(self, plt: Recorder, x_lo: int, x_hi: int) -> None:
        """Epoch ticks: about five round ones, or each decade on log-x."""
        if self.nav.log_x:
            a, b = math.log10(max(x_lo, 1)), math.log10(max(x_hi, 2))
            plt.xlim(a, b)
            decades = [d for d in range(math.ceil(a), math.floor(b) + 1)]
            ticks = sorted({a, b, *decades})
            ticks = [t for t in ticks if t in (a, b) or min(abs(t - a), abs(t - b)) > 0.1]
            plt.xticks(ticks, [f"{round(10**t):,}" for t in ticks])
            return
        plt.xlim(x_lo, x_hi)
        step = max(1, round((x_hi - x_lo) / 4))
        ticks = list(range(x_lo, x_hi + 1, step))
        if x_hi - ticks[-1] > step / 2:
            ticks.append(x_hi)
        plt.xticks(ticks)


def tell_damage(plot: LossPlot, passing: str | None = None) -> None:
    """Say once, as an error, that epochs the view reached are left out because the run's log
    is damaged there (the engine's one line naming the line), never a traceback; then a key's
    ``passing`` note."""
    history = plot.history
    if history.damage is not None and not history.damage_told:
        history.damage_told = True
        plot.post_message(Note(f"{history.damage} — those epochs are left out", error=True))
    if passing is not None:
        plot.post_message(Note(passing, passing=True))


_NAV_ACTIONS = frozenset({"log_x", "zoom", "pan", "all_epochs", "cursor", "hide_cursor", "series"})
