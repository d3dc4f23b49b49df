"""The live loss plot: train and validation loss per epoch, drawn with textual-plotext.

Redraws read the run history's downsampled series, so their cost depends on the plot's width and
not on the number of epochs. Log-y is our own log10 transform with a floor, because plotext's
log scale breaks on zero and negative values (plotext#37). While a run goes, plotext builds the
frames in a worker thread (:mod:`tui.widgets.plot_frame`), so keys are not held behind a build.
"""

from __future__ import annotations

import asyncio
import time

from rich.text import Text
from textual.app import RenderResult
from textual.geometry import Size
from textual_plotext import PlotextPlot

from tui.history import SMOOTHING_BETAS, RunHistory
from tui.series import Point, decades, fmt_num, linear_ticks, log_ticks, to_log10
from tui.view import View
from tui.widgets.plot_frame import Call, Recorder, build_frame
from tui.widgets.quiet import QuietStatic

TRAIN_COLOR, VAL_COLOR = "cyan", "orange"
SMOOTH_TRAIN_COLOR, SMOOTH_VAL_COLOR = "blue+", "red+"
BEST_COLOR, OPTIMUM_COLOR = "green+", "magenta"
RICH_COLORS = {
    "cyan": "cyan",
    "orange": "dark_orange",
    "blue+": "bright_blue",
    "red+": "bright_red",
    "green+": "bright_green",
    "magenta": "magenta",
}
"""The same colours in Rich's names, for the legend line above the plot."""


PLOT_WINDOWS: tuple[int, ...] = (100, 1_000, 10_000)
"""The last-N-epochs windows z cycles through (those shorter than the run so far), then all."""
PLOT_EVERY_S = 0.2
"""While a run goes the plot is rebuilt at most 5 times a second: plotext builds its canvas in
Python (the dashboard's costliest draw), and a curve that moves 5 times a second reads as live
while the loop stays free for keys. The text panels keep the full redraw rate."""


class LossPlot(PlotextPlot):
    """Train/val loss curves, best-epoch marker, optimum line; focusable so keys land here."""

    can_focus = True
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
        self.clipped = False
        """Whether the last log-y draw clipped zero or negative values to the floor."""
        self.next_plot_at = 0.0
        self.pending = False
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
        return (
            "plot: all epochs"
            if self.window is None
            else f"plot: last {self.window:,} epochs (z: next window)"
        )

    def render_history(self, history: RunHistory, view: View) -> None:
        """Draw ``history``; while a run goes, at most every :data:`PLOT_EVERY_S` (else
        :attr:`pending` says a newer frame is owed)."""
        self.history, self.log_y, self.smoothing = history, view.log_y, view.smoothing
        self.window = view.window
        self.live = view.running
        now = time.monotonic()
        self.pending = view.running and now < self.next_plot_at
        if not self.pending:
            self.next_plot_at = now + PLOT_EVERY_S
            self.replot()

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def on_resize(self) -> None:
        self.replot()

    def _series(self, points: list[Point]) -> list[Point]:
        if not self.log_y:
            return points
        out, clipped = to_log10(points, self.history.log_floor)
        self.clipped = self.clipped or clipped
        return out

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
        if history.started is None:
            plt.xlim(1, 10)
            plt.xticks([1, 5, 10])
            plt.ylim(0, 1)
            return
        beta = self.smoothing
        all_y: list[float] = []
        last_epoch = history.epochs[-1] if history.epochs else 1
        start = history.window_start(self.window)
        x_lo = history.epochs[start] if history.epochs else 1
        x_hi = max(last_epoch, x_lo + 1)
        opt = history.started.optimum
        if opt is not None and opt.get("loss") is not None:
            # Drawn first, so curves that converge onto it stay visible on top of it.
            (pt,) = self._series([(1.0, float(opt["loss"]))])
            plt.plot([x_lo, x_hi], [pt[1], pt[1]], color=OPTIMUM_COLOR, marker="braille")
            all_y.append(pt[1])
        points = history.curve_points(self.window, n_points)
        curves = [
            (points[0], history.train_curve, TRAIN_COLOR, SMOOTH_TRAIN_COLOR),
            (points[1], history.val_curve, VAL_COLOR, SMOOTH_VAL_COLOR),
        ]
        for curve_points, curve, color, smooth_color in curves:
            raw = self._series(curve_points)
            self._draw(plt, raw, color)
            all_y += [y for _, y in raw]
            if beta is not None:
                smooth = [p for p in curve.smooth[beta].points(n_points) if p[0] >= x_lo]
                self._draw(plt, self._series(smooth), smooth_color)
        last = history.last
        if (
            last is not None
            and last.best_epoch is not None
            and last.best_monitor is not None
            and last.best_epoch >= x_lo
        ):
            (pt,) = self._series([(float(last.best_epoch), float(last.best_monitor))])
            plt.scatter([pt[0]], [pt[1]], color=BEST_COLOR, marker="◆")
        plt.xlim(x_lo, x_hi)
        step = max(1, round((x_hi - x_lo) / 4))
        ticks = list(range(x_lo, x_hi + 1, step))
        if x_hi - ticks[-1] > step / 2:
            ticks.append(x_hi)
        plt.xticks(ticks)
        if all_y:
            # Our own labels on both scales: plotext's would print every digit of a diverged
            # loss (1281644738659826072141765992775680.0) and squeeze the plot to a sliver.
            lo, hi = min(all_y), max(all_y)
            ticks, labels = (log_ticks if self.log_y else linear_ticks)(lo, hi)
            if ticks:
                plt.yticks(ticks, labels)


WINDOW_LABEL = "last {:,} ep"
"""The legend's note while the plot shows a window of the last epochs."""
LOG_HINT_DECADES = 3
"""From this many decades between the smallest and largest loss drawn, suggest log-y."""


class Legend(QuietStatic):
    """One line above the plot: what each colour is, the scale, the window, smoothing, the ≤0
    note and, when the range spans many decades, a hint to press l.

    Plotext draws its legend inside the canvas, where at 80x24 it would hide the curves. The
    line never wraps: items that do not fit are left out, least important first.
    """

    DEFAULT_CSS = "Legend { height: 1; padding: 0 1; }"

    def render_history(self, history: RunHistory, view: View) -> None:
        if history.started is None:
            self.update(Text("train / val loss per epoch — s starts a run", style="dim"))
            return
        width = self.content_size.width
        items = self._items(history, view, raw_labels=True)
        if width > 0 and _length(items) > width:  # "train raw" → "train" before dropping any
            items = self._items(history, view, raw_labels=False)
        self.update(fit_items(items, width))

    def _items(
        self, history: RunHistory, view: View, *, raw_labels: bool
    ) -> list[tuple[int, Text]]:
        """The legend's items as (priority: lower stays longer, text)."""
        items: list[tuple[int, Text]] = []
        if history.started is None:
            return items

        def key(priority: int, mark: str, color: str, label: str) -> None:
            items.append((priority, Text.assemble((mark, RICH_COLORS[color]), f" {label}")))

        if view.log_y:
            log = Text("log-y", style="bold")
            if history.has_nonpositive:
                log.append(f" (≤0 at {fmt_num(history.log_floor, 2)})", style="yellow")
            items.append((1, log))
        if view.window is not None and view.window < len(history.epochs):
            items.append((1, Text(WINDOW_LABEL.format(view.window), style="bold")))
        smooth = view.smoothing is not None
        raw = " raw" if smooth and raw_labels else ""
        key(2, "━", TRAIN_COLOR, f"train{raw}")
        if history.started.n_val:  # no validation split: no val curve, so no key for one
            key(2, "━", VAL_COLOR, f"val{raw}")
        if smooth:  # a state the user chose, as log-y: it stays longest
            items.append(
                (
                    1,
                    Text.assemble(
                        ("━", RICH_COLORS[SMOOTH_TRAIN_COLOR]),
                        ("━", RICH_COLORS[SMOOTH_VAL_COLOR]),
                        f" EMA β={view.smoothing:g}",
                    ),
                )
            )
        opt = history.started.optimum
        if opt is not None and opt.get("loss") is not None:
            key(5, "━", OPTIMUM_COLOR, f"opt ({opt.get('kind', 'reference')})")
        if history.last is not None and history.last.best_epoch is not None:
            key(4, "◆", BEST_COLOR, "best")
        span = 0 if view.log_y else decades(*(history.y_range(view.window) or (0.0, 0.0)))
        if span >= LOG_HINT_DECADES:
            items.insert(0, (0, Text(f"spans {span} decades: l for log-y", style="bold yellow")))
        return items


def _length(items: list[tuple[int, Text]]) -> int:
    return sum(len(t) for _, t in items) + 2 * (len(items) - 1)


def fit_items(items: list[tuple[int, Text]], width: int) -> Text:
    """The items joined by two spaces, leaving out the least important (highest priority
    number, last first) until the line fits ``width`` cells (0: no limit yet)."""
    kept = list(items)
    while len(kept) > 1 and width > 0 and _length(kept) > width:
        worst = max(p for p, _ in kept)
        drop = max(i for i, (p, _) in enumerate(kept) if p == worst)
        del kept[drop]
    return Text("  ").join(t for _, t in kept)
