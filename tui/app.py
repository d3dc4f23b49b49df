"""The dashboard app and its factory ``make_app`` (used by the CLI and by every test).

The app lays the panels out and turns keys into calls on what owns what they act on: runs on
the :class:`~tui.session.RunSession` (a trainer process of their own) through the
:class:`~tui.run_flow.RunFlow` (which follows the run in one async worker and announces its
end), plot keys on the :class:`~tui.widgets.plot.LossPlot`, messages on the
:class:`~tui.widgets.lines.TopBar` (one row) and in toasts, presets on :mod:`tui.preset_flow`,
the other screens on :mod:`tui.open_screens`; the :class:`~tui.painter.Painter` draws. Those
are plain functions and objects the app owns, knowing it only as a Textual ``App``: no mixins,
and nothing imports this module but the CLI. torch is never imported here: the first frame
paints first, then a child process says which devices exist (:mod:`tui.devices`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Input

from engine.runs.store import runs_dir
from tui.devices import available_devices
from tui.keys import escape_then, key_after_escape
from tui.messages import Note, PresetChosen, SettingsEdited, plain
from tui.open_screens import help_allowed, open_help, open_lab, open_runs, open_sweep
from tui.painter import Painter
from tui.preset_flow import choose_preset, reset_preset, save_as_preset
from tui.run_flow import RunFlow
from tui.session import Notice, RunSession
from tui.spare import CHECK_S, SpareKeeper
from tui.widgets.lines import TopBar
from tui.widgets.plot import LossPlot
from tui.widgets.plot_keys import PLOT_NAV_KEYS
from tui.widgets.run_panels import run_panels
from tui.widgets.settings import NEXT_RUN_NOTE, SettingsPanel

ERROR_TOAST_S = 8.0
"""An error's toast stays this long (the top bar keeps its first row until the next message)."""


class LinregApp(App[None]):
    """Settings on the left; formula, live loss plot, early stopping and run stats on the right."""

    CSS_PATH = "app.tcss"
    TITLE = "linreg-tui"
    ENABLE_COMMAND_PALETTE = False
    AUTO_FOCUS = "#plot"
    HORIZONTAL_BREAKPOINTS = [(0, "-tiny"), (70, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    PLOT_KEYS = Binding.Group("Plot", compact=True)
    """l, m and z share one footer item ("lmz Plot"): at 80 columns there is no room for
    three, and the h (Runs) and w (Sweep) screens still need theirs. Help and quit come
    before save and reset, so a footer cut at 60 columns still shows them."""
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("s", "start_refused", "Start", show=False),  # says why s cannot start now
        Binding("x", "stop", "Stop"),
        Binding("p", "pause", "Pause"),
        Binding("p", "resume", "Resume"),  # one of the two shows (Painter.offers)
        Binding("a", "attach", "Attach"),
        Binding("l", "log_y", "Log-y", group=PLOT_KEYS),
        Binding("m", "smooth", "Smooth", group=PLOT_KEYS),
        Binding("z", "window", "Window", group=PLOT_KEYS),
        *PLOT_NAV_KEYS,
        Binding("question_mark", "help", "Help", key_display="?", priority=True),  # any screen
        Binding("q", "quit", "Quit"),
        Binding("h", "runs", "Runs"),
        Binding("w", "sweep", "Sweep"),
        Binding(
            "i", "lab", "Lab", tooltip="the loss lab: shape, influence, landscape, path, boundary"
        ),
        Binding("ctrl+s", "save", "Save"),
        Binding("r", "reset", "Reset"),
        Binding("escape", "leave_field", "Leave field"),
    ]

    def __init__(
        self,
        preset: str = "default",
        overrides: list[str] | None = None,
        *,
        frozen_clock: bool = False,
        runs_root: Path | None = None,
        watch: Path | None = None,
        warm_trainer: bool = False,
    ) -> None:
        super().__init__()
        self.session = RunSession(runs_root or runs_dir(), watch=watch, warm_trainer=warm_trainer)
        self.preset = preset
        self.overrides = list(overrides or [])
        self.frozen_clock = frozen_clock
        self.painter = Painter(self, self.session, frozen_clock=frozen_clock)
        self.torch_at_mount: bool | None = None
        self.spare = SpareKeeper(self.session, lambda: self.settings.form.values())
        """Keeps a spare trainer while the dashboard is in use (see :mod:`tui.spare`)."""
        self.run_flow = RunFlow(self, self.session, self.spare, self.tell)
        """The run keys and the worker following the run (see :mod:`tui.run_flow`)."""

    @property
    def detached(self) -> Path | None:
        """The run left going in the background by quit (the CLI says how to come back)."""
        return self.session.detached

    @property
    def settings(self) -> SettingsPanel:
        return self.query_one(SettingsPanel)

    @property
    def plot(self) -> LossPlot:
        return self.query_one("#plot", LossPlot)

    # -- layout and lifetime ------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield TopBar(id="topbar")
        with Horizontal(id="body"):
            yield SettingsPanel(self.preset, self.overrides, id="settings")
            with Vertical(id="main"):
                yield from run_panels()
        yield Footer(compact=True)  # every state's keys fit 80 columns (see app.tcss)

    def on_mount(self) -> None:
        self.torch_at_mount = "torch" in sys.modules
        if self.frozen_clock:
            for field in self.query(Input):
                field.cursor_blink = False
        self.query_one(TopBar).say("ready: s starts · ? help")
        self.painter.start()
        self.call_after_refresh(self._load_devices)
        self.call_after_refresh(self.run_flow.mount)
        self.set_interval(CHECK_S, self.spare.idle)

    def on_unmount(self) -> None:
        self.session.close()

    @work(group="devices", exit_on_error=False)
    async def _load_devices(self) -> None:
        devices = await available_devices()
        if devices is not None:
            self.settings.set_devices(devices)

    # -- runs (what the keys do: tui.run_flow) ----------------------------------------------
    def tell(self, notice: Notice, *, toast: bool = True) -> None:
        """Show the session's ``notice`` in the top bar (a failed start's also at its field)."""
        if notice.field is not None:
            self.settings.mark(*notice.field)
        self.say(notice.text, error=notice.error, toast=toast)

    def action_start(self) -> None:
        """Start a run with the form's settings (refused, naming the field, if one is bad)."""
        self.run_flow.start()

    def action_start_refused(self) -> None:
        """s while a run goes or one is watched: not in the footer, but it says why."""
        self.run_flow.start()

    def action_stop(self) -> None:
        self.tell(self.session.stop())

    def action_pause(self) -> None:
        self.tell(self.session.pause())

    def action_resume(self) -> None:
        self.tell(self.session.pause())  # p toggles: Resume shows while paused

    def action_attach(self) -> None:
        self.run_flow.attach()

    async def action_quit(self) -> None:
        """Leave at once when no run is going; otherwise ask: stop it, or leave it running."""
        self.run_flow.quit()

    # -- the top bar and the plot's keys ------------------------------------------------------
    def say(self, text: str, *, error: bool = False, toast: bool = True) -> None:
        """Put a message in the top bar, one row (errors in red), and an error also in a toast
        that shows it whole, without Python's reprs (:func:`~tui.messages.plain`), unless
        ``toast`` is False (one is shown already); the dashboard keeps running."""
        text = plain(text)
        self.query_one(TopBar).say(text, error=error)
        if error and toast:
            self.notify(text, severity="error", timeout=ERROR_TOAST_S, markup=False)
        self.painter.draw_topbar()
        self.painter.dirty = True  # what it says may go with a change the panels show

    def clear_error(self) -> None:
        """Forget a stale error (its field was edited, or a run started): the top bar's and
        its toasts."""
        bar = self.query_one(TopBar)
        if bar.error:
            bar.say("")
            self.clear_notifications()
            self.painter.draw_topbar()

    def flash(self, text: str) -> None:
        self.query_one(TopBar).flash(text)  # a passing note: the message it covers comes back

    def action_log_y(self) -> None:
        self.flash(self.plot.toggle_log_y())
        self.painter.draw_now()

    def action_smooth(self) -> None:
        self.flash(self.plot.next_smoothing())
        self.painter.draw_now()

    async def action_plot_key(self, action: str) -> None:
        """One of the plot's navigation keys, pressed while something else has focus."""
        await self.plot.run_action(action)

    def action_window(self) -> None:
        note = self.plot.next_window(self.session.history.n_epochs)
        self.flash(note or "the plot already shows every epoch (z windows runs over 100 epochs)")
        if note:
            self.painter.draw_now()

    # -- settings -----------------------------------------------------------------------------
    @on(SettingsEdited)
    def _settings_edited(self, message: SettingsEdited) -> None:
        if self.session.follower is not None:
            self.settings.border_subtitle = NEXT_RUN_NOTE
        self.clear_error()  # what it said about the settings is out of date
        self.spare.prepare()  # (the loss or optimizer may now need torch.optim)
        self.painter.draw_formula()
        self.painter.dirty = True

    @on(PresetChosen)
    def _preset_chosen(self, message: PresetChosen) -> None:
        choose_preset(self.settings, message.name, running=self.session.follower is not None)

    @on(Note)
    def _note(self, message: Note) -> None:
        if message.passing:
            self.flash(message.text)
        else:
            self.say(message.text, error=message.error)

    def action_reset(self) -> None:
        reset_preset(self.settings)

    def action_save(self) -> None:
        save_as_preset(self.settings)

    # -- other screens (built in tui.open_screens) and keys -----------------------------------
    def action_help(self) -> None:
        open_help(self, self.session)

    def action_runs(self) -> None:
        open_runs(self, self.session, frozen_clock=self.frozen_clock)

    def action_sweep(self) -> None:
        open_sweep(self, self.session)

    def action_lab(self) -> None:
        open_lab(self, self.session)

    def action_leave_field(self) -> None:
        self.plot.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "help":  # on the runs and sweep screens too; a field types its "?"
            return help_allowed(self)
        return self.painter.offers(action)

    async def on_event(self, event: events.Event) -> None:
        """Read ``alt+<key>`` as Esc then the key (see :mod:`tui.keys`); any input brings the
        spare trainer back after an idle spell."""
        if isinstance(event, (events.Key, events.MouseDown)) and self.is_running:
            self.spare.touched()
        after = key_after_escape(event) if isinstance(event, events.Key) else None
        if after is None:
            await super().on_event(event)
        else:
            await escape_then(self, after)

    def on_resize(self, event: events.Resize) -> None:
        """A resize can show panels (Coefficients, Metrics) that were hidden: draw them now."""
        self.painter.dirty = True


def make_app(
    preset: str = "default",
    overrides: list[str] | None = None,
    *,
    frozen_clock: bool = False,
    runs_root: Path | None = None,
    watch: Path | None = None,
    warm_trainer: bool = False,
) -> LinregApp:
    """Build the dashboard on ``preset`` with ``--set`` overrides.

    ``frozen_clock`` hides elapsed time, speed and the device's model name and stops the cursor
    blinking, so screenshots of the same run are identical on every machine. ``runs_root`` is
    where runs are kept (default :func:`engine.runs.store.runs_dir`); ``watch`` opens the dashboard
    on that run directory, read-only; ``warm_trainer`` keeps a spare trainer process with torch
    imported, so ``s`` trains at once (the CLI turns it on; tests that do not time a start
    leave it off to save a process per test).
    """
    return LinregApp(
        preset,
        overrides,
        frozen_clock=frozen_clock,
        runs_root=runs_root,
        watch=watch,
        warm_trainer=warm_trainer,
    )
