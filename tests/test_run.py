"""The async run handle: events, stop, pause, and no thread outliving its run."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import engine
from engine.core.events import EpochEnded, RunFinished, RunStarted
from tests.conftest import make_config
from tests.eventually import eventually_async

LONG = make_config(
    data={"n_samples": 2000, "n_features": 8},
    optim={"lr": 0.01, "batch_size": 16},
    train={"epochs": 10_000},
    early_stopping={"enabled": False},
)


def training_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "linreg-train"]


def epochs_in(events: list) -> int:
    """How many epochs a consumer has seen."""
    return sum(isinstance(e, EpochEnded) for e in events)


async def test_event_order_and_finish():
    cfg = make_config(
        data={"n_samples": 200}, train={"epochs": 4}, early_stopping={"enabled": False}
    )
    run = engine.train(cfg)
    events = [ev async for ev in run]
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert [e.epoch for e in events[1:-1]] == [1, 2, 3, 4]
    assert run.finished is events[-1] and run.finished.reason == "completed"
    assert not run.thread.is_alive()


LONG_EPOCHS = make_config(
    data={"n_samples": 400_000, "n_features": 8},
    optim={"lr": 0.01, "batch_size": 16},
    train={"epochs": 10_000},
    early_stopping={"enabled": False},
)
"""20,000 batches an epoch: hundreds of milliseconds, where the consumer reads an event in
well under one (an epoch of ``LONG`` takes a few milliseconds: a loaded machine's consumer is
epochs behind its worker)."""


async def test_stop_from_the_consumer_ends_within_a_batch():
    """A stop asked for as the run starts ends it inside its first epoch, after the batch in
    progress, not at the epoch's end: no epoch is reported."""
    run = engine.train(LONG_EPOCHS)
    seen = []
    async for ev in run:
        seen.append(ev)
        if isinstance(ev, RunStarted):
            run.stop()
    assert [type(e) for e in seen] == [RunStarted, RunFinished]
    assert seen[-1].reason == "cancelled" and seen[-1].epochs_run == 0
    assert not run.thread.is_alive()


@pytest.mark.timing
async def test_pause_holds_the_worker_and_resume_continues():
    run = engine.train(LONG)
    seen: list = []

    async def consume():
        async for ev in run:
            seen.append(ev)

    wall_start = time.perf_counter()
    task = asyncio.create_task(consume())
    await eventually_async(lambda: epochs_in(seen), message="the first epoch")
    run.pause()
    assert run.paused
    # Sleeps that are what the test proves: events already on their way may still land (the
    # run has no "now held" signal to wait for), then a stretch of time in which a running
    # worker would train on and a paused one does not.
    await asyncio.sleep(0.3)
    held = len(seen)
    await asyncio.sleep(0.7)
    assert len(seen) == held  # nothing while paused
    assert run.thread.is_alive()
    run.resume()
    await eventually_async(lambda: len(seen) >= held + 2, message="two events after resuming")
    run.stop()
    await task
    wall = time.perf_counter() - wall_start
    assert seen[-1].reason == "cancelled"
    # the paused time (about 0.7 s or more) does not count as training time
    assert seen[-1].elapsed_s < wall - 0.6


async def test_abandoned_async_for_leaves_no_thread():
    run = engine.train(LONG)
    async for ev in run:
        if isinstance(ev, EpochEnded):
            break
    # the abandoned generator is closed on the event loop, which the wait lets run
    await eventually_async(
        lambda: not run.thread.is_alive(), timeout=10, message="the training thread to end"
    )
    assert training_threads() == []


async def test_cancelling_the_consumer_task_stops_the_worker():
    run = engine.train(LONG)
    seen: list = []

    async def consume():
        async for ev in run:
            seen.append(ev)

    task = asyncio.create_task(consume())
    await eventually_async(lambda: epochs_in(seen), message="the consumer to be mid-run")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not run.thread.is_alive()


@pytest.mark.timing
async def test_event_loop_stays_responsive_during_full_speed_training():
    cfg = make_config(
        data={"n_samples": 500},
        optim={"lr": 0.01},
        train={"epochs": 3000},
        early_stopping={"enabled": False},
    )
    ticks = 0
    stop = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    t = asyncio.create_task(ticker())
    start = time.perf_counter()
    n = 0
    async for _ in engine.train(cfg):
        n += 1
    stop.set()
    await t
    wall = time.perf_counter() - start
    assert n == 3002
    # a 10 ms ticker gets most of its ticks while 3000 epochs stream through the loop
    assert ticks >= 0.5 * wall / 0.01


async def test_a_failing_run_raises_its_error_to_the_consumer(tmp_path):
    cfg = make_config(data={"source": "csv", "path": str(tmp_path / "nope.csv"), "target": "y"})
    with pytest.raises(engine.ConfigError, match="CSV file not found"):
        async for _ in engine.train(cfg):
            pass


def test_a_run_is_iterated_once():
    run = engine.train(LONG)
    run.__aiter__()
    with pytest.raises(RuntimeError, match="only once"):
        run.__aiter__()


@pytest.mark.timing
def test_stop_releases_a_paused_worker():
    from engine.core.control import Control

    control = Control()
    control.pause()
    waited: list[float] = []
    t = threading.Thread(target=lambda: waited.append(control.wait_if_paused()))
    t.start()
    time.sleep(0.2)  # what the test proves: a paused worker stays held while time passes
    assert t.is_alive()
    control.stop()
    t.join(2)
    assert not t.is_alive() and waited[0] >= 0.2
