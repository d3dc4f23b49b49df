"""The waiting helper the suite uses instead of fixed sleeps: it returns what the condition found
as soon as it holds, and a wait that never ends fails saying what it waited for."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tests.eventually import NeverHappened, eventually, eventually_async


def test_returns_the_conditions_value_as_soon_as_it_is_truthy():
    calls: list[int] = []

    def third_time() -> str | None:
        calls.append(1)
        return "found" if len(calls) == 3 else None

    assert eventually(third_time, timeout=5, interval=0.001) == "found"
    assert len(calls) == 3  # no poll after it held


def test_waits_for_another_thread_and_is_not_paced_by_a_fixed_sleep():
    box: list[int] = []
    threading.Timer(0.05, box.append, (7,)).start()
    start = time.monotonic()
    assert eventually(lambda: box, timeout=10, interval=0.01) == [7]
    assert time.monotonic() - start < 5  # well inside the timeout


def test_a_condition_that_never_holds_fails_naming_what_was_awaited():
    start = time.monotonic()
    with pytest.raises(NeverHappened) as info:
        eventually(lambda: 0, timeout=0.2, interval=0.05, message="the run directory")
    assert time.monotonic() - start >= 0.2
    assert str(info.value) == (
        "timed out after 0.2 s waiting for the run directory (the condition last returned 0)"
    )
    assert isinstance(info.value, AssertionError)  # a failed test, not an error


def test_an_error_in_the_condition_is_not_a_not_yet():
    def broken() -> bool:
        raise KeyError("gone")

    start = time.monotonic()
    with pytest.raises(KeyError):
        eventually(broken, timeout=10)
    assert time.monotonic() - start < 5


async def test_the_async_twin_lets_the_loop_run_what_makes_it_true():
    done = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, done.set)
    assert await eventually_async(done.is_set, timeout=10) is True

    async def ready() -> str | None:
        return "ready" if done.is_set() else None

    assert await eventually_async(ready, timeout=1) == "ready"  # a coroutine function too


async def test_the_async_twin_fails_naming_what_was_awaited():
    with pytest.raises(NeverHappened, match=r"after 0.1 s waiting for the first epoch"):
        await eventually_async(lambda: None, timeout=0.1, message="the first epoch")
