"""Messages sent up to the app by its widgets and its training worker (dataclasses with
one-line docstrings)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class SettingsEdited(Message):
    """A settings field changed (the next start uses it; a running run is not touched)."""

    key: str


@dataclass
class PresetChosen(Message):
    """The user picked a preset in the selector: load it into the form."""

    name: str


@dataclass
class RunFailed(Message):
    """A run raised instead of finishing: show ``text`` (at ``key``'s field when known)."""

    text: str
    key: str | None = None


@dataclass
class PresetSaved(Message):
    """Settings were written to a user preset file."""

    name: str
    path: str
