"""Stop / pause flags shared by a run's consumer and its worker thread (no torch import)."""

from __future__ import annotations

import threading
import time


class Control:
    """Thread-safe stop / pause flags shared by a run's consumer and its worker."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.stopped_by = "you"
        """Who asked to stop, for the run's message: "you" or a signal name ("SIGTERM")."""

    def stop(self, by: str | None = None) -> None:
        """Ask the run to end after the current batch (reason ``cancelled``); ``by`` names who."""
        if by is not None and not self._stop.is_set():
            self.stopped_by = by
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Hold the run before its next batch until :meth:`resume` or :meth:`stop`."""
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def busy(self) -> bool:
        """Cheap per-batch test: True when a pause or a stop needs handling."""
        return not self._running.is_set() or self._stop.is_set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_if_paused(self) -> float:
        """Block while paused (and not stopped); return the seconds spent waiting."""
        if self._running.is_set():
            return 0.0
        t0 = time.perf_counter()
        while not self._running.wait(0.1) and not self._stop.is_set():
            pass
        return time.perf_counter() - t0
