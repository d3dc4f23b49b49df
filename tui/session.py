"""The dashboard as a client of runs: start, follow, stop, pause, attach, watch, leave.

A :class:`RunSession` owns what the dashboard holds of its runs: the trainer process it started
or attached to (:mod:`engine.cli.trainer_process`), the follower reading that run's directory
(:mod:`engine.runs.follow`), the run's :class:`~tui.history.RunHistory` and a spare trainer with
torch already imported. A run started with ``s`` trains in a process of its own session, so a
dropped SSH connection does not reach it and the screen never shares a CPU or the GIL with
training; stop and pause are signals to its pid. Attaching to a run another dashboard (or a
headless ``linreg-tui train``) started, or watching any run, is the same follow from byte 0:
the whole curve so far, then live.

A run of any length opens in about the time of a short one: :meth:`RunSession.follow` first
reads the run's curve summary (:func:`engine.runs.curve_read.load_curve`, in a thread: records,
not epochs) into the history, then follows the log from where the summary ends. While it loads
the state is ``loading N epochs`` (with a percentage when an old run's summary is rebuilt from
its log), never ``idle``.

Textual-free: the app runs :meth:`RunSession.follow` in one async worker and shows each
:class:`Notice` it yields in the top bar; a test files events by hand with
:meth:`RunSession.file`, as the follow does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.cli.trainer_process import TrainerProcess, WarmTrainer, start_trainer
from engine.config import Config, ConfigError
from engine.core.errors import RunError
from engine.core.events import EpochEnded, Event, RunFinished, RunStarted
from engine.runs.curve_read import Curve, load_curve
from engine.runs.follow import RunFollower
from engine.runs.log import RunLog
from engine.runs.store import list_runs, read_status, run_state
from tui.form import FieldError
from tui.history import RunHistory

HANGUP_EXIT_S = 1.5
"""After a hangup the dashboard tidies up and leaves; if the dead terminal blocks that, the
process ends anyway after this long."""


EVENTS_UP_TO = 2_000
"""A run of up to this many epochs is read as events (every epoch in the history); a longer
one from its curve summary, then its log's end."""


@dataclass(frozen=True)
class Notice:
    """A line for the top bar about the run: what happened, or why a key did nothing."""

    text: str
    error: bool = False
    field: tuple[str | None, str] | None = None
    """A failed start's ``(config key, reason)``, to mark at that field of the form (the key is
    None when no field is at fault)."""


class RunSession:
    """The trainer, the follower and the history of the run on the dashboard (or of none)."""

    def __init__(
        self, runs_root: Path, *, watch: Path | None = None, warm_trainer: bool = False
    ) -> None:
        self.runs_root = runs_root
        self.watch_dir = watch
        """The run this dashboard watches, read-only (``linreg-tui watch``), else None."""
        self.history = RunHistory()
        self.trainer: TrainerProcess | None = None
        """The trainer of the run being followed, when we can signal it (None when idle)."""
        self.follower: RunFollower | None = None
        self.shown_run: str | None = None
        """The run directory's name of the run on screen (the top bar names it when stale)."""
        self.detached: Path | None = None
        """The run left going in the background by quit (the CLI says how to come back)."""
        self.use_warm = warm_trainer
        self.warm: WarmTrainer | None = None
        self.loading: tuple[int, float | None] | None = None
        """While a run's curve loads: its epochs, and the fraction read when its summary is
        being rebuilt from the log (else None)."""
        self.changes = 0
        """Counts what changed the screen (events filed, a run's end): the app redraws when it
        moves."""

    # -- state ------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A run is being followed (ours, attached, or watched), or its trainer is still ours."""
        return self.trainer is not None or self.follower is not None

    @property
    def warnings(self) -> list[str]:
        """The warnings of the current (or last) run; the top bar counts them, help lists them."""
        return list(self.history.started.warnings) if self.history.started else []

    @property
    def state(self) -> str:
        """``starting``, ``running``, ``paused``, ``watching``, ``finished (reason)`` or
        ``idle``: the top bar's word for the run."""
        if self.loading is not None:
            n, done = self.loading
            return f"loading {n:,} epochs" + (f" {done:.0%}" if done is not None else "")
        if self.follower is not None and self.history.started is None:
            return "starting"
        if self.trainer is not None:
            return "paused" if self.trainer.paused else "running"
        if self.follower is not None:
            return "watching"
        fin = self.history.finished
        return f"finished ({fin.reason})" if fin else "idle"

    def runs_in_progress(self) -> list[Path]:
        """Runs under the runs folder whose trainer is still going, newest first."""
        try:
            return [r.path for r in list_runs(self.runs_root) if r.state == "running"]
        except OSError:
            return []

    # -- lifetime ---------------------------------------------------------------------------
    def spare(self) -> None:
        """Keep a spare trainer (torch imported) when asked to, so ``s`` trains at once."""
        if self.use_warm and self.warm is None and self.watch_dir is None:
            self.warm = WarmTrainer()

    def close(self) -> None:
        """Let the spare trainer go (a run we started keeps going unless it was stopped)."""
        if self.warm is not None:
            self.warm.close()
            self.warm = None
        if self.follower is not None:
            self.follower.close()

    def hangup(self) -> None:
        """SIGHUP (terminal closed, SSH dropped): the run goes on, the dashboard leaves, and
        if the dead terminal blocks its tidying up, the process ends anyway after
        HANGUP_EXIT_S (exit 129, like a headless run)."""
        timer = threading.Timer(HANGUP_EXIT_S, os._exit, (128 + signal.SIGHUP,))
        timer.daemon = True
        timer.start()
        self.leave(stop=False)

    def leave(self, stop: bool) -> None:
        """The dashboard goes: stop our run, or leave it training (the CLI names it); then
        :meth:`close`."""
        if self.trainer is not None:
            if stop:
                self.trainer.stop()
            else:
                self.detached = self.trainer.run_dir
        self.close()

    # -- start / follow ---------------------------------------------------------------------
    def open(self) -> Notice | None:
        """The dashboard is up: follow the watched run, or keep a spare trainer and say how
        many runs are in progress (``a`` attaches)."""
        if self.watch_dir is not None:
            self.follow_run(self.watch_dir, attach=True)
            return None
        self.spare()
        going = self.runs_in_progress()
        if not going:
            return None
        return Notice(f"{len(going)} run{'s' if len(going) > 1 else ''} in progress — a attaches")

    def start_refused(self) -> str | None:
        """Why ``s`` cannot start a run now, or None."""
        if self.watch_dir is not None:
            return "watching a run (read-only): q leaves, then linreg-tui starts new runs"
        if self.busy:
            return "a run is already going: x stops it, then s starts a new one"
        return None

    def start(self, build: Callable[[], Config]) -> Notice:
        """Start the config ``build`` returns (the form's: a FieldError names a bad field) in a
        trainer process, the spare one when ready, and follow its run directory."""
        refused = self.start_refused()
        if refused:
            return Notice(refused, error=True)
        try:
            cfg = build()  # the engine's own parse: bad input stops here
        except FieldError as exc:
            where = f"{exc.key}: " if exc.key else ""
            return Notice(f"start refused — {where}{exc.reason}", error=True)
        try:
            trainer = start_trainer(cfg, self.runs_root, self.warm)
        except (OSError, ConfigError) as exc:
            return Notice(f"start failed — {exc}", error=True)
        self.warm = None
        self.follow_run(trainer.run_dir, trainer=trainer)
        return Notice(f"starting {cfg.name}… · x stops")

    def attach(self) -> Notice:
        """Follow the newest run in progress: its whole curve so far, then live."""
        if self.busy:
            return Notice("already following a run", error=True)
        going = self.runs_in_progress()
        if not going:
            return Notice("no run in progress to attach to")
        self.follow_run(going[0], attach=True)
        return Notice(f"attached to {going[0].name} · x stops, p pauses, q leaves it running")

    def follow_run(
        self, run_dir: Path, *, trainer: TrainerProcess | None = None, attach: bool = False
    ) -> None:
        """Show ``run_dir`` from a fresh history: :meth:`follow` files its events. ``attach``
        takes over the signalling of its trainer when it runs on this host."""
        if attach and trainer is None:
            with contextlib.suppress(OSError, RunError, KeyError, ValueError, TypeError):
                if run_state(read_status(run_dir)) == "running":
                    trainer = TrainerProcess.attach(run_dir)
        self.history = RunHistory()
        self.trainer = trainer
        self.follower = RunFollower(run_dir)
        self.shown_run = run_dir.name
        if trainer is None or trainer.popen is None:  # from now on the state says loading
            _, last = RunLog(run_dir).ends()
            n = last.epochs_run if isinstance(last, RunFinished) else getattr(last, "epoch", 0)
            self.loading = (int(n or 0), None)
        self.changes += 1

    async def follow(self) -> AsyncIterator[Notice]:
        """File the followed run's events into the history until its log ends, yielding what
        to say; then let its follower and trainer go (however the follow ends)."""
        follower, trainer = self.follower, self.trainer
        if follower is None:
            return
        try:
            if trainer is None or trainer.popen is None:  # a run that may be long already
                for item in await self._load(follower):
                    notice = item if isinstance(item, Notice) else self.file(item)
                    if notice is not None:
                        yield notice
            async for event in follower:
                notice = self.file(event)
                if notice is not None:
                    yield notice
            if follower.crashed is not None:
                yield self._crashed(follower, trainer)
        except RunError as exc:
            yield Notice(f"{exc} — nothing more to show", error=True)
        finally:
            if self.follower is follower:
                self.follower = None
            if self.trainer is trainer:
                self.trainer = None
            if trainer is not None:
                trainer.reap()
            self.changes += 1

    async def _load(self, follower: RunFollower) -> Sequence[Event | Notice]:
        """Read the run's curve summary (in a thread) into the history, and have the follower
        go on after it. The state says ``loading N epochs`` meanwhile."""
        n = self.loading[0] if self.loading is not None else 0

        def progress(done: int, total: int) -> None:
            self.loading = (n, done / max(total, 1))
            self.changes += 1

        try:
            curve: Curve = await asyncio.to_thread(
                load_curve, follower.run_dir, progress, events_up_to=EVENTS_UP_TO
            )
        finally:
            self.loading = None
            self.changes += 1
        if follower is not self.follower:
            return []
        self.history.seed(curve)
        follower.skip_to(curve.offset, curve.tail)
        if curve.started is not None and len(curve):  # the tail has no RunStarted to say it
            notice = self._started(curve.started)
            return [n for n in [notice] if n is not None] + curve.tail
        return curve.tail

    def file(self, event: Event) -> Notice | None:
        """File one event into the history; what to say about it, if anything."""
        self.history.add(event)
        self.changes += 1
        if isinstance(event, RunFinished):
            return Notice(event.message, error=event.reason == "diverged")
        if not isinstance(event, RunStarted):
            return None
        return self._started(event)

    def _started(self, event: RunStarted) -> Notice | None:
        """What to say when a run's RunStarted is read: its warnings, or that it trains."""
        warnings = event.warnings
        if len(warnings) == 1:
            return Notice(f"⚠ {warnings[0]}", error=True)
        if warnings:
            return Notice(
                f"⚠ {len(warnings)} warnings, ? lists them all — 1: {warnings[0]}", error=True
            )
        if self.trainer is not None and self.trainer.popen is not None:
            return Notice(f"training {event.config.get('name')} · x stops, p pauses")
        return None

    def _crashed(self, follower: RunFollower, trainer: TrainerProcess | None) -> Notice:
        """The trainer ended without a RunFinished: a start that failed, a stop before the
        first epoch, or a crash (shown with the curve so far)."""
        status = follower.status
        if self.history.started is None and trainer is not None and trainer.popen is not None:
            # nothing ran: say why (read before the folder holding its log goes), and remove
            # the directory as a headless train does
            logged = trainer.log_tail().removeprefix("error: ")
            shutil.rmtree(follower.run_dir, ignore_errors=True)
            if status.get("error_text"):
                reason, key = str(status["error_text"]), status.get("error_key")
            elif trainer.stop_requested:
                return Notice("stopped before the first epoch")
            else:
                reason, key = logged or trainer.ended_how(), None
            return Notice(f"run failed — {reason}", error=True, field=(key, reason))
        last = self.history.last
        epoch = last.epoch if isinstance(last, EpochEnded) else 0
        return Notice(f"crashed at epoch {epoch} — {follower.crashed}", error=True)

    # -- control ----------------------------------------------------------------------------
    def _controllable(self, verb: str) -> TrainerProcess | Notice:
        if self.trainer is not None:
            return self.trainer
        if self.follower is not None:
            return Notice(f"cannot {verb} this run from here (another host, or it has ended)")
        return Notice(f"nothing to {verb}: s starts a run")

    def stop(self) -> Notice:
        """Ask our run's trainer to stop (a clean stop: it reports why it ended)."""
        trainer = self._controllable("stop")
        if isinstance(trainer, Notice):
            return trainer
        trainer.stop()
        return Notice("stopping…")

    def pause(self) -> Notice:
        """Pause our run's trainer, or resume it when paused."""
        trainer = self._controllable("pause")
        if isinstance(trainer, Notice):
            return trainer
        if self.history.started is None:
            return Notice("starting…: p pauses from the first epoch on")
        if trainer.paused:
            trainer.resume()
            return Notice("resumed")
        trainer.pause()
        return Notice("paused: p resumes, x stops")

    async def stop_and_wait(self, timeout: float = 5.0) -> None:
        """Stop our run and wait (at most ``timeout`` s) until its log has ended."""
        if self.trainer is None:
            return
        self.trainer.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and self.follower is not None:
            await asyncio.sleep(0.02)
