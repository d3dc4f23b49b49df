"""The dashboard's run keys (s start, a attach, q quit) and the worker that follows the run.

A :class:`RunFlow` is a small controller the app owns, as it owns the
:class:`~tui.painter.Painter`: the :class:`~tui.session.RunSession` decides (start, attach,
leave, each answering with a :class:`~tui.session.Notice`), the flow wires the answer into the
app: a new follower is followed in the app's one ``training`` worker, each notice is told
(``tell``, the app's top bar and toasts), the end of a run followed live is announced once
(:mod:`tui.alerts`), and quit asks first while a run goes. It knows the app only as a Textual
:class:`~textual.app.App` (workers, screens, exit), never the dashboard's class, so the app
imports it and nothing imports the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from typing import Any, Protocol

from textual.app import App
from textual.css.query import NoMatches

from tui.alerts import announce_end
from tui.screens import QuitScreen
from tui.session import Notice, RunSession
from tui.spare import SpareKeeper
from tui.widgets.settings import SettingsPanel


class Tell(Protocol):
    """Shows a session's notice (the app's :meth:`~tui.app.LinregApp.tell`)."""

    def __call__(self, notice: Notice, *, toast: bool = True) -> None: ...


class RunFlow:
    """Turns the run keys into calls on ``session`` and follows the run it starts or attaches."""

    def __init__(self, app: App[Any], session: RunSession, spare: SpareKeeper, tell: Tell) -> None:
        self.app, self.session, self.spare, self.tell = app, session, spare, tell
        self.alerted: object = None
        """The RunFinished the last alert (bell, notification) was for."""

    @property
    def settings(self) -> SettingsPanel:
        return self.app.query_one(SettingsPanel)

    def mount(self) -> None:
        """After the first frame: hangup handler, then the watched run, or a spare trainer."""
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._hangup)
        self.settings.disabled = self.session.watch_dir is not None
        notice = self.session.open()
        self.spare.prepare()
        if self.session.watch_dir is not None:
            self.follow()  # (a key may have started a run already: that one is followed)
        elif notice is not None:
            self.tell(notice)

    def _hangup(self) -> None:
        self.session.hangup()
        self.app.exit(return_code=128 + signal.SIGHUP)

    def start(self) -> None:
        """Start a run with the form's settings (refused, naming the field, if one is bad)."""
        following = self.session.follower
        notice = self.session.start(self.settings.build_config)
        if self.session.follower is not following:
            self.app.clear_notifications()  # the last run's toasts are stale now
            self.settings.border_subtitle = ""
            self.follow()
        self.tell(notice)

    def attach(self) -> None:
        """Follow a run in progress that this dashboard did not start."""
        following = self.session.follower
        self.tell(self.session.attach())
        if self.session.follower is not following:
            self.follow()

    def quit(self) -> None:
        """Leave at once when no run is going; otherwise ask: stop it, or leave it running."""
        trainer = self.session.trainer
        if trainer is None or not trainer.alive():
            self.session.close()
            self.app.exit()
            return

        def chosen(choice: str | None) -> None:
            if choice in ("stop", "leave"):
                self.session.leave(stop=choice == "stop")
                self.app.exit()

        self.app.push_screen(QuitScreen(trainer.run_dir.name), chosen)

    def follow(self) -> None:
        """Follow the session's follower in the app's ``training`` worker (exclusive: a new
        run's follow replaces the last one's)."""
        self.app.run_worker(
            self._follow, name="follow", group="training", exclusive=True, exit_on_error=False
        )

    async def _follow(self) -> None:
        """Show what the session says while it files the run's events into the history.

        What the dashboard holds so far (Textual's widgets, the imported modules: ~90k objects)
        lives as long as the app, so it is moved out of the cyclic garbage collector's reach
        (``gc.freeze``): a full collection during a run then scans only what the run added,
        where it paused the event loop 75-100 ms three times in a 20 s run before.
        """
        gc.freeze()
        try:
            async for notice in self.session.follow():
                live = self.session.trainer is not None  # (not a finished run's replay)
                fin = self.session.history.finished
                ending = live and fin is not None and fin is not self.alerted
                self.tell(notice, toast=not ending)  # the ending's toast is the alert's own
                self._alert_end(live)
        finally:
            with contextlib.suppress(NoMatches):  # the app may be shutting down
                self.settings.border_subtitle = ""
                self.session.spare()  # (not while watching)
                self.spare.prepare()

    def _alert_end(self, live: bool) -> None:
        """A run followed live has ended (completed, early-stopped, diverged, stopped): a toast,
        and the bell and desktop notification of :mod:`tui.alerts` (LINREG_TUI_ALERT)."""
        fin = self.session.history.finished
        if fin is None or fin is self.alerted or not live:
            return
        self.alerted = fin
        announce_end(self.app, fin, self.session.shown_run or "run")
