"""Messages sent up to the app by its widgets and screens (dataclasses with one-line
docstrings): how they talk to the dashboard without importing it."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class SettingsEdited(Message):
    """A settings field changed (the next start uses it; a running run is not touched)."""

    key: str


@dataclass
class PresetChosen(Message):
    """The user picked a preset in the selector (or a run's settings): load it into the form."""

    name: str


@dataclass
class Note(Message):
    """A line for the top bar: a message (red when ``error``), or a passing note that gives
    the row back to the message it covered after a few seconds."""

    text: str
    error: bool = False
    passing: bool = False
