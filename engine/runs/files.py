"""Writing a run's files so a reader never sees half of one, and the one-line error text.

Every whole file of a run (``status.json``, ``config.yaml``, ``model.pt``, ``checkpoint.pt``, a
rewritten log) goes through :func:`atomic_write`: temp file, fsync, rename, so ``kill -9`` at any
moment leaves the previous good file. It lives here, below the status, the log, the checkpoint
and the model file, so each of them can write without importing another.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of :func:`atomic_write`'s temp files (``.NAME.PID.tmp``), which a
    writer killed mid-write leaves behind."""
    return name.startswith(".") and name.endswith(".tmp")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never a torn one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def first_line(exc: BaseException, limit: int = 100) -> str:
    """An exception's first line (its type name when it has no text), cut to ``limit``."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]


def now_text() -> str:
    """The local time as ``status.json`` records it (``2026-11-25T23:15:02+0100``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
