"""When the dashboard keeps a spare trainer, and how warm: the policy around
:class:`~engine.cli.trainer_process.WarmTrainer`.

A spare costs memory (:mod:`engine.cli.trainer_process` says how much) for the sake of a fast
``s``. So the dashboard keeps one while it is in use, not while it sits forgotten in a tmux
window: after :data:`IDLE_S` without a key or a click the spare is let go, and the next key or
click starts a fresh one (ready in ~3 s, long before the settings are edited and ``s`` is
pressed). The spare loads torch's optimizer machinery only while the settings need it
(:func:`~engine.cli.trainer_process.needs_torch_optim`). Textual-free.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from engine.cli.trainer_process import needs_torch_optim
from tui.session import RunSession

IDLE_S = 600.0
"""A spare held this long without input is let go."""
CHECK_S = 30.0
"""How often the dashboard asks :meth:`SpareKeeper.idle`."""


class SpareKeeper:
    """Brings the session's spare back on input, lets it go when idle, prepares it."""

    def __init__(self, session: RunSession, values: Callable[[], Mapping[str, Any]]) -> None:
        self.session = session
        self.values = values
        """The settings the next run would use (the form's), as dotted keys."""
        self.last_input = time.monotonic()

    def touched(self) -> None:
        """A key or a click: the dashboard is in use; a spare let go comes back."""
        self.last_input = time.monotonic()
        if self.session.warm is None and not self.session.busy:
            self.session.spare()
            self.prepare()

    def prepare(self) -> None:
        """Have the spare load what the settings' run will need (once per spare)."""
        warm = self.session.warm
        if warm is not None and not warm.prepared and needs_torch_optim(self.values()):
            warm.prepare()

    def idle(self, now: float | None = None) -> bool:
        """Let the spare go after IDLE_S without input; whether it was let go."""
        warm = self.session.warm
        now = time.monotonic() if now is None else now
        if warm is None or now - self.last_input < IDLE_S:
            return False
        warm.close()
        self.session.warm = None
        return True
