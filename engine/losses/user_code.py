"""Running a user's code (a custom loss) so that nothing it does can hang us or end us silently.

A user loss is arbitrary Python. Loading and checking it may loop forever, call ``sys.exit(0)``
(which would end ``train`` with exit 0 and no word: a false pass), raise ``KeyboardInterrupt``
or start threads. So:

- :func:`run_limited` runs a function in a daemon thread and waits for it at most ``timeout``
  seconds, polling a ``stop()`` flag (the first Ctrl-C of ``train``): on time-out it raises
  :class:`TimedOut` and abandons the thread (a daemon thread never keeps the process alive);
  on stop it raises :class:`Stopped`. The waiting thread stays responsive to signals.
- :func:`guarded` turns a ``SystemExit``, ``KeyboardInterrupt`` or any other non-``Exception``
  raised by user code into :class:`UserCodeExit`, an ordinary ``Exception`` that the loss check
  reports as the loss's fault. (A real Ctrl-C lands in the main thread, which is not running
  user code while :func:`run_limited` waits; in the main thread without a limit a
  ``KeyboardInterrupt`` is passed on, since it may be the user's.)
- Threads created by code running under :func:`run_limited` are daemon threads by default
  (Python copies the creator's flag), so a loss that starts a thread does not hold the process
  open; :func:`stray_threads` names any non-daemon one it started anyway.

No torch import.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

TIMEOUT_ENV = "LINREG_TUI_LOSS_TIMEOUT_S"
"""A number of seconds > 0 replacing the 10 s default (the tests' endless loops use 2 s)."""


def _default_timeout() -> float:
    try:
        seconds = float(os.environ.get(TIMEOUT_ENV, ""))
    except ValueError:
        return 10.0
    return seconds if seconds > 0 else 10.0


DEFAULT_TIMEOUT_S = _default_timeout()
"""How long loading and checking a user loss may take (``check-loss --timeout``; the training
pre-flight uses this default): 10 s, or ``$LINREG_TUI_LOSS_TIMEOUT_S``."""
POLL_S = 0.05
"""How often the waiting thread looks at the stop flag."""

_state = threading.local()


class TimedOut(Exception):
    """User code did not finish within its time limit (the thread running it is abandoned)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"did not finish within {seconds:g} s")
        self.seconds = seconds


class Stopped(Exception):
    """``stop()`` turned true (e.g. the first Ctrl-C) while user code was running."""


class UserCodeExit(Exception):
    """User code raised ``SystemExit``, ``KeyboardInterrupt`` or another ``BaseException``
    (kept as ``original``, with its traceback); the text says which (``called sys.exit(0)``)."""

    original: BaseException | None = None

    @classmethod
    def of(cls, exc: BaseException) -> UserCodeExit:
        err = cls(describe_exit(exc))
        err.original = exc
        return err


def describe_exit(exc: BaseException) -> str:
    """``called sys.exit(0)`` / ``raised KeyboardInterrupt`` / ``raised GeneratorExit: ...``."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"raised {type(exc).__name__}" + (f": {text}" if text else "")


def in_limited_thread() -> bool:
    """Whether this thread is running user code for :func:`run_limited`."""
    return getattr(_state, "limited", False)


def guarded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` with a non-``Exception`` it raises turned into UserCodeExit."""
    try:
        return fn(*args, **kwargs)
    except Exception:
        raise
    except KeyboardInterrupt:
        if not in_limited_thread() and threading.current_thread() is threading.main_thread():
            raise  # may be a real Ctrl-C
        raise UserCodeExit.of(KeyboardInterrupt()) from None
    except BaseException as exc:  # noqa: BLE001 - SystemExit, GeneratorExit, custom ones
        raise UserCodeExit.of(exc) from None


def run_limited(
    fn: Callable[[], T], timeout: float | None, stop: Callable[[], bool] | None = None
) -> T:
    """``fn()`` in a daemon thread, waited for at most ``timeout`` seconds (None: no limit).

    Raises :class:`TimedOut`, :class:`Stopped`, or what ``fn`` raised (a non-``Exception``
    becomes :class:`UserCodeExit`). Called from a thread already under a limit, ``fn`` runs
    directly (the outer limit holds).
    """
    if in_limited_thread() or (timeout is None and stop is None):
        return guarded(fn)
    values: list[T] = []  # what fn returned, or
    errors: list[BaseException] = []  # what it raised, handed from the worker thread

    def target() -> None:
        _state.limited = True
        try:
            values.append(guarded(fn))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            errors.append(exc)

    worker = threading.Thread(target=target, name="linreg-user-code", daemon=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    worker.start()
    while worker.is_alive():
        if stop is not None and stop():
            raise Stopped()
        left = POLL_S if deadline is None else deadline - time.monotonic()
        if left <= 0:
            raise TimedOut(timeout or 0.0)
        worker.join(min(POLL_S, left))
    if errors:
        raise errors[0]
    return values[0]


def stray_threads() -> list[str]:
    """Names of live non-daemon threads besides the main one (they would keep the process
    alive at exit)."""
    main = threading.main_thread()
    return [
        t.name for t in threading.enumerate() if t is not main and not t.daemon and t.is_alive()
    ]
