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

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.core.errors import RunError
from engine.runs.files import atomic_write, first_line
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
    "EVENT_CLASSES", "FORMAT_VERSION", "FULL_WEIGHT_EPOCHS", "RUNS_ENV", "WEIGHT_STRIDE",
    "RunError", "RunInfo", "RunLog", "RunStatus", "RunWriter", "atomic_write", "epochs_until",
    "event_from_dict", "first_line", "list_runs", "new_run_dir", "pid_alive", "preset_yaml",
    "read_events", "read_status", "resolve_run", "run_state", "runs_dir", "thin",
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
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                            "state")
    return Path(base) / "linreg-tui" / "runs"


def _slug(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()).strip("-")
    return keep[:40] or "run"


def new_run_dir(root: Path, preset: str) -> Path:
    """Create ``root/<YYYYmmdd-HHMMSS>-<preset>-<id>``: ``ls`` sorts runs by start time."""
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for _ in range(100):
        path = root / f"{stamp}-{_slug(preset)}-{secrets.token_hex(3)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RunError(f"{root}: cannot create a run directory")  # pragma: no cover


@dataclass(frozen=True)
class RunInfo:
    """One run as ``runs`` lists it, from its status."""

    id: str
    path: Path
    status: dict[str, Any]
    """``status.json`` as a mapping (:meth:`RunStatus.to_dict`)."""
    state: str
    """:attr:`RunStatus.run_state`: ``running``, ``finished`` or ``crashed``."""

    @property
    def started_at(self) -> str:
        return str(self.status.get("started_at") or "")


def list_runs(root: Path) -> list[RunInfo]:
    """Every readable run under ``root``, newest first (unreadable folders are skipped)."""
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.iterdir(), reverse=True):
        if not path.is_dir() or path.name.startswith("."):
            continue
        try:
            status = RunStatus.read(path)
        except RunError:
            continue
        out.append(RunInfo(path.name, path, status.to_dict(), status.run_state))
    return out


def resolve_run(spec: str, root: Path) -> Path:
    """A run by id, unique id prefix, path, or ``latest``; one clear error otherwise."""
    if spec == "latest":
        runs = list_runs(root)
        if not runs:
            raise RunError(f"no runs yet in {root}")
        return runs[0].path
    as_path = Path(spec).expanduser()
    if ("/" in spec or spec.startswith(".")) or (as_path.is_dir() and
                                                (as_path / "status.json").exists()):
        if not (as_path / "status.json").exists():
            raise RunError(f"{spec}: not a run directory (no status.json)")
        return as_path
    if not root.is_dir():
        raise RunError(f"unknown run '{spec[:80]}': no runs yet in {root}")
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    hits = [n for n in names if n == spec] or [n for n in names if n.startswith(spec)] or \
        [n for n in names if n.endswith(spec) or f"-{spec}" in n]
    if not hits:
        raise RunError(f"unknown run '{spec[:80]}' in {root} (see 'linreg-tui runs')")
    if len(hits) > 1:
        shown = ", ".join(hits[:3]) + (", …" if len(hits) > 3 else "")
        raise RunError(f"run '{spec[:80]}' is ambiguous: {len(hits)} runs match ({shown})")
    return root / hits[0]
