"""Modal screens: save the settings as a preset, quit during a run, and help (keys, formulas)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from engine.config import ConfigError
from engine.registry import LOSSES

SaveFn = Callable[[str, bool], Path]
"""``(name, overwrite) -> path``; raises FileExistsError or ConfigError."""


class SavePresetScreen(ModalScreen[str | None]):
    """Asks a name and writes the settings; an existing file needs a second Enter to overwrite."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#preset-name"

    def __init__(self, save: SaveFn, folder: Path, suggestion: str = "") -> None:
        super().__init__()
        self._save = save
        self._folder = folder
        self._suggestion = suggestion
        self._confirm: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Save settings as a new preset", classes="title")
            yield Label(f"in {self._folder}", classes="hint", markup=False)
            yield Input(self._suggestion, placeholder="name (letters, digits, - _ .)",
                        id="preset-name")
            yield Label("Enter saves · Esc cancels", id="save-msg", classes="hint", markup=False)

    @on(Input.Changed, "#preset-name")
    def _edited(self) -> None:
        self._confirm = None
        self.query_one("#save-msg", Label).update("Enter saves · Esc cancels")

    @on(Input.Submitted, "#preset-name")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.value.strip()
        msg = self.query_one("#save-msg", Label)
        try:
            path = self._save(name, self._confirm == name)
        except FileExistsError:
            self._confirm = name
            msg.update(f"'{name}' exists: Enter again overwrites it, Esc cancels")
            return
        except (ConfigError, OSError) as exc:
            msg.update(f"✗ {exc}")
            return
        self.dismiss(str(path))

    def action_cancel(self) -> None:
        self.dismiss(None)


KEYS_HELP: tuple[tuple[str, str], ...] = (
    ("s", "start a run with the settings shown"),
    ("x", "stop the run (it reports why it ended)"),
    ("p", "pause / resume"),
    ("l", "log-y on / off (zero and negative losses are drawn at a floor)"),
    ("m", "smoothing: off → EMA 0.9 → EMA 0.99 (debiased, drawn over the raw curve)"),
    ("ctrl+s", "save the settings as a new preset in your preset folder"),
    ("r", "reset the settings to the preset"),
    ("?", "this help"),
    ("a", "attach to a run in progress (its curve so far, then live)"),
    ("q", "quit; during a run: stop it, or leave it running (linreg-tui watch RUN comes back)"),
    ("tab / shift+tab", "move between fields; enter opens a list or moves on"),
    ("esc", "leave a field, so letter keys act again"),
)


def help_text(warnings: Sequence[str] = ()) -> str:
    """The run's warnings (if any), the keys and every loss formula (as the README has them)."""
    lines: list[str] = []
    if warnings:
        lines += [f"Warnings of the last run ({len(warnings)})", ""]
        lines += [f"  ⚠ {w}" for w in warnings]
        lines += [""]
    lines += ["Keys", ""]
    lines += [f"  {k:<16} {v}" for k, v in KEYS_HELP]
    lines += ["", "Losses (r = y - ŷ, means over samples, bias never penalised)", ""]
    lines += [f"  {name:<10} {re.sub(r', [^,]*=[{][^}]*[}]', '', spec.formula)}"
              for name, spec in LOSSES.items()]
    lines += ["  custom     your function f(ŷ, y) from loss.callable",
              "  combined   Σ weight·term over loss.terms",
              "", "  penalties  + l2·Σw² + l1·Σ|w|",
              "", "Settings edited during a run apply to the next start.",
              "Esc or ? closes this help."]
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    """The last run's warnings, the keys and the loss formulas (plain text, never markup)."""

    AUTO_FOCUS = "#help"

    BINDINGS = [Binding("escape", "close", "Close"), Binding("question_mark", "close", "Close"),
                Binding("q", "close", "Close")]

    def __init__(self, warnings: Sequence[str] = ()) -> None:
        super().__init__()
        self._warnings = list(warnings)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(help_text(self._warnings), markup=False)

    def action_close(self) -> None:
        self.dismiss(None)


class QuitScreen(ModalScreen[str | None]):
    """Quit during a run: stop it, or leave it training in the background, or stay."""

    BINDINGS = [Binding("x", "choose('stop')", "Stop run and quit"),
                Binding("b", "choose('leave')", "Leave it running"),
                Binding("escape", "choose('')", "Cancel")]
    AUTO_FOCUS = ""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self._run_id = run_id

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("A run is going. Quit and…", classes="title")
            yield Label("x  stop it (it ends cleanly and keeps its directory)", markup=False)
            yield Label("b  leave it running in the background; come back with", markup=False)
            yield Label(f"   linreg-tui watch {self._run_id}", id="watch-hint", markup=False)
            yield Label("Esc stays here", classes="hint", markup=False)

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice or None)
