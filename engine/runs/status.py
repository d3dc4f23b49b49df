"""``status.json``: whether a run is running, finished (and why) or crashed, and whose it is.

One small JSON object per run, rewritten whole and atomically at each change (started, finished,
crashed, a sweep's trial state), so a reader always sees a complete one. :class:`RunStatus` is
its typed view; the file keeps any key this version does not name (a sweep trial's ``study``,
``trial``, ``trial_state``), and a rewrite keeps the file's keys in their order, so files written
before and after this module are the same bytes. A file without ``state`` reads as crashed, one
without ``format`` as format 1; a file from a newer format is refused with one line.

"Running" is what the trainer wrote; whether it still runs is :attr:`RunStatus.run_state`: a
run marked running whose process is gone on this host crashed (``kill -9``, power loss).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from engine.core.errors import RunError
from engine.runs.files import atomic_write

FORMAT_VERSION = 1
"""Bumped when a run directory's layout changes; a reader refuses a newer one."""
STATUS_NAME = "status.json"


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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunStatus:
        """The status a ``status.json`` mapping holds (values as written, missing ones default)."""
        named = {f.name for f in fields(cls)} - {"extra", "written"}
        known = {k: v for k, v in data.items() if k in named}
        return cls(**known, extra={k: v for k, v in data.items() if k not in named},
                   written=tuple(data))

    def to_dict(self) -> dict[str, Any]:
        """The mapping the file holds: the keys it was read with, in their order (in memory:
        every named field that differs from its default, then ``extra``)."""
        keys = self.written or (
            *(f.name for f in fields(self)
              if f.name not in ("extra", "written") and getattr(self, f.name) != f.default),
            *self.extra)
        return {k: self.extra[k] if k in self.extra else getattr(self, k) for k in keys}

    @classmethod
    def read(cls, run: Path) -> RunStatus:
        """The status of ``run``; a :class:`RunError` naming the run when there is none, it is
        unreadable, or a newer linreg-tui wrote it."""
        return cls.from_dict(_read_mapping(run))

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
        """``running``, ``finished`` or ``crashed``: a run marked running whose process is gone
        on this host crashed. A run on another host is taken at its word."""
        if self.state == "running" and self.host == socket.gethostname() \
                and not pid_alive(self.pid):
            return "crashed"
        return self.state

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
    version = data.get("format", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RunError(f"{run}: written by a newer linreg-tui (run format {version}, this "
                       f"version reads {FORMAT_VERSION}); upgrade to read it")
    return data


def read_status(run: Path) -> dict[str, Any]:
    """``status.json`` as a mapping (:meth:`RunStatus.read`, for callers that index it)."""
    return RunStatus.read(run).to_dict()


def write_status(run: Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into ``status.json``; the new mapping (:meth:`RunStatus.update`)."""
    return RunStatus.update(run, **fields).to_dict()


def run_state(status: Mapping[str, Any] | RunStatus) -> str:
    """:attr:`RunStatus.run_state` of a status or of its mapping."""
    if not isinstance(status, RunStatus):
        status = RunStatus.from_dict(status)
    return status.run_state


def pid_alive(pid: Any) -> bool:
    """Whether a process with ``pid`` exists on this machine (a zombie counts as gone)."""
    if not isinstance(pid, int) or pid <= 0:
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
    return True
