"""Wait for a condition instead of sleeping a fixed time.

A fixed ``sleep(8)`` is both too long on a fast machine and too short on a loaded one (CI runs
the suite on 2 busy cores). ``eventually`` polls the condition the sleep stood for and returns as
soon as it holds, or fails with a message saying what was awaited and for how long::

    from tests.eventually import eventually, eventually_async

    run_dir = eventually(lambda: first_run(runs), message="a run directory in runs/")
    await eventually_async(lambda: app.history.finished, message="the run to finish")

The condition's truthy value is returned, so a wait can hand back what it found. A condition
that raises fails the wait at once: an error is not a "not yet". Sleeps that are part of what a
test proves ("nothing happens for 0.5 s") stay sleeps, with a comment saying so.

This is the suite's one polling loop: the dashboard tests' ``wait_until`` (which lets a Pilot
app run between polls and names the app's top bar on failure) and ``wait_for`` in
``tests/tui/conftest.py`` are thin wrappers over it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

TIMEOUT_S = 30.0
"""Default patience: generous, because a loaded CI machine is slow; a passing wait is fast."""
INTERVAL_S = 0.02
"""Default pause between two looks at the condition."""

Message = str | Callable[[], str]
"""What was awaited, for the failure: a string, or a function asked only when the wait fails
(so it can say how things stood at the deadline, e.g. what an app's top bar showed)."""


class NeverHappened(AssertionError):
    """The awaited condition did not hold within the timeout (an ``AssertionError``, so pytest
    reports it as a failed test, not an error in the test's machinery)."""


class _Deadline:
    """The shared bookkeeping of both waits: when to give up, how long the next pause is, and
    the failure that names what was awaited."""

    def __init__(self, timeout: float, interval: float, clock: Callable[[], float]) -> None:
        self.timeout = timeout
        self.interval = interval
        self.clock = clock
        self.at = clock() + timeout

    def passed(self) -> bool:
        return self.clock() >= self.at

    def next_pause(self) -> float:
        """The interval, cut short so the last look at the condition falls on the deadline."""
        return max(0.0, min(self.interval, self.at - self.clock()))

    def failure(self, message: Message, last: object) -> NeverHappened:
        what = message() if callable(message) else message
        return NeverHappened(
            f"timed out after {self.timeout:g} s waiting for {what} "
            f"(the condition last returned {last!r:.200})"
        )


def eventually(
    condition: Callable[[], T | None],
    timeout: float = TIMEOUT_S,
    interval: float = INTERVAL_S,
    message: Message = "the condition",
) -> T:
    """Call ``condition()`` every ``interval`` seconds until it returns something truthy, and
    return that; raise :class:`NeverHappened` naming ``message`` after ``timeout`` seconds.

    The condition is always tried once more at the deadline, so a slow last poll is not lost.
    """
    deadline = _Deadline(timeout, interval, time.monotonic)
    while True:
        value = condition()
        if value:
            return value
        if deadline.passed():
            raise deadline.failure(message, value)
        time.sleep(deadline.next_pause())


async def eventually_async(
    condition: Callable[[], T | Awaitable[T | None] | None],
    timeout: float = TIMEOUT_S,
    interval: float = INTERVAL_S,
    message: Message = "the condition",
    pause: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """:func:`eventually` for async tests: yields to the event loop between polls, so the
    tasks that make the condition true (an app's workers, a trainer's events) keep running.
    ``condition`` may be a plain function or a coroutine function. ``pause(seconds)`` is how
    it waits between polls: ``asyncio.sleep``, or a Textual ``Pilot.pause`` so the app under
    test also processes its timers and screen updates."""
    deadline = _Deadline(timeout, interval, asyncio.get_running_loop().time)
    while True:
        value = condition()
        if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if deadline.passed():
            raise deadline.failure(message, value)
        await pause(deadline.next_pause())
