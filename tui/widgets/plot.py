"""The live loss plot: train and validation loss per epoch, drawn with textual-plotext.

Redraws read the run history's downsampled series, so their cost depends on the plot's width and
not on the number of epochs. Log-y is our own log10 transform with a floor, because plotext's
log scale breaks on zero and negative values (plotext#37).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tui.history import RunHistory
from tui.series import Point, fmt_num, linear_ticks, log_ticks, to_log10
from tui.view import View

TRAIN_COLOR, VAL_COLOR = "cyan", "orange"
SMOOTH_TRAIN_COLOR, SMOOTH_VAL_COLOR = "blue+", "red+"
BEST_COLOR, OPTIMUM_COLOR = "green+", "magenta"
RICH_COLORS = {"cyan": "cyan", "orange": "dark_orange", "blue+": "bright_blue",
               "red+": "bright_red", "green+": "bright_green", "magenta": "magenta"}
"""The same colours in Rich's names, for the legend line above the plot."""


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

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.history = RunHistory()
        """The history last drawn (a resize redraws it)."""
        self.log_y = False
        self.smoothing: float | None = None
        self.clipped = False
        """Whether the last log-y draw clipped zero or negative values to the floor."""

    def render_history(self, history: RunHistory, view: View) -> None:
        self.history, self.log_y, self.smoothing = history, view.log_y, view.smoothing
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

    def _draw(self, points: list[Point], color: str) -> None:
        if points:
            xs, ys = zip(*points)
            self.plt.plot(list(xs), list(ys), color=color, marker="braille")

    def replot(self) -> None:
        """Rebuild the figure from the history and ask the widget (not the app) to repaint."""
        plt, history = self.plt, self.history
        plt.clear_data()
        plt.clear_figure()
        self.clipped = False
        width = max(self.size.width, 10)
        n_points = 2 * width  # braille gives two dots per cell
        if history.started is None:
            plt.xlim(1, 10)
            plt.xticks([1, 5, 10])
            plt.ylim(0, 1)
            self.refresh()
            return
        beta = self.smoothing
        all_y: list[float] = []
        last_epoch = history.epochs[-1] if history.epochs else 1
        x_hi = max(last_epoch, 2)
        opt = history.started.optimum
        if opt is not None and opt.get("loss") is not None:
            # Drawn first, so curves that converge onto it stay visible on top of it.
            (pt,) = self._series([(1.0, float(opt["loss"]))])
            self.plt.plot([1, x_hi], [pt[1], pt[1]], color=OPTIMUM_COLOR, marker="braille")
            all_y.append(pt[1])
        curves = [(history.train_curve, TRAIN_COLOR, SMOOTH_TRAIN_COLOR, "train"),
                  (history.val_curve, VAL_COLOR, SMOOTH_VAL_COLOR, "val")]
        for curve, color, smooth_color, name in curves:
            raw = self._series(curve.raw.points(n_points))
            self._draw(raw, color)
            all_y += [y for _, y in raw]
            if beta is not None:
                smooth = self._series(curve.smooth[beta].points(n_points))
                self._draw(smooth, smooth_color)
        last = history.last
        if last is not None and last.best_epoch is not None and last.best_monitor is not None:
            (pt,) = self._series([(float(last.best_epoch), float(last.best_monitor))])
            plt.scatter([pt[0]], [pt[1]], color=BEST_COLOR, marker="◆")
        plt.xlim(1, x_hi)
        step = max(1, round((x_hi - 1) / 4))
        ticks = list(range(1, x_hi + 1, step))
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
        self.refresh()


class Legend(Static):
    """One line above the plot: what each colour is, the scale, smoothing and the ≤0 note.

    Plotext draws its legend inside the canvas, where at 80x24 it would hide the curves.
    """

    DEFAULT_CSS = "Legend { height: auto; padding: 0 1; }"

    def render_history(self, history: RunHistory, view: View) -> None:
        text = Text()

        def key(mark: str, color: str, label: str) -> None:
            text.append(mark, style=RICH_COLORS[color])
            text.append(f" {label}  ")

        if history.started is None:
            text.append("train / val loss per epoch — s starts a run", style="dim")
            self.update(text)
            return
        if view.log_y:
            text.append("log-y", style="bold")
            if history.has_nonpositive:
                text.append(f" (≤0 at {fmt_num(history.log_floor, 2)})", style="yellow")
            text.append("  ")
        smooth = view.smoothing is not None
        key("━", TRAIN_COLOR, "train raw" if smooth else "train")
        if history.started.n_val:  # no validation split: no val curve, so no key for one
            key("━", VAL_COLOR, "val raw" if smooth else "val")
        if smooth:
            text.append("━", style=RICH_COLORS[SMOOTH_TRAIN_COLOR])
            key("━", SMOOTH_VAL_COLOR, f"EMA β={view.smoothing:g}")
        opt = history.started.optimum
        if opt is not None and opt.get("loss") is not None:
            key("━", OPTIMUM_COLOR, f"opt ({opt.get('kind', 'reference')})")
        if history.last is not None and history.last.best_epoch is not None:
            key("◆", BEST_COLOR, "best")
        self.update(text)
