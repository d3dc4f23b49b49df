"""The live loss plot: train and validation loss per epoch, drawn with textual-plotext.

Redraws read the run model's downsampled series, so their cost depends on the plot's width and
not on the number of epochs. Log-y is our own log10 transform with a floor, because plotext's
log scale breaks on zero and negative values (plotext#37).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tui.model import RunModel
from tui.series import Point, fmt_num, linear_ticks, log_ticks, to_log10

TRAIN_COLOR, VAL_COLOR = "cyan", "orange"
SMOOTH_TRAIN_COLOR, SMOOTH_VAL_COLOR = "blue+", "red+"
BEST_COLOR, OPTIMUM_COLOR = "green+", "magenta"
RICH_COLORS = {"cyan": "cyan", "orange": "dark_orange", "blue+": "bright_blue",
               "red+": "bright_red", "green+": "bright_green", "magenta": "magenta"}
"""The same colours in Rich's names, for the legend line above the plot."""


class LossPlot(PlotextPlot):
    """Train/val loss curves, best-epoch marker, optimum line; focusable so keys land here."""

    can_focus = True

    def __init__(self, model: RunModel, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.model = model
        self.log_y = False
        self.smoothing: float | None = None
        self.clipped = False
        """Whether the last log-y draw clipped zero or negative values to the floor."""

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def on_resize(self) -> None:
        self.replot()

    def _series(self, points: list[Point]) -> list[Point]:
        if not self.log_y:
            return points
        out, clipped = to_log10(points, self.model.log_floor)
        self.clipped = self.clipped or clipped
        return out

    def _draw(self, points: list[Point], color: str) -> None:
        if points:
            xs, ys = zip(*points)
            self.plt.plot(list(xs), list(ys), color=color, marker="braille")

    def replot(self) -> None:
        """Rebuild the figure from the model and ask the widget (not the app) to repaint."""
        plt, model = self.plt, self.model
        plt.clear_data()
        plt.clear_figure()
        self.clipped = False
        width = max(self.size.width, 10)
        n_points = 2 * width  # braille gives two dots per cell
        if model.started is None:
            plt.xlim(1, 10)
            plt.xticks([1, 5, 10])
            plt.ylim(0, 1)
            self.refresh()
            return
        beta = self.smoothing
        all_y: list[float] = []
        last_epoch = model.epochs[-1] if model.epochs else 1
        x_hi = max(last_epoch, 2)
        opt = model.started.optimum
        if opt is not None and opt.get("loss") is not None:
            # Drawn first, so curves that converge onto it stay visible on top of it.
            (pt,) = self._series([(1.0, float(opt["loss"]))])
            self.plt.plot([1, x_hi], [pt[1], pt[1]], color=OPTIMUM_COLOR, marker="braille")
            all_y.append(pt[1])
        curves = [(model.train_curve, TRAIN_COLOR, SMOOTH_TRAIN_COLOR, "train"),
                  (model.val_curve, VAL_COLOR, SMOOTH_VAL_COLOR, "val")]
        for curve, color, smooth_color, name in curves:
            raw = self._series(curve.raw.points(n_points))
            self._draw(raw, color)
            all_y += [y for _, y in raw]
            if beta is not None:
                smooth = self._series(curve.smooth[beta].points(n_points))
                self._draw(smooth, smooth_color)
        last = model.last
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

    def show(self, model: RunModel, plot: LossPlot) -> None:
        text = Text()

        def key(mark: str, color: str, label: str) -> None:
            text.append(mark, style=RICH_COLORS[color])
            text.append(f" {label}  ")

        if model.started is None:
            text.append("train / val loss per epoch — s starts a run", style="dim")
            self.update(text)
            return
        if plot.log_y:
            text.append("log-y", style="bold")
            if plot.clipped or model.has_nonpositive:
                text.append(f" (≤0 at {fmt_num(model.log_floor, 2)})", style="yellow")
            text.append("  ")
        smooth = plot.smoothing is not None
        key("━", TRAIN_COLOR, "train raw" if smooth else "train")
        if model.started.n_val:  # no validation split: no val curve, so no key for one
            key("━", VAL_COLOR, "val raw" if smooth else "val")
        if smooth:
            text.append("━", style=RICH_COLORS[SMOOTH_TRAIN_COLOR])
            key("━", SMOOTH_VAL_COLOR, f"EMA β={plot.smoothing:g}")
        opt = model.started.optimum
        if opt is not None and opt.get("loss") is not None:
            key("━", OPTIMUM_COLOR, f"opt ({opt.get('kind', 'reference')})")
        if model.last is not None and model.last.best_epoch is not None:
            key("◆", BEST_COLOR, "best")
        self.update(text)
