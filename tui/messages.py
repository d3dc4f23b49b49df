"""Messages sent up to the app by its widgets and screens (dataclasses with one-line
docstrings): how they talk to the dashboard without importing it; and :func:`plain`, which
keeps Python's reprs out of what the dashboard says."""

from __future__ import annotations

import re
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


_ERRNO = re.compile(r"\[Errno -?\d+\] ")
_PATH_REPR = re.compile(r"\b(?:Posix|Windows|Pure)?Path\('([^']*)'\)")
_QUOTED_PATH = re.compile(r"(: )'(/[^']*)'")
_OBJECT_REPR = re.compile(r"<([\w.]+) object at 0x[0-9a-f]+>")


def plain(text: str) -> str:
    """A message as a person reads it, without Python's reprs: ``[Errno 2] No such file or
    directory: '/x'`` reads ``No such file or directory: /x``, ``PosixPath('/x')`` reads
    ``/x``, ``<foo.Bar object at 0x7f…>`` reads ``Bar``. The engine's messages are already
    plain; this catches what an OSError or a library passes through them."""
    text = _ERRNO.sub("", text)
    text = _PATH_REPR.sub(r"\1", text)
    text = _QUOTED_PATH.sub(r"\1\2", text)
    return _OBJECT_REPR.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
