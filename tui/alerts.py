"""A bell and a desktop notification when a run ends, early-stops or diverges.

A long run is watched from another window; its end should reach the person. The terminal is
told in the bytes it understands: BEL (``\\a``: a beep, a flashing tab, tmux's ``bell-action``
marking the window) and the desktop-notification escapes:

- OSC 9 ``ESC ] 9 ; text BEL`` (iTerm2, kitty, WezTerm, Ghostty, Windows Terminal);
- OSC 777 ``ESC ] 777 ; notify ; title ; body BEL`` (foot, urxvt, VTE terminals such as
  GNOME Terminal where built with it, WezTerm, Ghostty).

A terminal ignores an OSC it does not know. Inside tmux an OSC reaches the outer terminal only
wrapped in tmux's passthrough (``ESC P tmux; … ESC \\``, every ESC inside doubled) and with
``set -g allow-passthrough on`` (tmux 3.3+); the BEL is sent bare, tmux handles it itself.

Textual owns the terminal's output: the bytes go through its driver (as ``App.bell`` does),
between frames; under a headless driver (tests, ``run_test``) nothing is written.

:data:`ALERT_ENV` picks what is sent: ``off`` (nothing), or a comma list of ``bell``,
``osc9``, ``osc777``; the default is ``bell,osc9`` (a terminal that knows both OSCs would
show two notifications).
"""

from __future__ import annotations

import os
from typing import Any

from engine.core.events import RunFinished

ALERT_ENV = "LINREG_TUI_ALERT"
KINDS = ("bell", "osc9", "osc777")
DEFAULT = ("bell", "osc9")
MAX_TEXT = 200
"""Longer notification text is cut: a desktop notification is a line or two."""


def alert_kinds(value: str | None = None) -> tuple[str, ...]:
    """What :data:`ALERT_ENV` (or ``value``) asks for; unknown words are ignored, and an
    empty or unset value means :data:`DEFAULT`."""
    raw = os.environ.get(ALERT_ENV) if value is None else value
    if raw is None or not raw.strip():
        return DEFAULT
    words = [w.strip().lower() for w in raw.split(",")]
    if any(w in ("off", "none", "0", "false", "no") for w in words):
        return ()
    return tuple(k for k in KINDS if k in words)


def _clean(text: str, *, separator: bool = False) -> str:
    """One line of printable text: control characters (an ESC or BEL would end the escape
    early) become spaces; in an OSC 777 field a ``;`` (its separator) becomes ``,``."""
    out = "".join(c if c.isprintable() else " " for c in text)
    if separator:
        out = out.replace(";", ",")
    return " ".join(out.split())[:MAX_TEXT]


def passthrough(seq: str) -> str:
    """``seq`` wrapped for tmux's passthrough to the outer terminal."""
    return "\x1bPtmux;" + seq.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def alert_bytes(
    title: str, body: str, kinds: tuple[str, ...] = DEFAULT, *, tmux: bool = False
) -> str:
    """The escape sequences for a notification ``title: body`` (tmux-wrapped when ``tmux``)."""
    out = "\a" if "bell" in kinds else ""
    oscs = []
    if "osc9" in kinds:
        oscs.append(f"\x1b]9;{_clean(title)}: {_clean(body)}\x07")
    if "osc777" in kinds:
        t, b = _clean(title, separator=True), _clean(body, separator=True)
        oscs.append(f"\x1b]777;notify;{t};{b}\x07")
    for seq in oscs:
        out += passthrough(seq) if tmux else seq
    return out


def in_tmux() -> bool:
    """Whether the dashboard's terminal is a tmux pane (tmux sets ``TMUX`` in its panes)."""
    return bool(os.environ.get("TMUX"))


def ring(app: Any, title: str, body: str) -> str:
    """Send the alert to ``app``'s terminal through its Textual driver; returns what was sent
    ('' when alerts are off or the app has no real terminal)."""
    kinds = alert_kinds()
    driver = getattr(app, "_driver", None)  # what App.bell writes through (no public API)
    if not kinds or driver is None or getattr(app, "is_headless", True):
        return ""
    data = alert_bytes(title, body, kinds, tmux=in_tmux())
    driver.write(data)  # the writer thread flushes it with the next frame
    return data


def announce_end(app: Any, fin: RunFinished, name: str) -> None:
    """A run followed live has ended: a toast saying how (red when it diverged), and the bell
    and desktop notification (:func:`ring`)."""
    severity = "error" if fin.reason == "diverged" else "information"
    app.notify(fin.message, title=f"{name}: {fin.reason}", severity=severity, markup=False)
    ring(app, f"linreg-tui {name}", f"{fin.reason.replace('_', '-')}: {fin.message}")
