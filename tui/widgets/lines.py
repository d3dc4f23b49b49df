"""The two lines that say what is going on: the top bar and the formula line.

Both are plain text, never markup: they quote user input (preset names, a custom loss's
parameters) and engine messages.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.timer import Timer

from tui.history import RunHistory
from tui.view import View
from tui.widgets.quiet import QuietStatic

FLASH_S = 3.0
"""How long a passing note (log-y on, smoothing, window) covers the top bar's message."""


class TopBar(QuietStatic):
    """What is shown (the preset, or the run when the form no longer matches it), its state,
    the run's warning count and the last message.

    One row, cut with "…", so the plot keeps its rows at 80x24 (the early-stopping panel has
    the whole stop message); an error wraps up to 3 rows, as it says what to fix. A key's
    passing note (:meth:`flash`) shows for FLASH_S seconds and then gives the row back to the
    message it covered, so a run's stop reason is not lost to a key press.
    """

    DEFAULT_CSS = """
    TopBar {
        height: 1; background: $panel; padding: 0 1; text-wrap: nowrap;
        &.-error { height: auto; max-height: 3; text-wrap: wrap; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.message, self.error = "", False
        self._note: str | None = None
        self._note_timer: Timer | None = None
        self._showing: tuple[str, str, tuple[str, ...]] = ("", "", ())

    def say(self, text: str, *, error: bool = False) -> None:
        """Make ``text`` the message (errors in red); it replaces a passing note."""
        self.drop_note()
        self.message, self.error = text, error
        self.show(*self._showing)

    def flash(self, text: str) -> None:
        """Show a passing note for FLASH_S seconds, then the message it covered again."""
        self.drop_note()
        self._note = text
        self._note_timer = self.set_timer(FLASH_S, self._end_note)
        self.show(*self._showing)

    def drop_note(self) -> None:
        """Forget the passing note (a new message or note takes the row)."""
        if self._note_timer is not None:
            self._note_timer.stop()
        self._note, self._note_timer = None, None

    def _end_note(self) -> None:
        self.drop_note()
        self.show(*self._showing)

    def show(self, shown: str, state: str, warnings: Sequence[str] = ()) -> None:
        """``shown`` is the preset name (``default*`` when edited) or the shown run's label."""
        self._showing = (shown, state, tuple(warnings))
        # the state first: a long "showing …" label must not push it out of the row
        text = Text.assemble(("linreg-tui", "bold"), " · ", (state, "bold"), f" · {shown}")
        n = len(warnings)
        if n:
            plural = "s" if n > 1 else ""
            text.append(f" · ⚠ {n} warning{plural} (? lists)", style="bold yellow")
        message, error = (
            (self._note, False) if self._note is not None else (self.message, self.error)
        )
        if message:
            text.append(" │ ")
            text.append(message, style="bold red" if error else "")
        width = self.content_size.width
        if not error and width > 0:  # one row, its end cut with "…"
            text.truncate(width, overflow="ellipsis")
        self.set_class(error, "-error")
        self.update(text)


class FormulaLine(QuietStatic):
    """The loss being trained: one row when the form's loss is the run's, two while a running
    run's loss differs from what the next start would use."""

    DEFAULT_CSS = "FormulaLine { height: auto; padding: 0 1; color: $accent; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)

    def render_history(self, history: RunHistory, view: View) -> None:
        """Before any run the form's description (no user code is imported for it); once a run
        with the same loss has started, the engine's formula (a custom loss's docstring and its
        parameters). The losses are compared as config data, not as formula texts, as the
        engine writes a custom loss's docstring where the form can only name the callable."""
        started, current = history.started, view.next_loss_formula
        if started is not None and view.next_loss == started.config.get("loss"):
            text = f"loss  {started.loss_formula}"
        elif view.running and started is not None:
            text = f"running  {started.loss_formula}\nnext     {current}"
        elif started is not None:  # the curves are the last run's; this loss is the next one's
            text = f"next  {current}"
        else:
            text = f"loss  {current}"
        self.update(text)
