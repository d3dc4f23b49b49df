"""A Ctrl-C while a command is still starting (imports, the first ~0.1 s) ends it with one line.

Until the command line's own handler (:func:`engine.cli.common.guarded`) runs, a Ctrl-C raises
``KeyboardInterrupt`` inside some import and Python prints a traceback through its deep stack.
:func:`quiet_interrupts` puts a ``sys.excepthook`` in front that prints ``stopped by Ctrl-C``
for that one exception, or for an error it caused (Python then ends the process by SIGINT, as
a shell expects) and hands every other exception to the hook that was there.

Importing this module runs only ``engine/__init__.py`` (its public API is imported on first
use) and ``engine/core/__init__.py``, so ``tui.cli`` (the ``linreg-tui`` script) and ``python -m
engine`` install the hook ~1 ms after Python hands them control, before the command line loads.
Importing :mod:`engine` alone never installs it: a user's script keeps its own handling.
"""

from __future__ import annotations

import contextlib
import os
import sys
from types import TracebackType


def quiet_interrupts() -> None:
    """Install the hook once (idempotent)."""
    previous = sys.excepthook
    if getattr(previous, "quiet_interrupts", False):
        return

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if not _caused_by_ctrl_c(exc):
            previous(kind, exc, tb)
            return
        if sys.stderr is not None:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write("stopped by Ctrl-C\n")
                sys.stderr.flush()
        if not isinstance(exc, KeyboardInterrupt):  # Python would exit 1: end as Ctrl-C does
            import signal

            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)

    hook.quiet_interrupts = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def _caused_by_ctrl_c(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a Ctrl-C, or an error it caused: one landing in a class body's
    ``__set_name__`` (a dataclass being built as the command line imports) comes out as
    ``RuntimeError: Error calling __set_name__`` with the ``KeyboardInterrupt`` as its cause."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
