"""A run directory as a source of events: replay what is logged, then follow it live.

The process-backed twin of :func:`engine.train`: the same event objects (a round trip through
the JSON lines of ``events.jsonl``), so a consumer does not care whether a run trains in a
thread of its own process, in a trainer process, or finished yesterday. One follower, three ways
to drive it: ``async for`` (a dashboard: never blocks the event loop, sleeps ``poll_s`` between
polls when nothing is new), ``for`` (a script or a test: blocks between polls), or
:meth:`RunFollower.poll` (whoever runs its own timer: one read, never waits). Each poll reads only
the bytes appended since the last one (:meth:`engine.runs.log.RunLog.read` with offsets).

The stream ends after ``RunFinished``, or when the run's process is gone without one (then
:attr:`RunFollower.crashed` holds the reason). A run directory deleted under a follower raises
:class:`engine.core.errors.RunError` ("run directory is gone"), one line, never a traceback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from engine.core.errors import RunError
from engine.core.events import Event, RunFinished
from engine.runs.log import RunLog
from engine.runs.status import RunStatus

POLL_S = 0.05
BATCH = 2000
"""Events handed over between two yields to the event loop (a long replay stays responsive)."""


class RunFollower:
    """Every event of ``run_dir``, live until the run ends: iterate it once, with ``async for``
    or ``for``, or call :meth:`poll` on a timer of your own."""

    def __init__(self, run_dir: Path, *, poll_s: float = POLL_S) -> None:
        self.run_dir = run_dir
        self.poll_s = poll_s
        self.log = RunLog(run_dir)
        self.offset = 0
        self.finished: RunFinished | None = None
        self.crashed: str | None = None
        """Why the run ended without a ``RunFinished`` (its process died), else None."""
        self.run_status: RunStatus | None = None
        """The run's status as last read (None until its trainer has written one)."""
        self.ended = False
        """The stream is over: a ``RunFinished`` was read, or the run's process is gone."""
        self.closed = False

    @property
    def status(self) -> dict[str, Any]:
        """The last status read, as its ``status.json`` mapping ({} before there is one)."""
        return self.run_status.to_dict() if self.run_status is not None else {}

    def close(self) -> None:
        """Stop following at the next poll."""
        self.closed = True

    def skip_to(self, offset: int, events: list[Event]) -> None:
        """Go on from byte ``offset``: ``events`` (the log up to there) were read another way
        (the run's curve summary, :func:`engine.runs.curve_read.load_curve`)."""
        self.offset = offset
        for event in events:
            if isinstance(event, RunFinished):
                self.finished = event

    def _status_ended(self) -> bool:
        try:
            self.run_status = RunStatus.read(self.run_dir)
        except RunError:
            if not self.run_dir.exists():
                raise RunError(f"{self.run_dir}: run directory is gone") from None
            return False  # not written yet: a trainer that is still starting
        return self.run_status.run_state != "running"

    def _read(self) -> list[Event]:
        events, self.offset = self.log.read(self.offset)
        for event in events:
            if isinstance(event, RunFinished):
                self.finished = event
        return events

    def poll(self) -> list[Event]:
        """The events logged since the last poll (never waits); sets :attr:`ended` once the run
        is over, with :attr:`finished` or :attr:`crashed` saying how."""
        if self.ended or self.closed:
            return []
        events = self._read()
        if self.finished is not None:
            self._status_ended()
            self.ended = True
        elif not events and self._status_ended():
            events = self._read()  # what it wrote between our read and its end
            if self.finished is None:
                self.crashed = (self.run_status or RunStatus()).crash_reason
            self.ended = True
        return events

    def __iter__(self) -> Iterator[Event]:
        while True:
            events = self.poll()
            yield from events
            if self.ended or self.closed:
                return
            if not events:
                time.sleep(self.poll_s)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        while True:
            events = self.poll()
            for i, event in enumerate(events):
                yield event
                if i % BATCH == BATCH - 1:
                    await asyncio.sleep(0)
            if self.ended or self.closed:
                return
            # A backlog (a replay) goes on at once; a live run is read poll_s apart, in
            # batches: reading after every epoch kept the dashboard's loop busy and its keys
            # waiting behind a fast run.
            await asyncio.sleep(0 if len(events) >= BATCH else self.poll_s)


def follow(run_dir: Path, *, poll_s: float = POLL_S) -> RunFollower:
    """Follow ``run_dir`` (see :class:`RunFollower`)."""
    return RunFollower(run_dir, poll_s=poll_s)
