"""Several runs' loss curves on one plot, each with its own colour and marker, and their legend.

Drawn with textual-plotext as :mod:`tui.widgets.plot` is: downsampled to the plot's width
(:class:`~tui.series.Downsampler`, so a 100,000-epoch run costs what a short one does), our own
log10 transform with a floor (plotext's log scale breaks on values <= 0, plotext#37) and our own
tick labels. A colour alone is lost on a monochrome terminal or to a colour-blind user, so every
series also has its own marker character, and the legend shows both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tui.series import DebiasedEMA, Downsampler, Point, fmt_num, linear_ticks, log_ticks, to_log10

STYLES: tuple[tuple[str, str, str], ...] = (
    ("cyan", "cyan", "•"),
    ("orange", "dark_orange", "+"),
    ("green+", "bright_green", "x"),
    ("magenta", "magenta", "*"),
    ("yellow", "yellow", "o"),
    ("blue+", "bright_blue", "#"),
    ("red+", "bright_red", "%"),
    ("white", "white", "@"),
)
"""``(plotext colour, the same colour in Rich's names, marker)`` per series, in order."""
MAX_SERIES = len(STYLES)


@dataclass
class Series:
    """One run's curve as the plot draws it: a label, its points and its style."""

    label: str
    points: list[Point]
    style: int = 0
    note: str = ""
    """Why there is nothing to draw (e.g. "no val split"), shown in the legend instead."""
    _sampler: Downsampler = field(default_factory=Downsampler, repr=False)

    def __post_init__(self) -> None:
        for x, y in self.points:
            self._sampler.append(x, y)

    @property
    def color(self) -> str:
        return STYLES[self.style % MAX_SERIES][0]

    @property
    def rich_color(self) -> str:
        return STYLES[self.style % MAX_SERIES][1]

    @property
    def marker(self) -> str:
        return STYLES[self.style % MAX_SERIES][2]

    def sampled(self, n_points: int) -> list[Point]:
        return self._sampler.points(n_points)

    def window(self, first: float, n_points: int) -> list[Point]:
        """The points from epoch ``first`` on, downsampled to ``n_points``."""
        sampler = Downsampler()
        for x, y in self.points:
            if x >= first:
                sampler.append(x, y)
        return sampler.points(n_points)


def log_floor(series: list[Series]) -> float:
    """A decade under the smallest positive loss of any series (where ≤0 is drawn on log-y)."""
    positive = [y for s in series for _, y in s.points if y > 0]
    return min(positive) / 10.0 if positive else 1e-12


class ComparePlot(PlotextPlot):
    """The overlaid curves; focusable so the screen's keys land on it."""

    can_focus = True
    DEFAULT_CSS = """
    ComparePlot {
        height: 1fr;
        min-height: 6;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: list[Series] = []
        self.log_y = False
        self.smoothing: float | None = None
        """The EMA strength drawn over each run's points (m), or None."""
        self.window: int | None = None
        """Draw only the last this many epochs of the longest run (z), or all."""
        self.drawn: list[Series] = []
        """The series with points in the last draw (what the figure holds)."""

    def show(
        self,
        series: list[Series],
        *,
        log_y: bool,
        smoothing: float | None = None,
        window: int | None = None,
    ) -> None:
        self.series, self.log_y = series, log_y
        self.smoothing, self.window = smoothing, window
        self.replot()

    @property
    def last_epoch(self) -> int:
        """The longest run's last epoch."""
        return max((round(s.points[-1][0]) for s in self.series if s.points), default=0)

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def on_resize(self) -> None:
        self.replot()

    def replot(self) -> None:
        """Rebuild the figure and repaint the widget itself (textual-plotext#11)."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        n_points = max(self.size.width, 10)  # one point per cell: markers are whole cells
        floor = log_floor(self.series)
        all_y: list[float] = []
        x_hi = 2.0
        first = 1 if self.window is None else max(1, self.last_epoch - self.window + 1)
        self.drawn = []
        for s in self.series:
            points = s.sampled(n_points) if self.window is None else s.window(first, n_points)
            if self.smoothing is not None:
                ema = DebiasedEMA(self.smoothing)
                points = [(x, ema.update(y)) for x, y in points]
            if not points:
                continue
            if self.log_y:
                points, _ = to_log10(points, floor)
            xs, ys = zip(*points)
            plt.plot(list(xs), list(ys), color=s.color, marker=s.marker)
            self.drawn.append(s)
            all_y += ys
            x_hi = max(x_hi, max(xs))
        last = max(round(x_hi), first + 1)
        plt.xlim(first, last)
        step = max(1, round((last - first) / 4))
        plt.xticks(sorted(set(range(first, last + 1, step)) | {last}))
        if all_y:
            lo, hi = min(all_y), max(all_y)
            ticks, labels = (log_ticks if self.log_y else linear_ticks)(lo, hi)
            if ticks:
                plt.yticks(ticks, labels)
        else:
            plt.ylim(0, 1)
        self.refresh()


class CompareLegend(Static):
    """One line per run: its marker in its colour, its label, and its last and best loss."""

    DEFAULT_CSS = "CompareLegend { height: auto; padding: 0 1; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)

    def show(self, series: list[Series], which: str, *, higher_is_better: bool = False) -> None:
        """One line per run: ``which`` (what is plotted) last and best (the highest when
        ``higher_is_better``, as R²)."""
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, s in enumerate(series):
            if i:
                text.append("\n")
            text.append(f"{s.marker}━{s.marker}", style=f"bold {s.rich_color}")
            text.append(f" {s.label}")
            if s.note:
                text.append(f"  ({s.note})", style="dim")
            elif s.points:
                best = (max if higher_is_better else min)(s.points, key=lambda p: p[1])
                text.append(
                    f"  {which} {fmt_num(s.points[-1][1], 4)} @ {s.points[-1][0]:.0f}"
                    f" · best {fmt_num(best[1], 4)}",
                    style="dim",
                )
        self.update(text)
