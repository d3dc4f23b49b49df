"""A run directory as an async source of events: replay what is logged, then follow it live.

The process-backed twin of :func:`engine.train`: the same event objects (a round trip through
the JSON lines of ``events.jsonl``), so a consumer does not care whether a run trains in a
thread of its own process, in a trainer process, or finished yesterday. It never blocks an event
loop: each poll reads only the bytes appended since the last one (:func:`engine.runs.store.read_events`
with offsets) and sleeps ``poll_s`` between polls when nothing is new.

The stream ends after ``RunFinished``, or when the run's process is gone without one (then
:attr:`RunFollower.crashed` holds the reason). A run directory deleted under a follower raises
:class:`engine.runs.store.RunError` ("run directory is gone"), one line, never a traceback to show.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from engine.core.events import Event, RunFinished
from engine.runs.store import RunError, read_events, read_status, run_state

POLL_S = 0.05
BATCH = 2000
"""Events handed over between two yields to the event loop (a long replay stays responsive)."""


class RunFollower:
    """Iterate once with ``async for``: every event of ``run_dir``, live until the run ends."""

    def __init__(self, run_dir: Path, *, poll_s: float = POLL_S) -> None:
        self.run_dir = run_dir
        self.poll_s = poll_s
        self.offset = 0
        self.finished: RunFinished | None = None
        self.crashed: str | None = None
        """Why the run ended without a ``RunFinished`` (its process died), else None."""
        self.status: dict = {}
        self.closed = False

    def close(self) -> None:
        """Stop following at the next poll."""
        self.closed = True

    def _status_ended(self) -> bool:
        try:
            self.status = read_status(self.run_dir)
        except RunError:
            if not self.run_dir.exists():
                raise RunError(f"{self.run_dir}: run directory is gone") from None
            return False  # not written yet: a trainer that is still starting
        return run_state(self.status) != "running"

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        while not self.closed:
            events, self.offset = read_events(self.run_dir, offset=self.offset)
            for i, event in enumerate(events):
                if isinstance(event, RunFinished):
                    self.finished = event
                yield event
                if i % BATCH == BATCH - 1:
                    await asyncio.sleep(0)
            if self.finished is not None:
                self._status_ended()
                return
            if events:
                # A backlog (a replay) goes on at once; a live run is read poll_s apart, in
                # batches: reading after every epoch kept the dashboard's loop busy and its
                # keys waiting behind a fast run.
                await asyncio.sleep(0 if len(events) >= BATCH else self.poll_s)
                continue
            if self._status_ended():
                tail, self.offset = read_events(self.run_dir, offset=self.offset)
                for event in tail:
                    if isinstance(event, RunFinished):
                        self.finished = event
                    yield event
                if self.finished is None:
                    self.crashed = str(self.status.get("error_text") or
                                       self.status.get("error") or "its process died")
                return
            await asyncio.sleep(self.poll_s)


def follow(run_dir: Path, *, poll_s: float = POLL_S) -> RunFollower:
    """Follow ``run_dir`` (see :class:`RunFollower`)."""
    return RunFollower(run_dir, poll_s=poll_s)
