"""Where ``predict --out`` may write, and writing there so that a failure leaves nothing behind.

Only a regular file is replaced: a device node, FIFO, socket, directory or symlink is refused
(a symlink may point anywhere; replacing ``/dev/null`` with a file of predictions is not what
anyone meant), and so is the input file itself (same inode: a hard link or a symlink to it too)
and any file in a run folder (``RUN/model.pt`` is the run's model).
The write streams into a temp file in the target's own folder (so the rename is atomic), is
fsynced and renamed over the target; any failure (a full disk, a read-only folder, Ctrl-C)
removes the temp file and names the target.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from engine.core.errors import ConfigError
from engine.data.file_check import file_kind


class WriteFailed(Exception):
    """Writing the output failed (nothing was left behind); ``str`` is the one line to print."""


def check_target(out: Path, source: Path) -> None:
    """Refuse ``--out`` when it is not a regular file (or absent), is the input file, or lies
    in a run folder (:func:`_check_not_in_run`)."""
    _check_not_in_run(out)
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(
            f"--out: cannot use {out}: {exc.strerror or exc}",
            key="--out",
            reason="cannot use",
            where=str(out),
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(
            f"--out: {out} is {file_kind(st.st_mode)}; refusing to replace it "
            f"(only a regular file is replaced)",
            key="--out",
            reason="not a regular file",
            where=str(out),
        )
    with contextlib.suppress(OSError):
        src = os.stat(source)
        if (src.st_dev, src.st_ino) == (st.st_dev, st.st_ino):
            raise ConfigError(
                f"--out: {out} is the input file; refusing to overwrite it",
                key="--out",
                reason="is the input file",
                where=str(out),
            )


def _check_not_in_run(out: Path) -> None:
    """Refuse an ``--out`` inside a run folder (one holding a ``status.json``, links resolved):
    ``RUN/model.pt`` would replace the run's model, and any other file there would be
    somebody's file in a run folder, which ``runs rm`` then refuses to delete."""
    folder = Path(os.path.realpath(out.parent if str(out.parent) else "."))
    if (folder / "status.json").exists():
        raise ConfigError(
            f"--out: {out} is inside the run folder {folder.name}; refusing to write there "
            "(a run folder holds only what its run writes: write the predictions elsewhere)",
            key="--out",
            reason="inside a run folder",
            where=str(out),
        )


def _mode_for(out: Path) -> int:
    """The permissions the result gets: the replaced file's, else 0666 less the umask."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(os.stat(out).st_mode)
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_output(out: Path) -> Iterator[BinaryIO]:
    """A binary file to write; on a clean exit it replaces ``out`` (fsync, rename, fsync of
    the folder); on any exception the temp file is removed. An ``OSError`` becomes
    :class:`WriteFailed` naming ``out``."""
    folder = out.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise WriteFailed(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, _mode_for(out))
            os.replace(tmp, out)
        except OSError as exc:
            raise WriteFailed(f"cannot write {out}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
