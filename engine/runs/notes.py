"""A run's note and tags: ``RUN/notes.json``, a person's words about a run, kept beside it.

Why a file of its own: the run's writer (``train``, ``resume``, the dashboard's trainer) owns
``status.json`` and the log, and a note may be written while it trains; a separate file means
the two never rewrite each other's bytes. ``notes.json`` is ``{"note": "...", "tags": [...]}``,
rewritten whole through :func:`engine.runs.files.atomic_write` (temp, fsync, rename), so a
reader sees the old file or the new one. Two note writers (``runs note``, ``runs tag``, a
dashboard) change it read-modify-write under an exclusive ``flock`` on the run directory itself,
the lock convention of :mod:`engine.runs.lock` (the kernel drops it when the process dies, however
it dies) without a second lock file: no tag added by one writer is lost to another. A missing,
damaged or odd-typed file reads as no note and no tags, never as a failure of the listing.
Torch-free.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.errors import RunError
from engine.runs.files import atomic_write

NOTES_NAME = "notes.json"
MAX_NOTE = 500
"""A note's length limit (characters): a note, not a document."""
MAX_TAG = 40
LOCK_WAIT_S = 5.0
"""How long a note writer waits for another one (each holds the lock for one small write)."""

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: the atomic rename alone
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class RunNotes:
    """What a person wrote about a run."""

    note: str = ""
    tags: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        return {"note": self.note, "tags": list(self.tags)}


def read_notes(run: Path) -> RunNotes:
    """``run``'s note and tags (empty when there is no readable ``notes.json``)."""
    try:
        data = json.loads((run / NOTES_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return RunNotes()
    if not isinstance(data, dict):
        return RunNotes()
    note = data.get("note")
    tags = data.get("tags")
    return RunNotes(
        note if isinstance(note, str) else "",
        tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
    )


def clean_tag(tag: str) -> str:
    """A tag as stored: stripped, one word (no spaces or commas), at most :data:`MAX_TAG`."""
    text = tag.strip()
    if not text or any(c.isspace() or c in ",=<>" for c in text) or len(text) > MAX_TAG:
        raise RunError(
            f"tag '{text[:60]}': a tag is one word of 1 to {MAX_TAG} characters "
            "(no spaces, commas or = < >)"
        )
    return text


@contextlib.contextmanager
def _locked(run: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the run directory for one read-modify-write of its notes."""
    if not (run / "status.json").exists():
        raise RunError(f"{run}: not a run directory (no status.json)")
    if fcntl is None:  # pragma: no cover - not POSIX
        yield  # type: ignore[unreachable, unused-ignore]
        return
    try:
        fd = os.open(run, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise RunError(f"{run}: cannot open the run ({exc.strerror or exc})") from None
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise RunError(f"{run}: cannot lock its notes ({exc.strerror})") from None
                if time.monotonic() >= deadline:
                    raise RunError(
                        f"run {run.name}: another process is writing its notes; try again"
                    ) from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)  # drops the flock


def _write(run: Path, notes: RunNotes) -> None:
    data = json.dumps(notes.to_dict(), ensure_ascii=False, indent=1) + "\n"
    try:
        atomic_write(run / NOTES_NAME, data.encode("utf-8"))
    except OSError as exc:
        raise RunError(f"{run}: cannot write {NOTES_NAME} ({exc.strerror or exc})") from None


def set_note(run: Path, note: str) -> RunNotes:
    """Replace ``run``'s note (``""`` clears it); one line, at most :data:`MAX_NOTE` chars."""
    text = " ".join(note.split())
    if len(text) > MAX_NOTE:
        raise RunError(f"note: {len(text)} characters; a note is at most {MAX_NOTE}")
    with _locked(run):
        notes = RunNotes(text, read_notes(run).tags)
        _write(run, notes)
    return notes


def change_tags(run: Path, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> RunNotes:
    """Add and remove tags (an added tag already there and a removed one absent are no-ops)."""
    adding = [clean_tag(t) for t in add]
    removing = {t.strip() for t in remove}
    with _locked(run):
        old = read_notes(run)
        tags = [t for t in old.tags if t not in removing]
        tags += [t for t in dict.fromkeys(adding) if t not in tags]
        notes = RunNotes(old.note, tuple(tags))
        _write(run, notes)
    return notes


def set_tags(run: Path, tags: list[str]) -> RunNotes:
    """Replace ``run``'s tags with ``tags`` (the dashboard's tag field)."""
    clean = tuple(dict.fromkeys(clean_tag(t) for t in tags))
    with _locked(run):
        notes = RunNotes(read_notes(run).note, clean)
        _write(run, notes)
    return notes
