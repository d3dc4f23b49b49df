"""``engine.train``: a run as an async iterator of events, with stop / pause / resume.

The torch work runs in a worker thread (imported there, so a dashboard paints before torch
loads); events cross to the event loop through a bounded queue, so a slow consumer slows the
worker instead of piling up memory. Leaving the ``async for`` early, closing the generator or
cancelling the consuming task stops the worker and waits for it: no thread outlives its run.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from engine.config import Config
from engine.core.control import Control
from engine.core.events import EpochEnded, Event, RunFinished, RunStarted

QUEUE_SIZE = 1024


class _Abandoned(Exception):
    """Raised in the worker when its consumer has gone away."""


@dataclass
class _Failure:
    exc: BaseException


class _Done:
    """The worker's last queue item: no more events."""


_DONE = _Done()
_Item = Event | _Failure | _Done
"""What the worker hands the consumer through the queue."""


class Run:
    """One training run. Iterate it once with ``async for``; control it from anywhere."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._control = Control()
        self._abandoned = threading.Event()
        self._thread: threading.Thread | None = None
        self._iterated = False
        self.finished: RunFinished | None = None

    # -- control ------------------------------------------------------------------------------
    def stop(self) -> None:
        """End the run after the current batch; it finishes with reason ``cancelled``."""
        self._control.stop()

    def pause(self) -> None:
        """Hold the worker before its next batch."""
        self._control.pause()

    def resume(self) -> None:
        """Continue a paused run."""
        self._control.resume()

    @property
    def paused(self) -> bool:
        return self._control.paused

    @property
    def thread(self) -> threading.Thread | None:
        """The worker thread (None before iteration starts)."""
        return self._thread

    # -- iteration ----------------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[Event]:
        if self._iterated:
            raise RuntimeError("a Run can be iterated only once")
        self._iterated = True
        return self._events()

    def _put(self, q: queue.Queue[_Item], item: _Item) -> None:
        while True:
            try:
                q.put(item, timeout=0.05)
                return
            except queue.Full:
                if self._abandoned.is_set():
                    raise _Abandoned from None

    async def _events(self) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        q: queue.Queue[_Item] = queue.Queue(maxsize=QUEUE_SIZE)
        wake = asyncio.Event()

        def notify() -> None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # loop closed: the consumer is gone
                self._abandoned.set()

        def emit(event: Event) -> None:
            if self._abandoned.is_set():
                raise _Abandoned
            self._put(q, event)
            notify()

        def work() -> None:
            from engine.data.dataset import Stopped
            from engine.training.trainer import run_training

            try:
                run_training(self.config, emit, self._control)
            except _Abandoned:
                return
            except Stopped:  # stopped while the data loaded: the run never started
                pass
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                try:
                    self._put(q, _Failure(exc))
                except _Abandoned:
                    return
            try:
                self._put(q, _DONE)
            except _Abandoned:
                return
            notify()

        self._thread = threading.Thread(target=work, name="linreg-train", daemon=True)
        self._thread.start()
        try:
            while True:
                wake.clear()
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    if not self._thread.is_alive() and q.empty():
                        return
                    await wake.wait()
                    continue
                if isinstance(item, _Done):
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                if isinstance(item, RunFinished):
                    self.finished = item
                yield item
                await asyncio.sleep(0)  # let the consumer's loop breathe at full training speed
        finally:
            self._control.stop()
            self._abandoned.set()
            await self._join()

    async def _join(self) -> None:
        thread = self._thread
        if thread is None:
            return
        try:
            while thread.is_alive():
                await asyncio.sleep(0.005)
        except asyncio.CancelledError:
            thread.join()
            raise


def train(config: Config) -> Run:
    """Start a run lazily: training begins when the returned :class:`Run` is iterated."""
    return Run(config)


@dataclass
class FitResult:
    """Every event of a synchronous run, in order, with the start, the per-epoch events (a
    list, like skorch's ``History`` of per-epoch records) and the finish picked out."""

    events: list[Event] = field(default_factory=list)

    @property
    def started(self) -> RunStarted:
        return next(e for e in self.events if isinstance(e, RunStarted))

    @property
    def epochs(self) -> list[EpochEnded]:
        return [e for e in self.events if isinstance(e, EpochEnded)]

    @property
    def finished(self) -> RunFinished:
        return next(e for e in reversed(self.events) if isinstance(e, RunFinished))


def fit(config: Config) -> FitResult:
    """Train synchronously in this thread (for scripts) and return every event."""
    from engine.training.trainer import run_training

    result = FitResult()
    run_training(config, result.events.append)
    return result
