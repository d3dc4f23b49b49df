"""A shaded terminal map for the loss lab: the landscape over two weights, or a classifier's
predicted class over its two features, with marks (path, optimum, points) drawn on top.

Why plain Rich text and not plotext: a map is one character per cell, and a shade that is both a
glyph and a colour reads in a terminal without colours and in a screenshot alike. The grid is
given as levels (row 0 on top) and sampled to whatever size the widget has, nearest cell, so a
resize never cuts it off; the marks are placed on the sampled grid by the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

RAMP = " ·░░▒▒▓█"
"""Landscape glyphs, low to high: the valley is blank, the walls dark."""
RAMP_COLORS = (
    "#1f3b73",
    "#255c99",
    "#2b7bb9",
    "#3a9bbf",
    "#5bb89a",
    "#9ccc65",
    "#e0c341",
    "#e8833a",
)
CLASS_GLYPHS = " ░▒▓"
CLASS_COLORS = ("#2b7bb9", "#e8833a", "#5bb89a", "#c94f7c", "#9c7ad6")
MARK_STYLES = {
    "path": "bold white",
    "current": "bold magenta",
    "optimum": "bold yellow",
    "lowest": "bold cyan",
    "ok": "bold white",
    "bad": "bold red reverse",
}
Mark = tuple[int, int, str, str]


def sample(index: int, size: int, source: int) -> int:
    """The source cell shown at ``index`` of ``size`` cells (nearest, ends kept)."""
    if size <= 1 or source <= 1:
        return 0
    return round(index * (source - 1) / (size - 1))


def place(index: int, source: int, size: int) -> int:
    """Where source cell ``index`` lands on ``size`` cells (the inverse of :func:`sample`)."""
    if size <= 1 or source <= 1:
        return 0
    return round(index * (size - 1) / (source - 1))


def render_map(
    levels: Sequence[Sequence[int]],
    marks: Sequence[Mark],
    width: int,
    height: int,
    *,
    classes: bool = False,
) -> Text:
    """``levels`` sampled to ``width`` x ``height`` cells with ``marks`` on top (later marks
    over earlier ones)."""
    rows, cols = len(levels), len(levels[0]) if levels else 0
    width, height = max(width, 1), max(height, 1)
    if not rows or not cols:
        return Text("")
    glyphs, colors = (CLASS_GLYPHS, CLASS_COLORS) if classes else (RAMP, RAMP_COLORS)
    over = {(place(r, rows, height), place(c, cols, width)): (ch, kind) for r, c, ch, kind in marks}
    text = Text(no_wrap=True, overflow="crop")
    for y in range(height):
        src = levels[sample(y, height, rows)]
        for x in range(width):
            level = src[sample(x, width, cols)]
            back = colors[level % len(colors)]
            if (y, x) in over:
                ch, kind = over[(y, x)]
                text.append(ch, style=f"{MARK_STYLES.get(kind, 'bold')} on {back}")
            else:
                text.append(glyphs[level % len(glyphs)], style=back)
        if y < height - 1:
            text.append("\n")
    return text


class LabMap(Static):
    """Shows one map at the widget's own size; :meth:`show` gives it the grid."""

    DEFAULT_CSS = "LabMap { height: 1fr; width: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.levels: list[list[int]] = []
        self.marks: list[Mark] = []
        self.by_class = False

    def show(self, levels: list[list[int]], marks: list[Mark], *, classes: bool = False) -> None:
        self.levels, self.marks, self.by_class = levels, marks, classes
        self.refresh()

    def render(self) -> Text:
        size = self.content_size
        return render_map(self.levels, self.marks, size.width, size.height, classes=self.by_class)
