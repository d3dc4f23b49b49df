"""The runs screen's one-line input: the filter (``/``), a run's note (``n``) and its tags
(``t``).

One input line at the bottom, hidden until a key opens it, so the table keeps the rows at 80x24;
``enter`` applies, ``esc`` closes it and changes nothing (the filter, too, applies on
``enter``: a half-typed ``key=`` term is never applied).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.message import Message
from textual.widgets import DataTable, Input

PROMPTS = {
    "filter": "filter: words, key=value, key<N (state=finished loss=huber lr<0.01 tag=x)",
    "note": "note for this run (enter saves, empty clears, esc cancels)",
    "tags": "tags, separated by spaces (enter saves, esc cancels)",
}


class RunsInput(Input):
    """The input line; posts :class:`Done` with what it edits and the value."""

    DEFAULT_CSS = """
    RunsInput { height: 1; border: none; padding: 0 1; display: none; }
    RunsInput:focus { border: none; }
    """

    @dataclass
    class Done(Message):
        """The input line was submitted: what it edited and its value."""

        what: str
        value: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, select_on_focus=False)
        self.what = "filter"

    def open(self, what: str, value: str) -> None:
        """Show the line, filled with ``value``, for ``what`` (filter, note or tags)."""
        self.what = what
        self.placeholder = PROMPTS[what]
        self.value = value
        self.display = True
        self.focus()
        self.cursor_position = len(value)

    def close(self) -> None:
        """Hide the line (nothing is applied) and give the keys back to the table."""
        self.display = False
        self.screen.query_one(DataTable).focus()

    def submit(self) -> None:
        """Apply the value (``enter``)."""
        self.post_message(self.Done(self.what, self.value))
        self.close()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()
