"""Runs on disk: one directory per run that any process can read while another writes it.

A run directory (TensorBoard event files and W&B run folders are the anchors: the training
process appends, any number of readers replay and follow)::

    RUNS/20261125-231502-default-3f9a1c/
        config.yaml      the resolved config as a preset: ``linreg-tui train RUN/config.yaml``
                         reproduces the run
        events.jsonl     every event as one JSON line (the ``--json`` format), flushed per epoch;
                         a reader skips a torn last line
        status.json      running / finished (with its reason) / crashed, pid, host, times
        model.pt         weights and preprocessing for ``predict`` (engine.runs.model_file)
        checkpoint.pt    what ``resume`` needs (engine.runs.checkpoint)

Every whole-file write is atomic (temp file, fsync, rename), so ``kill -9`` at any moment leaves
the previous good file. The event log is append-only; a process killed mid-line leaves a torn
last line, which :func:`read_events` ignores. Torch-free: listing runs is instant.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from engine.core.errors import ConfigError, RunError
from engine.core.events import (CrossValidated, EpochEnded, Event, FoldFinished, RunFinished,
                           RunStarted)

FORMAT_VERSION = 1
"""Bumped when a run directory's layout changes; a reader refuses a newer one."""
RUNS_ENV = "LINREG_TUI_RUNS_DIR"
FULL_WEIGHT_EPOCHS = 1000
"""Every epoch's weights are logged up to here; later only every ``WEIGHT_STRIDE``-th and
improving epochs keep them and the per-epoch metrics (losses are never thinned). Keeps a
100,000-epoch run with 20 features under 50 MB (measured in tests/test_run_store.py)."""
WEIGHT_STRIDE = 10


def first_line(exc: BaseException, limit: int = 100) -> str:
    """An exception's first line (its type name when it has no text), cut to ``limit``."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]


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


# ---------------------------------------------------------------------------------------------
# Status


def write_status(run: Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into ``status.json`` (atomically) and return the new status."""
    status = read_status(run) if (run / "status.json").exists() else {}
    status.update(fields)
    atomic_write(run / "status.json", (json.dumps(status, indent=1) + "\n").encode())
    return status


def read_status(run: Path) -> dict[str, Any]:
    """``status.json`` as written (no liveness check: see :func:`run_state`)."""
    try:
        status = json.loads((run / "status.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{run}: not a run directory (no status.json)") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{run}: unreadable status.json ({exc})") from None
    if not isinstance(status, dict):
        raise RunError(f"{run}: unreadable status.json (not a mapping)")
    version = status.get("format", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RunError(f"{run}: written by a newer linreg-tui (run format {version}, this "
                       f"version reads {FORMAT_VERSION}); upgrade to read it")
    return status


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


def run_state(status: dict[str, Any]) -> str:
    """``running``, ``finished`` or ``crashed``: a run marked running whose process is gone on
    this host crashed (``kill -9``, power loss). A run on another host is taken at its word."""
    state = status.get("state", "crashed")
    if state == "running" and status.get("host") == socket.gethostname() \
            and not pid_alive(status.get("pid")):
        return "crashed"
    return state


# ---------------------------------------------------------------------------------------------
# Events

EVENT_CLASSES: dict[str, type[Event]] = {
    c.__name__: c for c in (RunStarted, EpochEnded, RunFinished, FoldFinished, CrossValidated)}
_TEXT_FIELDS = frozenset({"config", "message", "reason", "device", "device_name", "loss_formula",
                          "feature_names", "warnings"})
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _numbers(value: Any) -> Any:
    """Undo ``to_dict``'s strings for non-finite floats (in number fields only)."""
    if isinstance(value, str):
        return _NON_FINITE.get(value, value)
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def event_from_dict(data: dict[str, Any]) -> Event:
    """The event a JSON line holds: ``event_from_dict(e.to_dict())`` equals ``e``."""
    cls = EVENT_CLASSES[data["type"]]
    kwargs = {k: (v if k in _TEXT_FIELDS else _numbers(v)) for k, v in data.items()
              if k != "type"}
    if "data_shape" in kwargs:
        kwargs["data_shape"] = tuple(kwargs["data_shape"])
    return cls(**kwargs)



def thin(event: Event) -> dict[str, Any]:
    """The JSON form of ``event`` as logged.

    Epochs after ``FULL_WEIGHT_EPOCHS`` that neither improve nor fall on the stride keep their
    losses, early-stopping state and speed but drop ``weights``/``weights_original`` (None) and
    ``metrics`` ({}): a reader shows the latest epoch that has them. The final weights and
    metrics are always in RunFinished.
    """
    data = event.to_dict()
    if isinstance(event, EpochEnded) and event.epoch > FULL_WEIGHT_EPOCHS \
            and event.epoch % WEIGHT_STRIDE and not event.improved:
        data.update(weights=None, weights_original=None, metrics={})
    return data


def epochs_until(run: Path, epoch: int) -> bytes:
    """The log's ``EpochEnded`` lines up to ``epoch`` (what a resume from there keeps): not its
    RunStarted, any later epoch, an end, or a torn last line."""
    path = run / "events.jsonl"
    kept = []
    for line in (path.read_bytes().splitlines(keepends=True) if path.exists() else []):
        if not line.endswith(b"\n"):
            break
        try:
            data = json.loads(line)
        except ValueError:
            break
        if data.get("type") == "EpochEnded":
            if data.get("epoch", 0) > epoch:
                break
            kept.append(line)
        elif data.get("type") == "RunFinished":
            break
    return b"".join(kept)


def read_events(run: Path, *, offset: int = 0) -> tuple[list[Event], int]:
    """Events of ``events.jsonl`` from byte ``offset``; returns them and the offset to go on from.

    A last line without its newline is a write in progress (or torn by a kill): it is left for
    the next call. A complete line that is not an event is an error naming the line.
    """
    try:
        with open(run / "events.jsonl", "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        if not run.exists():
            raise RunError(f"{run}: run directory is gone") from None
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for i, line in enumerate(data[:end].splitlines()):
        if not line.strip():
            continue
        try:
            events.append(event_from_dict(json.loads(line)))
        except (ValueError, TypeError, KeyError) as exc:
            raise RunError(f"{run / 'events.jsonl'}: bad event line "
                           f"(+{i + 1} from byte {offset}): {str(exc)[:80]}") from None
    return events, offset + end


def follow_events(run: Path, *, poll_s: float = 0.1) -> Iterator[Event]:
    """Replay a run's events, then keep yielding new ones until a RunFinished (or a crash)."""
    offset = 0
    while True:
        events, offset = read_events(run, offset=offset)
        yield from events
        if any(isinstance(e, RunFinished) for e in events):
            return
        if not events:
            if run_state(read_status(run)) != "running":
                events, offset = read_events(run, offset=offset)
                yield from events
                return
            time.sleep(poll_s)


# ---------------------------------------------------------------------------------------------
# Writing a run


class RunWriter:
    """The run directory as a consumer of the event stream (call it with each event).

    It computes nothing: the config, the log, the status and the model all come from the events.
    The trainer also hands it checkpoints (it is a :class:`engine.training.trainer.Checkpointer`).

    ``resume_epoch``: continue an existing run from its checkpoint after that epoch. Nothing in
    the directory changes until the resumed run's ``RunStarted`` arrives — the trainer emits it
    only once the data loaded and the checkpoint fitted — so a resume that fails to start leaves
    the run as it was. Then the log is cut back to that epoch under the new ``RunStarted`` (one
    history, with the new total of epochs), and config and status are rewritten.
    """

    def __init__(self, path: Path, config: dict[str, Any], *,
                 resume_epoch: int | None = None) -> None:
        from engine.runs.checkpoint import Throttle

        self.path, self.config = path, config
        self.resume_epoch = resume_epoch
        self.started: RunStarted | None = None
        self.finished: RunFinished | None = None
        self._throttle = Throttle()
        self._log: TextIO | None = None
        if resume_epoch is None:
            self._begin()

    @property
    def resumed(self) -> bool:
        return self.resume_epoch is not None

    @property
    def untouched(self) -> bool:
        """A resume that has not started: the directory is still exactly as it was."""
        return self.resumed and self._log is None

    def _begin(self, history: bytes = b"") -> None:
        """Write the config and a running status; open the log (``history`` replaces it)."""
        atomic_write(self.path / "config.yaml", preset_yaml(self.config).encode())
        if self.resumed:
            atomic_write(self.path / "events.jsonl", history)
        write_status(self.path, format=FORMAT_VERSION, state="running", reason=None,
                     message=None, pid=os.getpid(), host=socket.gethostname(),
                     preset=self.config.get("name"), loss=self.config.get("loss", {}).get("name"),
                     started_at=_now(), ended_at=None, error=None)
        self._log = open(self.path / "events.jsonl", "a", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.started = event
            if self._log is None and self.resumed:
                first = json.dumps(thin(event), separators=(",", ":")).encode() + b"\n"
                self._begin(first + epochs_until(self.path, self.resume_epoch or 0))
                return
        if self._log is None:
            return
        self._log.write(json.dumps(thin(event), separators=(",", ":")) + "\n")
        self._log.flush()  # per event: a reader (or a kill -9) sees whole epochs
        if isinstance(event, RunFinished):
            self.finished = event
            if self.started is not None:
                from engine.runs.model_file import save_model

                save_model(self.path / "model.pt", self.started, event)
            os.fsync(self._log.fileno())
            write_status(self.path, state="finished", reason=event.reason,
                         message=event.message, epochs_run=event.epochs_run, ended_at=_now())

    def due(self) -> bool:
        """Whether a checkpoint is due (at most one per ``CHECKPOINT_EVERY_S``, see
        :mod:`engine.runs.checkpoint`; ``$LINREG_TUI_CHECKPOINT_S`` changes the interval)."""
        return self._throttle.due()

    def save(self, state: dict[str, Any]) -> None:
        """Write ``checkpoint.pt`` atomically (the trainer calls this: a :class:`Checkpointer`)."""
        from engine.runs.checkpoint import save_checkpoint

        save_checkpoint(self.path / "checkpoint.pt", state)

    def crashed(self, error: str, **fields: Any) -> None:
        """Mark the run crashed with a one-line ``error`` (set-up failed, or the trainer died),
        plus ``fields``, in one write; a resume that never started changes nothing."""
        if self.untouched:
            return
        write_status(self.path, state="crashed", error=error[:300], ended_at=_now(), **fields)

    def discard_if_empty(self, error: str) -> None:
        """Set-up failed before the first event: remove a new run's directory (nothing ran);
        a resume that never started is left as it was; a started run is marked crashed."""
        if self.started is None and not self.resumed:
            self.close()
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            self.crashed(error)

    def close(self) -> None:
        """Close the log; a run closed without RunFinished and without a crash stays 'running'
        only while its process lives."""
        if self._log is not None:
            self._log.close()
            self._log = None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def preset_yaml(config: dict[str, Any]) -> str:
    """A config dict as a preset file (block style, keys in schema order, unicode kept)."""
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False)


# ---------------------------------------------------------------------------------------------
# Finding runs


@dataclass(frozen=True)
class RunInfo:
    """One run as ``runs`` lists it, from its status and its log."""

    id: str
    path: Path
    status: dict[str, Any]
    state: str

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
            status = read_status(path)
        except RunError:
            continue
        out.append(RunInfo(path.name, path, status, run_state(status)))
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
