"""Drawing the dashboard from its run session: every panel, the top bar and the footer's keys.

A 10 Hz timer calls :meth:`Painter.tick`, which draws only when something changed (the session
filed an event, the form was edited, the screen was resized): every widget of the dashboard that
follows the :class:`~tui.view.HistoryPanel` protocol draws itself from the run history and a
:class:`~tui.view.View` of the app's state. A key's effect is drawn at once
(:meth:`Painter.draw_now`), and tests wait for a whole draw (:meth:`Painter.redraw_now`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual.app import App
from textual.css.query import NoMatches
from textual.widget import Widget

from tui.session import RunSession
from tui.shown_run import form_label, short_run_name
from tui.view import HistoryPanel, View
from tui.widgets.lines import FormulaLine, TopBar
from tui.widgets.plot import LossPlot
from tui.widgets.settings import SettingsPanel

REDRAW_HZ = 10


class Painter:
    """Draws the dashboard ``app``'s default screen from ``session``, at most REDRAW_HZ a second."""

    def __init__(self, app: App[Any], session: RunSession, *, frozen_clock: bool) -> None:
        self.app, self.session, self.frozen_clock = app, session, frozen_clock
        self.dirty = True
        """Something besides the session changed (an edit, a resize): draw at the next tick."""
        self._drawn: tuple[int, bool] | None = None
        """The session's change count and whether the details were shown, at the last draw."""
        self._panels: list[HistoryPanel] | None = None
        self._footer_state: tuple[object, ...] = ()

    def start(self) -> None:
        """The formula line now, then a draw at each tick."""
        self.draw_formula()
        self.app.set_interval(1 / REDRAW_HZ, self.tick)

    @property
    def settings(self) -> SettingsPanel:
        return self.app.query_one(SettingsPanel)

    @property
    def plot(self) -> LossPlot:
        return self.app.query_one("#plot", LossPlot)

    def tick(self) -> None:
        """Redraw everything that depends on the run, when something changed.

        The timer can still fire while the app shuts down and its widgets are being removed
        (a run that ended just before quit changed the session): then there is nothing left to
        draw, and a NoMatches must not turn a clean quit into an error.
        """
        try:
            # The breakpoint classes that show Coefficients/Metrics apply a frame after the
            # resize itself, so a change in what is shown also asks for a draw.
            drawn = (self.session.changes, self.app.query_one("#details").display)
            if not self.dirty and drawn == self._drawn:
                return
            self.dirty, self._drawn = False, drawn
            self.draw_all()
        except NoMatches:
            if self.app.is_running:  # set False as soon as shutdown begins
                raise

    def view(self) -> View:
        """The app's state as the panels need it (see :class:`tui.view.View`)."""
        form, plot, trainer = self.settings.form, self.plot, self.session.trainer
        es = {
            k.split(".", 1)[1]: v
            for k, v in form.values().items()
            if k.startswith("early_stopping.")
        }
        size = self.app.size
        return View(
            running=self.session.follower is not None,
            paused=bool(trainer and trainer.paused),
            frozen_clock=self.frozen_clock,
            wide=size.width >= 100,
            rows=size.height,
            details_shown=self.app.query_one("#details").display,
            log_y=plot.log_y,
            smoothing=plot.smoothing,
            window=plot.window,
            next_early_stopping=es,
            next_loss_formula=form.loss_formula(),
            next_loss=form.loss_config(),
        )

    def draw_all(self) -> None:
        """Every panel on screen (found by the HistoryPanel protocol), the top bar and the
        footer's keys."""
        view = self.view()
        if not self._panels:  # the main screen's panels never change: found once
            self._panels = list(self.app.screen_stack[0].query("*").results(HistoryPanel))
        for panel in self._panels:
            if _on_screen(panel):
                panel.render_history(self.session.history, view)
        self.dirty = self.dirty or self.plot.pending  # the plot owes a newer frame
        self.draw_topbar()
        self._refresh_footer()

    def draw_formula(self) -> None:
        """The formula line alone, at once (after each edit of the form)."""
        self.app.query_one(FormulaLine).render_history(self.session.history, self.view())

    def shown_label(self) -> str | None:
        """``showing default-021516 (lr=0.05)`` while the form no longer matches the run on
        screen (another preset picked, or fields edited after it), else None."""
        started, session = self.session.history.started, self.session
        if started is None:
            return None
        if session.watch_dir is not None:  # the form is the run's own, and read-only
            name = str(started.config.get("name"))
            return f"showing {short_run_name(session.shown_run, name)}"
        settings = self.settings
        return form_label(settings.form, settings.preset, started.config, session.shown_run)

    def draw_topbar(self) -> None:
        settings = self.settings
        shown = self.shown_label() or (settings.preset + ("*" if settings.modified else ""))
        self.app.query_one(TopBar).show(shown, self.session.state, self.session.warnings)

    def offers(self, action: str) -> bool:
        """The app's ``check_action``: keys that do nothing now are not offered (and do
        nothing): stop without a run of ours, pause while paused and resume while not, attach
        without a run to attach to, the plot keys before a curve, reset and save with nothing
        to reset or save. Start shows only when it can start: while a run goes or a run is
        watched, ``s`` goes to ``start_refused`` (not in the footer), which says why. Esc shows
        only while a field takes letter keys (it is how s/x/p/q return); at 80 columns the
        footer has no room for a key that does nothing."""
        session, watching = self.session, self.session.watch_dir is not None
        if action in ("start", "start_refused"):
            return (session.start_refused() is None) == (action == "start")
        if action == "leave_field":
            focused = self.app.focused
            return focused is not None and focused.check_consume_key("s", "s")
        if action == "attach":
            return not watching and session.follower is None and bool(session.runs_in_progress())
        if action == "stop":
            return session.trainer is not None
        if action in ("pause", "resume"):
            trainer = session.trainer
            return trainer is not None and trainer.paused == (action == "resume")
        if action in ("log_y", "smooth", "window"):
            return session.history.started is not None
        if action == "reset":
            return not watching and bool(self.app.query(SettingsPanel)) and self.settings.modified
        if action == "save":
            return not watching
        return True

    def _refresh_footer(self) -> None:
        """Re-ask the app's check_action when what it depends on has changed (not at every
        draw)."""
        session = self.session
        state = (
            session.trainer is not None,
            bool(session.trainer and session.trainer.paused),
            session.follower is not None,
            session.history.started is not None,
            self.settings.modified,
        )
        if state != self._footer_state:
            self._footer_state = state
            self.app.refresh_bindings()

    def draw_now(self) -> None:
        """Draw everything for a key's effect: the cheap lines (the top bar's note) paint in
        this frame, the panels and the plot right after it — not at the plot's run-time pace
        (:data:`~tui.widgets.plot.PLOT_EVERY_S`), and not holding the key's answer back by a
        plotext build."""
        self.draw_topbar()

        def draw() -> None:
            self.plot.next_plot_at = 0.0
            self.draw_all()

        self.app.call_after_refresh(draw)

    async def redraw_now(self) -> None:
        """Draw everything from the run history now and wait until the screen has refreshed.

        For tests (and anything that files events itself): the redraw timer would draw them
        within a frame (the plot within ``PLOT_EVERY_S``), this says when.
        """

        async def refreshed() -> None:
            done = asyncio.Event()
            self.app.call_after_refresh(done.set)
            await done.wait()

        for _ in range(2):  # the second pass draws at the sizes the first one's layout gave
            self.dirty = True
            self.plot.next_plot_at = 0.0
            self.tick()
            await refreshed()
            if self.plot.building:  # a live plot's frame from its thread, then painted
                await self.plot.settled()
                await refreshed()


def _on_screen(widget: Widget) -> bool:
    """Whether a widget and every container above it are displayed (the Coefficients and
    Metrics panels are not below 32 rows, so they are not drawn there)."""
    return all(node.display for node in widget.ancestors_with_self if isinstance(node, Widget))
