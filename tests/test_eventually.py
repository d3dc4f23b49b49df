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


def test_a_message_function_is_asked_when_the_wait_fails_not_before():
    polls: list[int] = []

    def never() -> None:
        polls.append(1)

    with pytest.raises(NeverHappened) as info:
        eventually(never, timeout=0.1, interval=0.01, message=lambda: f"{len(polls)} polls")
    assert str(info.value).startswith(f"timed out after 0.1 s waiting for {len(polls)} polls ")
    assert len(polls) > 1


async def test_the_dashboards_wait_until_lets_the_app_run_and_names_its_top_bar_at_the_deadline(
    tmp_path,
):
    """``wait_until`` (tests/tui/conftest.py) is this module's async wait with the app's
    ``Pilot.pause`` between polls: a timer of the app fires while it waits, and a failure says
    what the top bar showed at the deadline, which is how a CI failure is diagnosed."""
    from tests.tui.conftest import text_of, wait_until
    from tui.app import make_app

    app = make_app("default", ["train.device=cpu"], runs_root=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.set_timer(0.05, lambda: app.say("late news", toast=False))
        await wait_until(pilot, lambda: "late news" in text_of(app, "#topbar"), timeout=10)
        app.set_timer(0.05, lambda: app.say("at the deadline", toast=False))
        with pytest.raises(NeverHappened) as info:
            await wait_until(pilot, lambda: False, timeout=1, what="nothing")
        top = text_of(app, "#topbar")
        assert "at the deadline" in top
        assert str(info.value) == (
            f"timed out after 1 s waiting for nothing (its top bar: {top!r}) "
            "(the condition last returned False)"
        )
