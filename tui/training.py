"""The dashboard as a client of runs: start, follow, stop, pause, attach, watch, detach.

A run started with ``s`` trains in a process of its own session (:mod:`engine.cli.trainer_process`),
so a dropped SSH connection does not reach it and the screen never shares a CPU or the GIL with
training; the dashboard follows its run directory (:mod:`engine.runs.follow`) in one async worker
that files events into the run history, and the redraw timer draws them. Stop and pause
are signals to the trainer's pid. Attaching to a run another dashboard (or a headless
``linreg-tui train``) started, or watching any run, is the same follow from byte 0: the whole
curve so far, then live.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.css.query import NoMatches

from engine.config import ConfigError
from engine.core.events import EpochEnded, RunFinished, RunStarted
from engine.runs.follow import RunFollower
from engine.runs.store import RunError, list_runs, read_status, run_state
from engine.cli.trainer_process import TrainerProcess, WarmTrainer, start_trainer

from tui.form import FieldError
from tui.history import RunHistory
from tui.messages import RunFailed
from tui.screens import QuitScreen

if TYPE_CHECKING:
    from tui.app import LinregApp

HANGUP_EXIT_S = 1.5
"""After a hangup the dashboard tidies up and leaves; if the dead terminal blocks that, the
process ends anyway after this long (exit 129, like a headless run)."""


class TrainingMixin:
    """The run-related state and actions of :class:`tui.app.LinregApp`."""

    run_handle: TrainerProcess | None
    follower: RunFollower | None
    detached: Path | None
    warm: WarmTrainer | None

    def init_training(self: LinregApp, runs_root: Path, watch: Path | None,
                      warm_trainer: bool) -> None:
        self.runs_root = runs_root
        self.watch_dir = watch
        self.run_handle = None
        """The trainer of the run being followed, when we can signal it (None when idle)."""
        self.follower = None
        self.detached = None
        """The run left going in the background by quit (the CLI says how to come back)."""
        self.use_warm = warm_trainer
        self.warm = None

    # -- lifetime -----------------------------------------------------------------------------
    def mount_training(self: LinregApp) -> None:
        """After the first frame: hangup handler, the spare trainer, then attach/watch notice."""
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            import asyncio

            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._hangup)
        if self.watch_dir is not None:
            self.settings.disabled = True
            self._follow_run(self.watch_dir, attach=True)
            return
        self._spare()
        going = self.runs_in_progress()
        if going:
            self.say(f"{len(going)} run{'s' if len(going) > 1 else ''} in progress — a attaches")

    def _spare(self: LinregApp) -> None:
        if self.use_warm and self.warm is None:
            self.warm = WarmTrainer()

    def close_training(self: LinregApp) -> None:
        """Let the spare trainer go (a run we started keeps going unless it was stopped)."""
        if self.warm is not None:
            self.warm.close()
            self.warm = None
        if self.follower is not None:
            self.follower.close()

    def _hangup(self: LinregApp) -> None:
        """SIGHUP (terminal closed, SSH dropped): the run goes on, the dashboard leaves."""
        timer = threading.Timer(HANGUP_EXIT_S, os._exit, (128 + signal.SIGHUP,))
        timer.daemon = True
        timer.start()
        if self.run_handle is not None:
            self.detached = self.run_handle.run_dir
        self.close_training()
        self.exit(return_code=128 + signal.SIGHUP)

    def runs_in_progress(self: LinregApp) -> list[Path]:
        """Runs under the runs folder whose trainer is still going, newest first."""
        try:
            return [r.path for r in list_runs(self.runs_root) if r.state == "running"]
        except OSError:
            return []

    # -- start / follow -----------------------------------------------------------------------
    def action_start(self: LinregApp) -> None:
        """Start a run with the form's settings in a trainer process; refuse (naming the field)
        if one is invalid."""
        if self.watch_dir is not None:
            self.say("watching a run (read-only): q leaves, then linreg-tui starts new runs",
                     error=True)
            return
        if self.run_handle is not None or self.follower is not None:
            self.say("a run is already going: x stops it, then s starts a new one", error=True)
            return
        try:
            cfg = self.settings.build_config()  # the engine's own parse: bad input stops here
        except FieldError as exc:
            where = f"{exc.key}: " if exc.key else ""
            self.say(f"start refused — {where}{exc.reason}", error=True)
            return
        try:
            handle = start_trainer(cfg, self.runs_root, self.warm)
        except (OSError, ConfigError) as exc:
            self.say(f"start failed — {exc}", error=True)
            return
        self.warm = None
        self.settings.border_subtitle = ""
        self.say(f"starting {cfg.name}… · x stops")
        self._follow_run(handle.run_dir, handle=handle)

    def _follow_run(self: LinregApp, run_dir: Path, *, handle: TrainerProcess | None = None,
                    attach: bool = False) -> None:
        if attach and handle is None:
            with contextlib.suppress(OSError, RunError, KeyError, ValueError, TypeError):
                if run_state(read_status(run_dir)) == "running":
                    handle = TrainerProcess.attach(run_dir)
        self.history = RunHistory()
        self.run_warnings = []
        self.run_handle = handle
        self.follower = RunFollower(run_dir)
        self._dirty = True
        self._follow(self.follower)

    @work(exclusive=True, group="training", exit_on_error=False)
    async def _follow(self: LinregApp, follower: RunFollower) -> None:
        """File the run's events into the history; say how it ended."""
        handle = self.run_handle
        try:
            async for event in follower:
                self.history.add(event)
                if isinstance(event, RunStarted):
                    self._run_started(event)
                elif isinstance(event, RunFinished):
                    self.say(event.message, error=event.reason == "diverged")
                self._dirty = True
            if follower.crashed is not None:
                self._run_crashed(follower, handle)
        except RunError as exc:
            self.say(f"{exc} — nothing more to show", error=True)
        finally:
            if self.follower is follower:
                self.follower = None
            if self.run_handle is handle:
                self.run_handle = None
            if handle is not None:
                handle.reap()
            with contextlib.suppress(NoMatches):
                if self.watch_dir is None:
                    self.settings.border_subtitle = ""
                    self._spare()
            self._dirty = True

    def _run_started(self: LinregApp, event: RunStarted) -> None:
        self.run_warnings = list(event.warnings)
        if len(event.warnings) == 1:
            self.say(f"⚠ {event.warnings[0]}", error=True)
        elif event.warnings:
            self.say(f"⚠ {len(event.warnings)} warnings, ? lists them all — "
                     f"1: {event.warnings[0]}", error=True)
        elif self.run_handle is not None and self.run_handle.popen is not None:
            self.say(f"training {event.config.get('name')} · x stops, p pauses")

    def _run_crashed(self: LinregApp, follower: RunFollower,
                     handle: TrainerProcess | None) -> None:
        """The trainer ended without a RunFinished: a start that failed, a stop before the
        first epoch, or a crash (shown with the curve so far)."""
        status, ours = follower.status, handle is not None and handle.popen is not None
        if self.history.started is None and ours:
            # nothing ran: say why, and remove the directory as a headless train does
            if status.get("error_text"):
                self.post_message(RunFailed(str(status["error_text"]), status.get("error_key")))
            elif handle.stop_requested:
                self.say("stopped before the first epoch")
            else:
                self.post_message(RunFailed(handle.log_tail().removeprefix("error: ")
                                            or "the trainer process ended before its first "
                                               "epoch"))
            shutil.rmtree(follower.run_dir, ignore_errors=True)
            return
        last = self.history.last
        epoch = last.epoch if isinstance(last, EpochEnded) else 0
        self.say(f"crashed at epoch {epoch} — {follower.crashed}", error=True)

    def on_run_failed(self: LinregApp, message: RunFailed) -> None:
        """(Named, not ``@on``-decorated: Textual collects decorated handlers only from the
        app's own class body, and this is a mixin.)"""
        self.settings.mark(message.key, message.text)
        self.say(f"run failed — {message.text}", error=True)

    # -- control ------------------------------------------------------------------------------
    def _controllable(self: LinregApp, verb: str) -> TrainerProcess | None:
        run = self.run_handle
        if run is None:
            if self.follower is not None:
                self.say(f"cannot {verb} this run from here (another host, or it has ended)")
            else:
                self.say(f"nothing to {verb}: s starts a run")
        return run

    def action_stop(self: LinregApp) -> None:
        run = self._controllable("stop")
        if run is not None:
            run.stop()
            self.say("stopping…")

    def action_pause(self: LinregApp) -> None:
        run = self._controllable("pause")
        if run is None:
            return
        if self.history.started is None:
            self.say("starting…: p pauses from the first epoch on")
        elif run.paused:
            run.resume()
            self.say("resumed")
        else:
            run.pause()
            self.say("paused: p resumes, x stops")

    def action_attach(self: LinregApp) -> None:
        """Follow the newest run in progress: its whole curve so far, then live."""
        if self.run_handle is not None or self.follower is not None:
            self.say("already following a run", error=True)
            return
        going = self.runs_in_progress()
        if not going:
            self.say("no run in progress to attach to")
            return
        self._follow_run(going[0], attach=True)
        self.say(f"attached to {going[0].name} · x stops, p pauses, q leaves it running")

    # -- quit ---------------------------------------------------------------------------------
    async def action_quit(self: LinregApp) -> None:
        """Leave at once when no run is going; otherwise ask: stop it, or leave it running."""
        run = self.run_handle
        if run is None or not run.alive():
            self.close_training()
            self.exit()
            return

        def chosen(choice: str | None) -> None:
            if choice == "stop":
                run.stop()
            elif choice == "leave":
                self.detached = run.run_dir
            else:
                return
            self.close_training()
            self.exit()

        self.push_screen(QuitScreen(run.run_dir.name), chosen)

    async def stop_and_wait(self: LinregApp, timeout: float = 5.0) -> None:
        """Stop the run and wait (at most ``timeout`` s) until its RunFinished is filed."""
        import asyncio

        run = self.run_handle
        if run is None:
            return
        run.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and self.follower is not None:
            await asyncio.sleep(0.02)
