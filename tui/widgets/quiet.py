"""Static widgets that redraw only what changed.

The dashboard redraws up to ``REDRAW_HZ`` times a second while a run goes, and every
``Static.update`` asks Textual for a render and, by default, a layout of the whole screen. Most
panels show the same text for many frames (the early-stopping state, the coefficients, the
formula), and a changed text rarely changes a panel's height. Skipping the unchanged and laying
out only when the number of rows changes keeps the dashboard's loop free for keys.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static


def _rows(content: Any, width: int) -> int | None:
    """Rows ``content`` takes at ``width`` when wrapped, or None when not plain text."""
    if isinstance(content, Text):
        content = content.plain
    if not isinstance(content, str) or width <= 0:
        return None
    return sum(max(1, -(-cell_len(line) // width)) for line in content.split("\n"))


class QuietStatic(Static):
    """A ``Static`` whose :meth:`update` skips content equal to what it shows and asks for a
    layout only when the content's row count changes (or it cannot tell)."""

    _shown: Any = None
    _shown_rows: int | None = None

    def update(self, content: Any = "", *, layout: bool = True) -> None:
        if (
            self._shown is not None
            and type(content) is type(self._shown)
            and isinstance(content, (str, Text))
            and content == self._shown
        ):
            return
        rows = _rows(content, self.content_size.width)
        relayout = layout and (rows is None or rows != self._shown_rows)
        self._shown, self._shown_rows = content, rows
        super().update(content, layout=relayout)
