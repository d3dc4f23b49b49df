"""The line above the loss plot: what each colour is, the scale, the range shown, and the
cursor's reading.

Plotext draws its legend inside the canvas, where at 80x24 it would hide the curves, so the
legend is a line of its own that never wraps: items that do not fit are left out, least
important first. While the plot's cursor is on, the line is the cursor's reading instead (the
epoch and the values of the series shown there, as logged).
"""

from __future__ import annotations

from rich.text import Text

from tui.history import RunHistory
from tui.plot_nav import PlotNav, series_named
from tui.series import decades, fmt_num
from tui.view import View
from tui.widgets.plot_style import (
    BEST_COLOR,
    OPTIMUM_COLOR,
    RICH_COLORS,
    SMOOTH_TRAIN_COLOR,
    SMOOTH_VAL_COLOR,
    TRAIN_COLOR,
    VAL_COLOR,
    WEIGHT_COLORS,
)
from tui.widgets.quiet import QuietStatic

WINDOW_LABEL = "last {:,} ep"
"""The legend's note while the plot shows a window of the last epochs."""
LOG_HINT_DECADES = 3
"""From this many decades between the smallest and largest loss drawn, suggest log-y."""


class Legend(QuietStatic):
    """One line above the plot: what each colour is, the scale, the window, smoothing, the ≤0
    note and, when the range spans many decades, a hint to press l; or the cursor's reading."""

    DEFAULT_CSS = "Legend { height: 1; padding: 0 1; }"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.nav = PlotNav()
        """The plot's navigation, as the plot last drew it (it hands it over)."""

    def render_history(self, history: RunHistory, view: View) -> None:
        if history.started is None:
            self.update(Text("train / val loss per epoch — s starts a run", style="dim"))
            return
        width = self.content_size.width
        reading = self.nav.reading(history)
        if reading:
            self.update(Text(reading, style="bold", no_wrap=True, overflow="ellipsis"))
            return
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
        nav = self.nav
        if nav.log_x:
            items.append((1, Text("log-x", style="bold")))
        if nav.span is not None:
            lo, hi = nav.range(history, view.window)
            items.append((1, Text(f"epochs {lo:,}–{hi:,}", style="bold")))
        elif view.window is not None and view.window < history.n_epochs:
            items.append((1, Text(WINDOW_LABEL.format(view.window), style="bold")))
        smooth = view.smoothing is not None
        raw = " raw" if smooth and raw_labels else ""
        key_name, label, fields = series_named(nav.series)
        if key_name == "weights":
            shown = [f for f in fields if f in history.fields]
            for i, name in enumerate(shown):
                key(2, "━", WEIGHT_COLORS[i % len(WEIGHT_COLORS)], name)
        elif key_name == "lr":
            key(2, "━", TRAIN_COLOR, "lr")
        elif key_name == "grad_norm":
            key(2, "━", TRAIN_COLOR, "‖∇L‖₂ (last step)")
        else:
            what = "" if key_name == "loss" else f" {label}"
            key(2, "━", TRAIN_COLOR, f"train{what}{raw}")
            if history.started.n_val:  # no validation split: no val curve, so no key for one
                key(2, "━", VAL_COLOR, f"val{what}{raw}")
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
        if key_name != "loss":
            return items
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
