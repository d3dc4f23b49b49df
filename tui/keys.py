"""Esc then a letter, typed quickly, arrives as one ``ESC l`` and Textual reads it as ``alt+l``.

A terminal sends Alt+letter as ESC followed by the letter, so the parser cannot tell the two
apart: when both bytes come in one read (a busy screen during a run, tmux, an SSH link that
batches), the user's "leave the field, then toggle log-y" becomes one ``alt+l`` key whose
character is ``l`` — and an Input types it. The dashboard binds no Alt keys, so it reads every
such key back as what the user typed: Esc, then the key.
"""

from __future__ import annotations

from textual import events

ALT = "alt+"


def key_after_escape(event: events.Key) -> events.Key | None:
    """The plain key of an ``alt+<printable>`` key (the key typed after Esc), else None."""
    char = event.character
    if not event.key.startswith(ALT) or char is None or len(char) != 1 or not char.isprintable():
        return None
    name = char if char.isalnum() else event.key.removeprefix(ALT)
    return events.Key(name, char)
