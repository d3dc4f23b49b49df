"""Clean ends on Ctrl-C, SIGTERM and SIGHUP, and pause / resume / stop from another process.

The first stop signal is a request: the run stops after the current batch, writes its checkpoint
and ``RunFinished`` (reason ``cancelled``, naming the signal), prints its summary where stdout
still exists, and the command exits 128 + the signal number (130, 143, 129). A second signal is
an order: :class:`Interrupted` unwinds at once; the run directory stays readable because every
file in it is written atomically or appended line by line.

A dashboard controls a trainer process it started (or attached to) with signals, since the
trainer lives in its own session and shares nothing else with it (same host only):
:data:`PAUSE` (SIGUSR1) holds the run before its next batch, :data:`RESUME` (SIGUSR2) lets it go
on, and :data:`STOP_BY_YOU` stops it exactly like the dashboard's own stop key ("stopped by you",
exit 0) — a real-time signal where the platform has one, so it can never be confused with a
terminal's or a system's signal. Paused time is not training time (unlike SIGSTOP/SIGCONT).
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PAUSE = signal.SIGUSR1
RESUME = signal.SIGUSR2
STOP_BY_YOU: int = getattr(signal, "SIGRTMIN", signal.SIGTERM)
"""The signal a dashboard sends for its stop key (SIGTERM where there are no real-time ones)."""


_arrived: int | None = None
"""The first stop signal seen by a command's start-up handler (:func:`note_arrival`)."""


def note_arrival(signum: int, frame: FrameType | None) -> bool:
    """Remember a stop signal; whether its handler may raise here (not inside an import).

    An exception raised inside an import can land in C code that clears it (``torch._C``
    imports numpy and drops any error: the signal is lost, numpy half-loaded) or cannot unwind
    (torch's C++ set-up aborts the process). So a command's start-up handler only notes the
    signal there, and the command acts on it at its next safe point (:func:`take_arrival`):
    :class:`StopOnSignals` stops a run it finds one for at once.
    """
    global _arrived
    if _arrived is None:
        _arrived = signum
    return not _in_import(frame)


def _in_import(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside an import (a frame of importlib's bootstrap below it)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def take_arrival() -> int | None:
    """The stop signal noted since the last call, if any (and forget it)."""
    global _arrived
    signum, _arrived = _arrived, None
    return signum


class Interrupted(KeyboardInterrupt):
    """A second signal: leave now. ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(
            signal.Signals(signum).name
            if signum in signal.Signals._value2member_map_
            else str(signum)
        )
        self.exit_code = 128 + signum


def signal_name(signum: int) -> str:
    """How a run's message names who stopped it: "Ctrl-C", "SIGTERM", "SIGHUP" or "you"."""
    if signum == signal.SIGINT:
        return "Ctrl-C"
    if signum == STOP_BY_YOU and STOP_BY_YOU != signal.SIGTERM:
        return "you"
    return signal.Signals(signum).name


class StopOnSignals:
    """While active: the first of SIGINT/SIGTERM/SIGHUP (or :data:`STOP_BY_YOU`) stops
    ``control`` cleanly; :data:`PAUSE` and :data:`RESUME` pause and resume it."""

    def __init__(self, control: Any) -> None:
        self.control = control
        self.signum: int | None = None

    @property
    def interrupted(self) -> bool:
        """Whether a terminal or system signal asked the run to stop (a dashboard's stop key is
        an ordinary stop: the command exits as if the run had been stopped in-process)."""
        return self.signum is not None and signal_name(self.signum) != "you"

    @property
    def exit_code(self) -> int:
        """128 + the first signal's number (only meaningful when :attr:`interrupted`)."""
        return 128 + (self.signum or 0)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise Interrupted(signum)
        self.signum = signum
        self.control.stop(by=signal_name(signum))

    def _pause(self, signum: int, frame: FrameType | None) -> None:
        if signum == PAUSE:
            self.control.pause()
        else:
            self.control.resume()

    def __enter__(self) -> StopOnSignals:
        stops = HANDLED + ((STOP_BY_YOU,) if STOP_BY_YOU not in HANDLED else ())
        self._previous = {s: signal.signal(s, self._handler) for s in stops}
        self._previous.update({s: signal.signal(s, self._pause) for s in (PAUSE, RESUME)})
        early = take_arrival()  # a signal whose exception an import swallowed: stop now
        if early is not None:
            self._handler(early, None)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
