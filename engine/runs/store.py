"""Runs on disk: one directory per run that any process can read while another writes it.

A run directory (TensorBoard event files and W&B run folders are the anchors: the training
process appends, any number of readers replay and follow)::

    RUNS/20261125-231502-default-3f9a1c/
        config.yaml      the resolved config as a preset: ``linreg-tui train RUN/config.yaml``
                         reproduces the run
        events.jsonl     every event as one JSON line (the ``--json`` format), flushed per epoch;
                         a reader skips a torn last line (engine.runs.log)
        status.json      running / finished (with its reason) / crashed, pid, host, times
                         (engine.runs.status)
        model.pt         weights and preprocessing for ``predict`` (engine.runs.model_file)
        checkpoint.pt    what ``resume`` needs (engine.runs.checkpoint)

This module finds runs: where they live, a new directory, the list, one by id, prefix, path or
``latest``. Every whole-file write is atomic (:mod:`engine.runs.files`), written by
:class:`engine.runs.writer.RunWriter`. Torch-free: listing runs is instant.

The names of the modules it was split into are re-exported here, so ``store.read_status`` and
the like keep working for the callers that use them.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.core.errors import RunError
from engine.runs.files import atomic_write, first_line, is_temp_name
from engine.runs.lock import LOCK_NAME
from engine.runs.log import (
    EVENT_CLASSES,
    FULL_WEIGHT_EPOCHS,
    WEIGHT_STRIDE,
    RunLog,
    epochs_until,
    event_from_dict,
    read_events,
    thin,
)
from engine.runs.status import (
    FORMAT_VERSION,
    RunStatus,
    pid_alive,
    read_status,
    run_state,
    write_status,
)
from engine.runs.writer import RunWriter, preset_yaml

__all__ = [
    "EVENT_CLASSES",
    "FORMAT_VERSION",
    "FULL_WEIGHT_EPOCHS",
    "RUNS_ENV",
    "RUN_FILES",
    "WEIGHT_STRIDE",
    "RunError",
    "RunInfo",
    "RunLog",
    "RunStatus",
    "RunWriter",
    "atomic_write",
    "check_root",
    "epochs_until",
    "event_from_dict",
    "first_line",
    "foreign_files",
    "is_run_dir",
    "list_runs",
    "new_run_dir",
    "pid_alive",
    "preset_yaml",
    "read_events",
    "read_status",
    "resolve_run",
    "run_state",
    "runs_dir",
    "thin",
    "write_status",
]

RUNS_ENV = "LINREG_TUI_RUNS_DIR"


def runs_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Where runs live: ``override``, ``$LINREG_TUI_RUNS_DIR``, else the XDG state folder.

    ``$XDG_STATE_HOME/linreg-tui/runs`` (default ``~/.local/state/linreg-tui/runs``): state, not
    config or cache, in the XDG base-directory sense — it is kept, but it is not settings.
    """
    if override:
        return Path(override).expanduser()
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV]).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(base) / "linreg-tui" / "runs"


def _slug(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()).strip("-")
    return keep[:40] or "run"


RUN_FILES = frozenset(
    {
        "status.json",
        "config.yaml",
        "events.jsonl",
        "curve.bin",
        "model.pt",
        "checkpoint.pt",
        "trainer.log",
        "notes.json",
        LOCK_NAME,
    }
)
"""What a run directory holds; a folder of nothing else (or of its temp files) is a run's."""


def check_root(root: Path) -> None:
    """One line when the runs folder cannot hold runs: a file, or not a folder."""
    if root.exists() and not root.is_dir():
        raise RunError(f"runs folder {root} is not a directory (set --runs-dir or ${RUNS_ENV})")


_RUN_NAME = re.compile(r"(\d{8}-\d{6})-.+-([0-9a-f]{6})")
"""A run folder's name: its start (to the second), its preset, its id (:func:`_stamp_and_id`)."""


def _stamp_and_id() -> tuple[str, str]:
    """The start of a run's name (``YYYYmmdd-HHMMSS``, local time) and the id that ends it: the
    microsecond within that second (5 hex digits), then a random hex digit. Runs started in one
    second (quick runs, a script's train then predict) sort by the id in the order they
    started, whatever their presets are called."""
    now = time.time_ns()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now // 1_000_000_000))
    return stamp, f"{now // 1000 % 1_000_000:05x}{secrets.randbelow(16):x}"


def _newest_first(path: Path) -> tuple[str, str]:
    """The sort key of a run folder (reversed: newest first): its start, then its id. A name of
    another shape (``--run-dir`` elsewhere, a run made before ids kept time) sorts by itself."""
    named = _RUN_NAME.fullmatch(path.name)
    return (named[1], named[2]) if named else (path.name, "")


def new_run_dir(root: Path, preset: str) -> Path:
    """Create ``root/<YYYYmmdd-HHMMSS>-<preset>-<id>``; :func:`list_runs` orders runs by start
    time (:func:`_newest_first`)."""
    check_root(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create the runs folder {root}: {exc.strerror or exc}") from None
    for _ in range(100):
        stamp, run_id = _stamp_and_id()
        path = root / f"{stamp}-{_slug(preset)}-{run_id}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunError(f"cannot create a run in {root}: {exc.strerror or exc}") from None
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM as the folder was made: none is left
            with contextlib.suppress(OSError):
                path.rmdir()
            raise
        return path
    raise RunError(f"{root}: cannot create a run directory")  # pragma: no cover


@dataclass(frozen=True)
class RunInfo:
    """One run as ``runs`` lists it, from its status."""

    id: str
    path: Path
    status: dict[str, Any]
    """``status.json`` as a mapping (:meth:`RunStatus.to_dict`; {} when it is unreadable)."""
    state: str
    """:attr:`RunStatus.run_state`: ``running``, ``finished`` or ``crashed``; ``unreadable``
    (a damaged ``status.json``: :attr:`problem` says why) or ``empty`` (a run killed before
    it wrote its status: nothing to keep)."""
    problem: str | None = None
    """Why an unreadable run cannot be read (one line)."""

    @property
    def started_at(self) -> str:
        return str(self.status.get("started_at") or "")


def foreign_files(path: Path) -> list[str] | None:
    """The names in ``path`` that no run writes (sorted), a run file that is a symbolic link
    included (a link may point anywhere); None when ``path`` cannot be read."""
    try:
        entries = list(path.iterdir())
    except OSError:
        return None
    return sorted(
        f"{p.name} (a symbolic link)" if p.is_symlink() else p.name
        for p in entries
        if p.is_symlink() or not (p.name in RUN_FILES or is_temp_name(p.name))
    )


def run_files_only(path: Path) -> bool:
    """Whether ``path`` holds only what a run directory holds (or nothing): a run killed before
    its status was written, not somebody's folder."""
    return foreign_files(path) == []


def list_runs(root: Path) -> list[RunInfo]:
    """Every run under ``root``, newest first: a damaged one as ``unreadable`` with its reason,
    an empty one (killed before its status) as ``empty``; other folders are not runs."""
    check_root(root)
    if not root.is_dir():
        return []
    out = []
    try:
        entries = sorted(root.iterdir(), key=_newest_first, reverse=True)
    except OSError as exc:
        raise RunError(f"runs folder {root}: cannot be read ({exc.strerror or exc})") from None
    for path in entries:
        if not path.is_dir() or path.is_symlink() or path.name.startswith("."):
            continue
        if not (path / "status.json").exists() and not (path / "status.json").is_symlink():
            if run_files_only(path):
                out.append(_without_status(path))
            continue
        try:
            status = RunStatus.read(path)
        except RunError as exc:
            problem = str(exc).removeprefix(f"{path}: ")
            out.append(RunInfo(path.name, path, {}, "unreadable", problem[:200]))
            continue
        out.append(RunInfo(path.name, path, status.to_dict(), status.run_state))
    return out


def _without_status(path: Path) -> RunInfo:
    """A run folder with no ``status.json``: empty when nothing ran (killed before its status),
    else unreadable."""
    if any((path / n).exists() for n in ("events.jsonl", "model.pt", "checkpoint.pt")):
        return RunInfo(path.name, path, {}, "unreadable", "no status.json")
    return RunInfo(path.name, path, {}, "empty", "no status.json: killed before it started")


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` is a folder directly in the runs folder ``root`` (links resolved)."""
    try:
        return Path(os.path.realpath(path)).parent == Path(os.path.realpath(root))
    except OSError:  # pragma: no cover - realpath does not raise on Linux
        return False


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` carries the run marker: a ``status.json`` a run writer wrote (it has a
    ``format`` and a ``state``) beside a ``config.yaml``. Any ``status.json`` is not enough."""
    if path.is_symlink() or not path.is_dir() or not (path / "config.yaml").is_file():
        return False
    try:
        status = RunStatus.read(path)
    except RunError:
        return False
    return "format" in status.written and "state" in status.written


def resolve_run(spec: str, root: Path, *, for_delete: bool = False) -> Path:
    """A run by id, unique id prefix, path, or ``latest``; one clear error otherwise.

    ``for_delete`` (``runs rm``): only a folder directly in the runs folder (a run, an
    unreadable one, or an empty one), or a path named outside it that carries the run marker
    (:func:`is_run_dir`); either way one that holds only what a run writes
    (:func:`foreign_files`), named by path or by name alike. Never the working directory or a
    folder above it, never a symbolic link (to a run or not: only a real folder is deleted),
    and a name must be the run's id, its short id, or a prefix of six characters or more — not
    a preset name. A symbolic link in the runs folder is no run by name, as in the listing.
    """
    if not spec.strip():
        raise RunError("empty run name: name a run by id, unique prefix, path or latest")
    if spec == "latest":
        runs = [r for r in list_runs(root) if r.state not in ("unreadable", "empty")]
        if not runs:
            raise RunError(f"no runs yet in {root}")
        return runs[0].path
    as_path = Path(spec).expanduser()
    if (
        "/" in spec
        or spec.startswith((".", "~"))
        or (not for_delete and as_path.is_dir() and (as_path / "status.json").exists())
    ):
        return _by_path(spec, as_path, root, for_delete)
    check_root(root)
    if not root.is_dir():
        raise RunError(f"unknown run '{spec[:80]}': no runs yet in {root}")
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    names = sorted(p.name for p in entries if p.is_dir() and not p.is_symlink())
    hits = (
        [n for n in names if n == spec]
        or [n for n in names if n.startswith(spec)]
        or [n for n in names if n.endswith(f"-{spec}")]
    )
    loose = [n for n in names if n.endswith(spec) or f"-{spec}" in n]
    if not hits and loose and not for_delete:
        hits = loose
    if not hits and any(p.name == spec and p.is_symlink() for p in entries):
        raise RunError(
            f"{spec[:80]}: a symbolic link in the runs folder {root}, not a run (links are "
            "never followed; remove the link itself with rm)"
        )
    if not hits:
        hint = f" ({len(loose)} runs have it in their name: name one by its id)" if loose else ""
        raise RunError(f"unknown run '{spec[:80]}' in {root}{hint} (see 'linreg-tui runs')")
    if len(hits) > 1:
        shown = ", ".join(hits[:3]) + (", …" if len(hits) > 3 else "")
        raise RunError(f"run '{spec[:80]}' is ambiguous: {len(hits)} runs match ({shown})")
    if for_delete and hits[0] != spec and not hits[0].endswith(f"-{spec}") and len(spec) < 6:
        raise RunError(
            f"run '{spec[:80]}': name a run to delete by its id, short id or a "
            "prefix of 6 characters or more (see 'linreg-tui runs')"
        )
    if for_delete:
        _only_run_files(spec, root / hits[0])
    return root / hits[0]


def _only_run_files(spec: str, path: Path) -> None:
    """Refuse to delete ``path`` unless it holds only what a run writes (a run, an unreadable
    or an empty one): a folder of somebody's files is not a run, whatever else it holds."""
    others = foreign_files(path)
    if others is None:
        raise RunError(f"{spec[:100]}: not a run directory (cannot be read): not deleting it")
    if others:
        shown = ", ".join(o[:40] for o in others[:3]) + (", …" if len(others) > 3 else "")
        raise RunError(
            f"{spec[:100]}: not a run directory (it holds {shown}, not a run's own files): "
            "not deleting it"
        )


def _by_path(spec: str, as_path: Path, root: Path, for_delete: bool) -> Path:
    """A run named by its path (see :func:`resolve_run`)."""
    if not for_delete:
        if not (as_path / "status.json").exists():
            raise RunError(f"{spec[:100]}: not a run directory (no status.json)")
        return as_path
    real = Path(os.path.realpath(as_path))
    cwd = Path(os.path.realpath(os.getcwd()))
    if (
        real == cwd
        or real in cwd.parents
        or real == Path(os.path.realpath(root))
        or Path(os.path.realpath(root)).is_relative_to(real)
    ):
        raise RunError(
            f"{spec[:100]}: refusing to delete the working directory, the runs "
            "folder or a folder above them"
        )
    if as_path.is_symlink() or not as_path.is_dir():
        raise RunError(f"{spec[:100]}: not a run directory")
    if not _inside(as_path, root) and not is_run_dir(as_path):
        raise RunError(
            f"{spec[:100]}: outside the runs folder {root} and not a run directory "
            "(no status.json written by linreg-tui beside a config.yaml): not "
            "deleting it"
        )
    _only_run_files(spec, as_path)
    return as_path
