"""Refuse what is not a regular file before anything opens it.

A FIFO blocks ``open`` until a writer comes (a hang), ``/dev/zero`` never ends (memory grows
without bound), a directory fails deep inside pyarrow: each is refused here, at once, with one
line naming the path and what it is. ``stat`` (not ``open``) decides, so nothing blocks; a
symlink to a regular file is followed and read as that file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from engine.core.errors import ConfigError

KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
"""What a non-regular file is, in words."""


def file_kind(mode: int) -> str:
    """``a FIFO``, ``a directory``, ... for a non-regular ``st_mode`` (``a symlink`` from lstat)."""
    if stat.S_ISLNK(mode):
        return "a symlink"
    return next((name for test, name in KINDS if test(mode)), "not a regular file")


def require_regular(path: Path, key: str | None) -> None:
    """Raise a one-line :class:`ConfigError` unless ``path`` is (a link to) a regular file.

    A path that cannot be stat-ed (missing, no permission) passes: the reader that opens it
    names that problem in its own words.
    """
    try:
        st = os.stat(path)
    except OSError:
        return
    prefix = f"{key}: " if key else ""
    if not stat.S_ISREG(st.st_mode):
        kind = file_kind(st.st_mode)
        raise ConfigError(
            f"{prefix}{path} is {kind}, not a regular file",
            key=key,
            reason="not a regular file",
            where=str(path),
        )
