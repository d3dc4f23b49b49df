"""The two lines that say what is going on: the top bar and the formula line.

Both are plain text, never markup: they quote user input (preset names, a custom loss's
parameters) and engine messages.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from tui.history import RunHistory
from tui.view import View


class TopBar(Static):
    """Preset, state, the run's warning count and the last message (wraps up to 3 rows)."""

    DEFAULT_CSS = "TopBar { height: auto; max-height: 3; background: $panel; padding: 0 1; }"

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__("", id=id, markup=False)

    def show(self, preset: str, state: str, warnings: Sequence[str], message: str, *,
             error: bool = False) -> None:
        text = Text.assemble(("linreg-tui", "bold"), f" · {preset} · ", (state, "bold"))
        n = len(warnings)
        if n:
            plural = "s" if n > 1 else ""
            text.append(f" · ⚠ {n} warning{plural} (? lists)", style="bold yellow")
        text.append(" │ ")
        text.append(message, style="bold red" if error else "")
        self.update(text)


class FormulaLine(Static):
    """The loss being trained: one row when the form's loss is the run's, two while a running
    run's loss differs from what the next start would use."""

    DEFAULT_CSS = "FormulaLine { height: auto; padding: 0 1; color: $accent; }"

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
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
        else:
            text = f"loss  {current}"
        self.update(text)
