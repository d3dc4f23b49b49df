"""``status.json``: whether a run is running, finished (and why) or crashed, and whose it is.

One small JSON object per run, rewritten whole and atomically at each change (started, finished,
crashed, a sweep's trial state), so a reader always sees a complete one. :class:`RunStatus` is
its typed view; the file keeps any key this version does not name (a sweep trial's ``study``,
``trial``, ``trial_state``), and a rewrite keeps the file's keys in their order, so files written
before and after this module are the same bytes. A file without ``state`` reads as crashed, one
without ``format`` as format 1; a file from a newer format is refused with one line.

"Running" is what the trainer wrote; whether it still runs is :attr:`RunStatus.run_state`: a
run marked running whose writer lock is free (:mod:`engine.runs.lock`), or, without a lock file,
whose pid is gone or was reused by a process started later, crashed on this host (``kill -9``,
power loss). A value of the wrong type (``"state": ["x"]``, ``"pid": "12"``) makes the file
unreadable, one line naming the key, never a crash of whoever reads it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from engine.core.errors import RunError
from engine.runs.files import atomic_write

FORMAT_VERSION = 1
"""Bumped when a run directory's layout changes; a reader refuses a newer one."""
STATUS_NAME = "status.json"
STATES = ("running", "finished", "crashed")
_TEXT = (str,)
_KINDS: dict[str, tuple[type, ...]] = {
    "reason": _TEXT,
    "message": _TEXT,
    "pid": (int,),
    "pid_start": (int,),
    "host": _TEXT,
    "preset": _TEXT,
    "loss": _TEXT,
    "started_at": _TEXT,
    "ended_at": _TEXT,
    "epochs_run": (int,),
    "paused": (bool,),
    "error": _TEXT,
    "error_key": _TEXT,
    "error_text": _TEXT,
}
"""The type each named key must have when present and not null (else the file is unreadable)."""


@dataclass(frozen=True)
class RunStatus:
    """A run's ``status.json``, as written (no liveness check: see :attr:`run_state`)."""

    state: str = "crashed"
    """``running``, ``finished`` or ``crashed``, as the run's process last wrote it."""
    reason: str | None = None
    """How a finished run ended: ``completed``, ``early_stopped``, ``diverged``, ``cancelled``."""
    message: str | None = None
    """The run's closing sentence (``early stopped at epoch 284: ...``)."""
    pid: int | None = None
    pid_start: int | None = None
    """When the writer process started (Linux clock ticks since boot): a reused pid differs."""
    host: str | None = None
    preset: str | None = None
    loss: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    epochs_run: int | None = None
    paused: bool = False
    error: str | None = None
    """Why a crashed run crashed (one line)."""
    error_key: str | None = None
    """The config key a failed start names, for a dashboard to show at its field."""
    error_text: str | None = None
    format: int = FORMAT_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Keys this version does not name (a sweep trial's ``study``, ``trial``, ...), kept."""
    written: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """The keys the file holds, in its order (empty for a status built in memory)."""
    where: Path | None = field(default=None, repr=False, compare=False)
    """The run directory it was read from (its writer lock decides :attr:`run_state`)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunStatus:
        """The status a ``status.json`` mapping holds (values as written, missing ones default)."""
        named = {f.name for f in fields(cls)} - {"extra", "written", "where"}
        known = {k: v for k, v in data.items() if k in named}
        return cls(
            **known, extra={k: v for k, v in data.items() if k not in named}, written=tuple(data)
        )

    def to_dict(self) -> dict[str, Any]:
        """The mapping the file holds: the keys it was read with, in their order (in memory:
        every named field that differs from its default, then ``extra``)."""
        keys = self.written or (
            *(
                f.name
                for f in fields(self)
                if f.name not in ("extra", "written", "where")
                and getattr(self, f.name) != f.default
            ),
            *self.extra,
        )
        return {k: self.extra[k] if k in self.extra else getattr(self, k) for k in keys}

    @classmethod
    def read(cls, run: Path) -> RunStatus:
        """The status of ``run``; a :class:`RunError` naming the run when there is none, it is
        unreadable, or a newer linreg-tui wrote it."""
        return replace(cls.from_dict(_read_mapping(run)), where=run)

    @classmethod
    def update(cls, run: Path, **changes: Any) -> RunStatus:
        """Merge ``changes`` into ``run``'s status (created when missing), atomically; the new
        status. Keys already there keep their place, new ones go last."""
        path = run / STATUS_NAME
        data = _read_mapping(run) if path.exists() else {}
        data.update(changes)
        atomic_write(path, (json.dumps(data, indent=1) + "\n").encode())
        return cls.from_dict(data)

    @property
    def run_state(self) -> str:
        """``running``, ``finished`` or ``crashed``, as :meth:`state_at` the directory it was
        read from (none for a status built in memory: the pid alone decides)."""
        return self.state_at(self.where)

    def state_at(self, run: Path | None) -> str:
        """``running``, ``finished`` or ``crashed``: a run marked running on this host crashed
        when its writer lock (in ``run``, :mod:`engine.runs.lock`) is free, or, without a lock
        file, when its pid is gone or now belongs to a process started at another time. A run
        on another host is taken at its word."""
        if self.state != "running" or self.host != socket.gethostname():
            return str(self.state)
        if run is not None:
            from engine.runs import lock

            if lock.held_here(run):
                return "running" if self.pid == os.getpid() else "crashed"
            held = lock.held_elsewhere(run)
            if held is not None:
                return "running" if held else "crashed"
        return "running" if pid_alive(self.pid, self.pid_start) else "crashed"

    @property
    def crash_reason(self) -> str:
        """Why a run ended without finishing, in the words its status has."""
        return str(self.error_text or self.error or "its process died")


def _read_mapping(run: Path) -> dict[str, Any]:
    try:
        data = json.loads((run / STATUS_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{run}: not a run directory (no {STATUS_NAME})") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{run}: unreadable {STATUS_NAME} ({exc})") from None
    if not isinstance(data, dict):
        raise RunError(f"{run}: unreadable {STATUS_NAME} (not a mapping)")
    for key, kinds in _KINDS.items():
        value = data.get(key)
        if value is not None and (
            not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
        ):
            raise RunError(
                f"{run}: unreadable {STATUS_NAME} ({key} is "
                f"{type(value).__name__}, not {kinds[0].__name__})"
            )
    if data.get("state", "crashed") not in STATES:
        raise RunError(
            f"{run}: unreadable {STATUS_NAME} (state '{str(data['state'])[:40]}' is "
            f"not one of {', '.join(STATES)})"
        )
    version = data.get("format", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RunError(
            f"{run}: written by a newer linreg-tui (run format {version}, this "
            f"version reads {FORMAT_VERSION}); upgrade to read it"
        )
    return data


def read_status(run: Path) -> dict[str, Any]:
    """``status.json`` as a mapping (:meth:`RunStatus.read`, for callers that index it)."""
    return RunStatus.read(run).to_dict()


def write_status(run: Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into ``status.json``; the new mapping (:meth:`RunStatus.update`)."""
    return RunStatus.update(run, **fields).to_dict()


def run_state(status: Mapping[str, Any] | RunStatus, run: Path | None = None) -> str:
    """:meth:`RunStatus.state_at` of a status or of its mapping (``run``: its directory, whose
    writer lock then decides)."""
    if not isinstance(status, RunStatus):
        status = RunStatus.from_dict(status)
    return status.state_at(run)


def pid_alive(pid: Any, start: Any = None) -> bool:
    """Whether a process with ``pid`` exists on this machine (a zombie counts as gone); with
    ``start`` (its start time, :func:`engine.runs.lock.process_start`), whether it is that
    process and not a later one given the same pid."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
    if isinstance(start, int) and not isinstance(start, bool):
        from engine.runs.lock import process_start

        now = process_start(pid)
        if now is not None and now != start:
            return False
    return True
