"""Modal screens: save the settings as a preset, quit during a run, and help (keys, formulas)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from engine.config import ConfigError
from engine.registry import LOSSES

SaveFn = Callable[[str, bool, str], Path]
"""``(name, overwrite, description) -> path``; raises FileExistsError or ConfigError."""
NAME_RULE = "letters, digits, - _ . (not starting with .)"
"""The preset name rule as the engine checks it (engine.config.presets._preset_name)."""


class SavePresetScreen(ModalScreen[str | None]):
    """Asks a name and a description and writes the settings; an existing file needs a second
    Enter to overwrite. Tab moves between the two fields; Enter in either saves."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#preset-name"

    def __init__(
        self, save: SaveFn, folder: Path, suggestion: str = "", description: str = ""
    ) -> None:
        super().__init__()
        self._save = save
        self._folder = folder
        self._suggestion = suggestion
        self._description = description
        self._confirm: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Save settings as a new preset", classes="title")
            yield Label(f"in {self._folder}", classes="hint", markup=False)
            yield Label("name", classes="hint")
            yield Input(self._suggestion, placeholder=f"name ({NAME_RULE})", id="preset-name")
            yield Label("description", classes="hint")
            yield Input(
                self._description, placeholder="what this preset is for", id="preset-description"
            )
            yield Label(
                "Enter saves · Tab: name/description · Esc cancels",
                id="save-msg",
                classes="hint",
                markup=False,
            )

    @on(Input.Changed, "#preset-name")
    def _edited(self) -> None:
        self._confirm = None
        self.query_one("#save-msg", Label).update(
            "Enter saves · Tab: name/description · Esc cancels"
        )

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        name = self.query_one("#preset-name", Input).value.strip()
        description = self.query_one("#preset-description", Input).value.strip()
        msg = self.query_one("#save-msg", Label)
        try:
            path = self._save(name, self._confirm == name, description)
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


class DiscardEditsScreen(ModalScreen[bool]):
    """Another preset was picked while the form has edits: y discards them, n or Esc keeps."""

    BINDINGS = [
        Binding("y", "answer(True)", "Discard edits"),
        Binding("n", "answer(False)", "Keep editing"),
        Binding("escape", "answer(False)", "Keep editing"),
    ]
    AUTO_FOCUS = ""

    def __init__(self, preset: str, target: str, edited: Sequence[str]) -> None:
        super().__init__()
        self._preset, self._target, self._edited = preset, target, list(edited)

    def compose(self) -> ComposeResult:
        fields = ", ".join(self._edited[:4]) + (", …" if len(self._edited) > 4 else "")
        with Vertical(id="dialog"):
            yield Label(f"Discard your edits to {self._preset}?", classes="title", markup=False)
            yield Label(f"edited: {fields}", markup=False)
            yield Label(f"y  discard them and load {self._target}", markup=False)
            yield Label(
                f"n  keep editing {self._preset} (ctrl+s saves it as a preset)", markup=False
            )
            yield Label("Esc is n", classes="hint")

    def action_answer(self, discard: bool) -> None:
        self.dismiss(discard)


KEYS_HELP: tuple[tuple[str, str], ...] = (
    ("s", "start a run with the settings shown"),
    ("x", "stop the run (it reports why it ended)"),
    ("p", "pause / resume"),
    ("l", "log-y on / off (zero and negative losses are drawn at a floor)"),
    ("m", "smoothing: off → EMA 0.9 → EMA 0.99 (debiased, drawn over the raw curve)"),
    ("ctrl+s", "save the settings as a new preset in your preset folder"),
    ("r", "reset the settings to the preset"),
    ("z", "plot window: all epochs → last 100 → last 1,000 → last 10,000 (when longer)"),
    ("?", "this help"),
    ("a", "attach to a run in progress (its curve so far, then live)"),
    ("q", "quit; during a run: stop it, or leave it running (linreg-tui watch RUN comes back)"),
    ("tab / shift+tab", "move between fields; enter opens a list or moves on"),
    ("esc", "leave a field, so letter keys act again"),
)


def help_sections(warnings: Sequence[str] = ()) -> list[tuple[str, list[tuple[str, str]]]]:
    """The help as ``(title, [(left, right), ...])`` sections: the run's warnings (if any), the
    keys and every loss formula (as the README has them)."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    if warnings:
        sections.append(
            (f"Warnings of the last run ({len(warnings)})", [("⚠", w) for w in warnings])
        )
    sections.append(("Keys", list(KEYS_HELP)))
    losses = [
        (name, re.sub(r", [^,]*=[{][^}]*[}]", "", spec.formula)) for name, spec in LOSSES.items()
    ]
    losses += [
        ("custom", "your function f(ŷ, y) from loss.callable"),
        ("combined", "Σ weight·term over loss.terms"),
        ("penalties", "+ l2·Σw² + l1·Σ|w|"),
    ]
    sections.append(("Losses (r = y - ŷ, means over samples, bias never penalised)", losses))
    return sections


HELP_FOOT = "Settings edited during a run apply to the next start. Esc or ? closes this help."


def help_text(warnings: Sequence[str] = ()) -> str:
    """The help as plain text (what the help screen shows, unwrapped)."""
    lines: list[str] = []
    for title, rows in help_sections(warnings):
        lines += [title, ""] + [f"  {left:<16} {right}" for left, right in rows] + [""]
    return "\n".join(lines + [HELP_FOOT])


def help_renderable(warnings: Sequence[str] = ()) -> Group:
    """The help laid out in two columns, so a wrapped description keeps its indent under
    itself instead of starting at the screen's edge."""
    parts: list[Any] = []
    for title, rows in help_sections(warnings):
        grid = Table.grid(padding=(0, 1), pad_edge=True)
        grid.add_column(no_wrap=True, min_width=16)
        grid.add_column(ratio=1)
        for left, right in rows:
            grid.add_row(Text(left), Text(right))  # warnings quote user data: not markup
        parts += [Text(title, style="bold"), Padding(grid, (0, 0, 1, 1))]
    parts.append(Text(HELP_FOOT, style="dim"))
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    """The last run's warnings, the keys and the loss formulas (plain text, never markup)."""

    AUTO_FOCUS = "#help"

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close"),
        Binding("q", "close", "Close"),
    ]

    def __init__(self, warnings: Sequence[str] = ()) -> None:
        super().__init__()
        self._warnings = list(warnings)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(help_renderable(self._warnings))

    def action_close(self) -> None:
        self.dismiss(None)


class QuitScreen(ModalScreen[str | None]):
    """Quit during a run: stop it, or leave it training in the background, or stay."""

    BINDINGS = [
        Binding("x", "choose('stop')", "Stop run and quit"),
        Binding("b", "choose('leave')", "Leave it running"),
        Binding("escape", "choose('')", "Cancel"),
    ]
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
