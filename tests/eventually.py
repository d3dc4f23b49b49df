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


class NeverHappened(AssertionError):
    """The awaited condition did not hold within the timeout (an ``AssertionError``, so pytest
    reports it as a failed test, not an error in the test's machinery)."""


def _failure(message: str, timeout: float, last: object) -> NeverHappened:
    return NeverHappened(
        f"timed out after {timeout:g} s waiting for {message} "
        f"(the condition last returned {last!r:.200})"
    )


def eventually(
    condition: Callable[[], T | None],
    timeout: float = TIMEOUT_S,
    interval: float = INTERVAL_S,
    message: str = "the condition",
) -> T:
    """Call ``condition()`` every ``interval`` seconds until it returns something truthy, and
    return that; raise :class:`NeverHappened` naming ``message`` after ``timeout`` seconds.

    The condition is always tried once more at the deadline, so a slow last poll is not lost.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _failure(message, timeout, value)
        time.sleep(max(0.0, min(interval, deadline - time.monotonic())))


async def eventually_async(
    condition: Callable[[], T | Awaitable[T | None] | None],
    timeout: float = TIMEOUT_S,
    interval: float = INTERVAL_S,
    message: str = "the condition",
) -> T:
    """:func:`eventually` for async tests: yields to the event loop between polls, so the
    tasks that make the condition true (an app's workers, a trainer's events) keep running.
    ``condition`` may be a plain function or a coroutine function."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if loop.time() >= deadline:
            raise _failure(message, timeout, value)
        await asyncio.sleep(max(0.0, min(interval, deadline - loop.time())))
