"""Modal screens: save the settings as a preset, quit during a run, and help (keys, formulas)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
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


ACTION_HELP: dict[str, str] = {
    "start": "start a run with the settings shown",
    "start_refused": "start (while a run goes or one is watched: says why it cannot)",
    "stop": "stop the run (it reports why it ended)",
    "pause": "pause the run",
    "resume": "resume the paused run",
    "attach": "attach to a run in progress (its curve so far, then live)",
    "log_y": "log-y on / off (zero and negative losses are drawn at a floor)",
    "smooth": "smoothing: off → EMA 0.9 → EMA 0.99 (debiased, drawn over the raw curve)",
    "window": "plot window: all epochs → last 100 → last 1,000 → last 10,000 (when longer)",
    "help": "this help: the keys of the screen shown, as they act now",
    "quit": "quit; during a run: stop it, or leave it running (linreg-tui watch RUN comes back)",
    "runs": "the runs screen: past runs to open, compare, or load settings from",
    "sweep": "the sweep screen: search the settings with Optuna",
    "save": "save the settings as a new preset in your preset folder",
    "reset": "reset the settings to the preset",
    "leave_field": "leave a field, so letter keys act again",
}
"""What each of the dashboard's own actions does, longer than its footer label; a key without
an entry (another screen's, or one added later) shows its binding's tooltip or label."""
FORM_KEYS: tuple[tuple[str, str], ...] = (
    ("tab / shift+tab", "move between fields; enter opens a list or moves on"),
)


@dataclass(frozen=True)
class KeyRow:
    """One key of a screen, as help lists it."""

    key: str
    does: str
    now: bool = True
    """Whether it acts now (the footer shows it); help lists the others as "(not now)"."""


def screen_keys(app: App[Any]) -> list[tuple[str, list[KeyRow]]]:
    """The keys of the screen shown, generated from its bindings and the app's: ``(title,
    rows)`` sections, this screen's own first. A key acts "now" when Textual's active
    bindings (after each ``check_action``) hold it; two bindings of one key (p: pause /
    resume) show as one row, the one that acts now."""
    screen = app.screen
    active = {(key, b.binding.action) for key, b in screen.active_bindings.items()}
    nodes: list[tuple[str, Any]] = []
    if screen is not app.screen_stack[0]:
        nodes.append((f"Keys of this screen ({type(screen).__name__})", screen))
    if not screen.is_modal:  # a modal screen (runs, sweep) takes only its own keys (and ?)
        nodes.append(("Keys" if not nodes else "Dashboard keys (from any screen)", app))
    sections: list[tuple[str, list[KeyRow]]] = []
    taken: set[str] = set()
    for title, node in nodes:
        rows: dict[str, KeyRow] = {}
        for binding in _bindings(node):
            if binding.key in taken:
                continue  # the screen's own binding of this key wins
            now = (binding.key, binding.action) in active
            if binding.key in rows and (rows[binding.key].now or not now):
                continue
            does = ACTION_HELP.get(binding.action) if node is app else None
            does = does or binding.tooltip or binding.description or binding.action
            rows[binding.key] = KeyRow(key_name(binding), does, now)
        taken |= set(rows)
        extra = [KeyRow(k, d) for k, d in FORM_KEYS] if node is app else []
        sections.append((title, list(rows.values()) + extra))
    return sections


KEY_NAMES = {"escape": "esc", "question_mark": "?", "space": "space", "enter": "enter"}


def key_name(binding: Binding) -> str:
    """A key as help writes it: ``ctrl+s`` in full (the footer's ``^s`` is for its room)."""
    return binding.key_display or KEY_NAMES.get(binding.key, binding.key)


def _bindings(node: Any) -> list[Binding]:
    """A node's own bindings, in the order its class declares them (Textual's built-in ones,
    such as ctrl+q, are not the dashboard's to document)."""
    return [b for b in type(node).BINDINGS if isinstance(b, Binding)]


def help_sections(
    warnings: Sequence[str] = (), keys: Sequence[tuple[str, Sequence[KeyRow]]] = ()
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The help as ``(title, [(left, right), ...])`` sections: the run's warnings (if any), the
    keys (:func:`screen_keys`) and every loss formula (as the README has them)."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    if warnings:
        sections.append(
            (f"Warnings of the last run ({len(warnings)})", [("⚠", w) for w in warnings])
        )
    for title, rows in keys:
        sections.append(
            (title, [(r.key, r.does if r.now else f"{r.does} (not now)") for r in rows])
        )
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


def help_text(
    warnings: Sequence[str] = (), keys: Sequence[tuple[str, Sequence[KeyRow]]] = ()
) -> str:
    """The help as plain text (what the help screen shows, unwrapped)."""
    lines: list[str] = []
    for title, rows in help_sections(warnings, keys):
        lines += [title, ""] + [f"  {left:<16} {right}" for left, right in rows] + [""]
    return "\n".join(lines + [HELP_FOOT])


def help_renderable(
    warnings: Sequence[str] = (), keys: Sequence[tuple[str, Sequence[KeyRow]]] = ()
) -> Group:
    """The help laid out in two columns, so a wrapped description keeps its indent under
    itself instead of starting at the screen's edge."""
    parts: list[Any] = []
    for title, rows in help_sections(warnings, keys):
        grid = Table.grid(padding=(0, 1), pad_edge=True)
        grid.add_column(no_wrap=True, min_width=16)
        grid.add_column(ratio=1)
        for left, right in rows:
            grid.add_row(Text(left), Text(right))  # warnings quote user data: not markup
        parts += [Text(title, style="bold"), Padding(grid, (0, 0, 1, 1))]
    parts.append(Text(HELP_FOOT, style="dim"))
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    """The last run's warnings, the keys of the screen it was opened from (generated from its
    bindings: :func:`screen_keys`) and the loss formulas (plain text, never markup)."""

    AUTO_FOCUS = "#help"

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close"),
        Binding("q", "close", "Close"),
    ]

    def __init__(
        self, warnings: Sequence[str] = (), keys: Sequence[tuple[str, Sequence[KeyRow]]] = ()
    ) -> None:
        super().__init__()
        self._warnings = list(warnings)
        self.keys = list(keys)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(help_renderable(self._warnings, self.keys))

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


DIALOGS = (HelpScreen, QuitScreen, SavePresetScreen, DiscardEditsScreen)
"""Screens that ask one thing: ``?`` does not open help over them (help closes itself)."""
