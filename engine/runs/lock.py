"""Who writes a run directory: an ``flock`` on its ``writer.lock``, and a process's start time.

A run has one writer at a time (``train``, ``resume``, the dashboard's trainer). It holds an
exclusive ``flock`` on ``RUN/writer.lock`` from before it changes anything until it is done, so
a second ``resume`` of the same run is refused at once, and ``runs rm`` never deletes a run under
its writer. The kernel drops the lock when the process dies however it dies (``kill -9``
included), so the lock is also how a reader tells a live writer from a dead one: a run marked
running whose lock is free has crashed, even if its pid now belongs to another process.

Where there is no lock file (a run written before locks, or a dashboard's trainer still starting)
the pid is checked, with its start time: Linux counts a process's start in clock ticks since boot
(field 22 of ``/proc/PID/stat``), so a reused pid is told apart from the run's own process.
Elsewhere the start time is None and only the pid is checked. Torch-free.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from pathlib import Path

from engine.core.errors import RunError

LOCK_NAME = "writer.lock"
READERS_S = 10.0
"""How long taking the lock waits out readers: each probe holds a shared lock for microseconds,
but a reader descheduled on a loaded machine may hold it for a good part of a second. A writer
holding it is told apart at once (:func:`_writer_holds`)."""

_held: dict[str, tuple[int, int]] = {}
"""The run locks this process holds: real path -> (fd, how many holders)."""

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locks, the pid check alone
    fcntl = None  # type: ignore[assignment]


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
"""Never open a lock file through a symbolic link (it could create a file anywhere), and never
block opening one that is a FIFO."""


def _key(run: Path) -> str:
    """The lock file's path: the run folder resolved, the lock file itself never followed."""
    return os.path.join(os.path.realpath(run), LOCK_NAME)


def acquire(run: Path) -> None:
    """Take ``run``'s writer lock for this process (again, if it holds it: counted), or raise
    :class:`RunError` when another process holds it.

    A run folder that is a symbolic link, and a ``writer.lock`` that is a link or not a regular
    file, are refused in one line: nothing is created or changed outside the run."""
    if os.path.islink(run):
        raise RunError(f"{run}: a symbolic link, not a run directory; not following it")
    key = _key(run)
    if key in _held:
        fd, count = _held[key]
        _held[key] = (fd, count + 1)
        return
    try:
        fd = os.open(key, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | _NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RunError(
                f"{run}: its {LOCK_NAME} is a symbolic link; refusing to follow it (not a "
                "run's own file)"
            ) from None
        raise RunError(f"{run}: cannot lock the run ({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RunError(f"{run}: its {LOCK_NAME} is not a regular file; refusing to use it")
    if fcntl is not None:
        deadline = time.monotonic() + READERS_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                busy = exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
                if busy and not _writer_holds(fd) and time.monotonic() < deadline:
                    time.sleep(0.01)  # only readers' probes: they let go in a moment
                    continue
                os.close(fd)
                if busy:
                    raise RunError(
                        f"run {run.name} is still running (another process holds its "
                        f"{LOCK_NAME}): stop it first, or watch it"
                    ) from None
                raise RunError(f"{run}: cannot lock the run ({exc.strerror})") from None
    _held[key] = (fd, 1)


def _writer_holds(fd: int) -> bool:
    """Whether the lock ``fd`` could not take exclusively is held by a writer (exclusive: a
    shared lock is refused too) rather than by readers' probes (shared: it is granted, and
    given back at once)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def release(run: Path) -> None:
    """Give back one hold of ``run``'s lock; the last one unlocks it."""
    key = _key(run)
    if key not in _held:
        return
    fd, count = _held.pop(key)
    if count > 1:
        _held[key] = (fd, count - 1)
        return
    os.close(fd)  # closing the only descriptor drops the flock


@contextlib.contextmanager
def holding(run: Path):  # type: ignore[no-untyped-def]
    """``with holding(run):`` the writer lock, for the block."""
    acquire(run)
    try:
        yield
    finally:
        release(run)


def held_here(run: Path) -> bool:
    """Whether this process holds ``run``'s writer lock."""
    return _key(run) in _held


def held_elsewhere(run: Path) -> bool | None:
    """Whether another process holds ``run``'s writer lock: None when it cannot be told (no
    lock file, or it cannot be opened, or no ``flock`` here)."""
    if fcntl is None:
        return None  # type: ignore[unreachable, unused-ignore]
    if held_here(run):
        return False
    try:
        fd = os.open(run / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC | _NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # shared: never blocks another probe
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN) or None
    finally:
        os.close(fd)
    return False


def process_start(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (field 22 of ``/proc/PID/stat``);
    None where there is no ``/proc`` or no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[-1].split()[19])  # fields 3.. follow the ")"
    except (OSError, ValueError, IndexError):
        return None
