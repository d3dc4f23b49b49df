"""Writing a run directory from the event stream: the config, the log, the status, the model.

:class:`RunWriter` is one more consumer of the events (call it with each), so a run directory
holds exactly what the dashboard and the CLI were shown. It computes nothing itself. Torch is
imported only when a checkpoint or the model is written (by then training has loaded it).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Any

import yaml

from engine.core.events import Event, RunFinished, RunStarted
from engine.runs import lock
from engine.runs.curve import CurveWriter
from engine.runs.files import atomic_write, now_text
from engine.runs.log import RunLog, event_line
from engine.runs.status import FORMAT_VERSION, RunStatus


def preset_yaml(config: dict[str, Any]) -> str:
    """A config dict as a preset file (block style, keys in schema order, unicode kept)."""
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False)


class RunWriter:
    """The run directory as a consumer of the event stream (call it with each event).

    It computes nothing: the config, the log, the status and the model all come from the events.
    The trainer also hands it checkpoints (it is a :class:`engine.training.trainer.Checkpointer`).

    ``resume_epoch``: continue an existing run from its checkpoint after that epoch. Nothing in
    the directory changes until the first event after the resumed run's ``RunStarted`` (an
    epoch, or its end) — the trainer emits that only once the data loaded and the checkpoint
    fitted, and then trained — so a resume that fails to start leaves the run as it was. Then
    the log is cut back to that epoch under the new ``RunStarted`` (one history, with the new
    total of epochs), and config and status are rewritten.

    The writer holds the run's writer lock (:mod:`engine.runs.lock`) from its creation until
    :meth:`close`: a second writer of the same run is refused before it changes anything.
    """

    def __init__(
        self, path: Path, config: dict[str, Any], *, resume_epoch: int | None = None
    ) -> None:
        from engine.runs.checkpoint import Throttle

        self.path, self.config = path, config
        self.resume_epoch = resume_epoch
        self.started: RunStarted | None = None
        self.finished: RunFinished | None = None
        self._throttle = Throttle()
        self._log = RunLog(path)
        self._curve = CurveWriter(path)
        self._pending: bytes | None = None
        lock.acquire(path)
        self._locked = True
        if resume_epoch is None:
            try:
                self._begin()
            except BaseException:
                self.close()
                raise

    @property
    def resumed(self) -> bool:
        return self.resume_epoch is not None

    @property
    def untouched(self) -> bool:
        """A resume that has not started: the directory is still exactly as it was."""
        return self.resumed and not self._log.writing

    def _begin(self, history: bytes | None = None) -> None:
        """Write the config and a running status; open the log (``history`` replaces it)."""
        atomic_write(self.path / "config.yaml", preset_yaml(self.config).encode())
        if self.resumed:
            self._log.replace(history or b"")
        RunStatus.update(
            self.path,
            format=FORMAT_VERSION,
            state="running",
            reason=None,
            message=None,
            pid=os.getpid(),
            pid_start=lock.process_start(os.getpid()),
            host=socket.gethostname(),
            preset=self.config.get("name"),
            loss=self.config.get("loss", {}).get("name"),
            started_at=now_text(),
            ended_at=None,
            error=None,
            **self._processes(),
        )
        self._log.open()
        self._curve.open(self._log.path)  # a resume's kept epochs, then each new one

    def _processes(self) -> dict[str, int]:
        """``processes``: how many data-parallel ranks train the run (only when more than one,
        so a single process's status is what it always was)."""
        n = self.config.get("train", {}).get("processes", 1)
        return {"processes": n} if isinstance(n, int) and n > 1 else {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.started = event
            if not self._log.writing and self.resumed:
                self._pending = event_line(event) + self._log.epochs_until(self.resume_epoch or 0)
                return
        if self._pending is not None:  # the resumed run trains: now the directory changes
            history, self._pending = self._pending, None
            self._begin(history)
        if not self._log.writing:
            return
        self._curve(event, *self._log.append(event))
        if isinstance(event, RunFinished):
            self.finished = event
            if self.started is not None:
                from engine.runs.model_file import save_model

                save_model(self.path / "model.pt", self.started, event)
            self._log.sync()
            RunStatus.update(
                self.path,
                state="finished",
                reason=event.reason,
                message=event.message,
                epochs_run=event.epochs_run,
                ended_at=now_text(),
            )

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
        RunStatus.update(
            self.path, state="crashed", error=error[:300], ended_at=now_text(), **fields
        )

    def discard_if_empty(self, error: str) -> None:
        """Set-up failed before the first event: remove a new run's directory (nothing ran);
        a resume that never started is left as it was; a started run is marked crashed."""
        if self.started is None and not self.resumed:
            self.close()
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            self.crashed(error)

    def close(self) -> None:
        """Close the log and give back the writer lock; a run closed without RunFinished and
        without a crash then reads as crashed."""
        self._log.close()
        self._curve.close()
        if self._locked:
            self._locked = False
            lock.release(self.path)
