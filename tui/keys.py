"""Esc then a letter, typed quickly, arrives as one ``ESC l`` and Textual reads it as ``alt+l``.

A terminal sends Alt+letter as ESC followed by the letter, so the parser cannot tell the two
apart: when both bytes come in one read (a busy screen during a run, tmux, an SSH link that
batches), the user's "leave the field, then toggle log-y" becomes one ``alt+l`` key whose
character is ``l`` — and an Input types it. The dashboard binds no Alt keys, so it reads every
such key back as what the user typed: Esc, then the key.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.app import App

ALT = "alt+"


def key_after_escape(event: events.Key) -> events.Key | None:
    """The plain key of an ``alt+<printable>`` key (the key typed after Esc), else None."""
    char = event.character
    if not event.key.startswith(ALT) or char is None or len(char) != 1 or not char.isprintable():
        return None
    name = char if char.isalnum() else event.key.removeprefix(ALT)
    return events.Key(name, char)


async def escape_then(app: App[Any], after: events.Key) -> None:
    """Handle an Esc to the end, as a key pressed alone would be (its binding — leave the
    field, cancel a dialog — or the focused widget), then queue ``after``: it comes after the
    focus change that Esc asked for, so it never lands in the field just left."""
    # (Textual's own key path, split in two: priority bindings, then focused-up bindings.)
    if not (
        await app._check_bindings("escape", priority=True) or await app._check_bindings("escape")
    ):
        (app.focused or app.screen)._forward_event(events.Key("escape", "\x1b"))
    app.post_message(after)
