"""The dashboard app and its factory ``make_app`` (used by the CLI and by every test).

Training runs in a trainer process of its own (:mod:`tui.training`); one async worker follows
its run directory and files events into the run history, and a 10 Hz timer redraws, when
something changed, every panel that follows the :class:`~tui.view.HistoryPanel` protocol. torch
is never imported at module import: the first frame paints first, then a thread worker asks the
engine which devices exist.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import sys
from pathlib import Path
from typing import Any

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Footer, Input

from engine.config import ConfigError
from engine.config.presets import save_preset, user_dir
from engine.runs.store import runs_dir

from tui.form import FieldError
from tui.history import RunHistory
from tui.keys import key_after_escape
from tui.messages import PresetChosen, PresetSaved, SettingsEdited
from tui.screens import DiscardEditsScreen, HelpScreen, SavePresetScreen
from tui.shown_run import short_run_name, shown_run_label
from tui.plot_keys import PlotKeysMixin
from tui.training import TrainingMixin
from tui.view import HistoryPanel, View
from tui.widgets.lines import FormulaLine, TopBar
from tui.widgets.plot import LossPlot
from tui.widgets.run_panels import run_panels
from tui.widgets.settings import NEXT_RUN_NOTE, SettingsPanel

REDRAW_HZ = 10


class LinregApp(TrainingMixin, PlotKeysMixin, App[None]):
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
        Binding("x", "stop", "Stop"),
        Binding("p", "pause", "Pause"),
        Binding("a", "attach", "Attach"),
        Binding("l", "log_y", "Log-y", group=PLOT_KEYS),
        Binding("m", "smooth", "Smooth", group=PLOT_KEYS),
        Binding("z", "window", "Window", group=PLOT_KEYS),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("h", "runs", "Runs"),
        Binding("w", "sweep", "Sweep"),
        Binding("ctrl+s", "save", "Save"),
        Binding("r", "reset", "Reset"),
        Binding("escape", "leave_field", "Leave field"),
    ]

    def __init__(self, preset: str = "default", overrides: list[str] | None = None, *,
                 frozen_clock: bool = False, runs_root: Path | None = None,
                 watch: Path | None = None, warm_trainer: bool = False) -> None:
        super().__init__()
        self.init_training(runs_root or runs_dir(), watch, warm_trainer)
        self.preset = preset
        self.overrides = list(overrides or [])
        self.frozen_clock = frozen_clock
        self.history = RunHistory()
        self.init_plot_keys()
        self._dirty = True
        self._panels: list[HistoryPanel] | None = None
        self._drawn_tall: bool | None = None
        self._footer_state: tuple[object, ...] = ()
        self.torch_at_mount: bool | None = None
        self.shown_run: str | None = None
        """The run directory's name of the run on screen (the top bar names it when stale)."""
        self.run_warnings: list[str] = []
        """The warnings of the current (or last) run; the top bar counts them, help lists them."""

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield TopBar(id="topbar")
        with Horizontal(id="body"):
            yield SettingsPanel(self.preset, self.overrides, id="settings")
            with Vertical(id="main"):
                yield from run_panels()
        yield Footer(compact=True)  # every state's keys fit 80 columns (see app.tcss)

    @property
    def settings(self) -> SettingsPanel:
        return self.query_one(SettingsPanel)

    @property
    def plot(self) -> LossPlot:
        return self.query_one(LossPlot)

    def on_mount(self) -> None:
        self.torch_at_mount = "torch" in sys.modules
        if self.frozen_clock:
            for field in self.query(Input):
                field.cursor_blink = False
        self._status, self._status_error = "ready: s starts · ? help", False
        self._draw_formula()
        self.set_interval(1 / REDRAW_HZ, self._redraw)
        self.call_after_refresh(self._load_devices)
        self.call_after_refresh(self.mount_training)

    def _follow_run(self, run_dir: Path, **how: Any) -> None:
        """Remember which run directory the screen shows, then follow it (tui.training).

        What the dashboard holds so far (Textual's widgets, the imported modules: ~90k objects)
        lives as long as the app, so it is moved out of the cyclic garbage collector's reach
        (``gc.freeze``): a full collection during a run then scans only what the run added,
        where it paused the event loop 75-100 ms three times in a 20 s run before.
        """
        gc.freeze()
        self.shown_run = run_dir.name
        super()._follow_run(run_dir, **how)

    def on_unmount(self) -> None:
        self.close_training()

    # -- devices (torch is asked in a child process: this one never imports it) ---------------
    @work(group="devices", exit_on_error=False)
    async def _load_devices(self) -> None:
        """Ask a short-lived child which devices exist, so the dashboard process never imports
        torch (seconds of start-up, and an exit that would wait for it)."""
        code = ("import json; from engine.training.device import available_devices; "
                "print(json.dumps(available_devices()))")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, cwd=str(Path(__file__).resolve().parents[1]))
        try:
            out, _ = await proc.communicate()
        except asyncio.CancelledError:
            proc.kill()
            await proc.wait()
            raise
        if proc.returncode == 0:
            self.settings.set_devices([tuple(d) for d in json.loads(out)])

    # -- drawing ------------------------------------------------------------------------------
    def say(self, text: str, *, error: bool = False) -> None:
        """Put a message in the top bar (errors in red); the dashboard keeps running."""
        self.drop_flash()
        self._status = text
        self._status_error = error
        self._dirty = True
        self._draw_topbar()

    def _state(self) -> str:
        run = self.run_handle
        if self.follower is not None and self.history.started is None:
            return "starting"
        if run is not None:
            return "paused" if run.paused else "running"
        if self.follower is not None:
            return "watching"
        fin = self.history.finished
        return f"finished ({fin.reason})" if fin else "idle"

    def shown_label(self) -> str | None:
        """``showing default-021516 (lr=0.05)`` while the form no longer matches the run on
        screen (another preset picked, or fields edited after it), else None."""
        started = self.history.started
        if started is None:
            return None
        if self.watch_dir is not None:  # the form is the run's own, and read-only
            return f"showing {short_run_name(self.shown_run, str(started.config.get('name')))}"
        form = self.settings.form
        values = form.values()
        loss = form.loss_config()  # a callable's path made absolute, as the run's config has it
        for key in ("callable", "terms", "params"):
            if loss is not None and f"loss.{key}" in values:
                values[f"loss.{key}"] = loss.get(key)
        return shown_run_label(values, lambda key: form.applies(key, values),
                               self.settings.preset, started.config, self.shown_run)

    def _draw_topbar(self) -> None:
        settings = self.settings
        shown = self.shown_label() or (settings.preset + ("*" if settings.modified else ""))
        message, error = self._status, self._status_error
        if self._flash is not None:
            message, error = self._flash, False
        self.query_one(TopBar).show(shown, self._state(), self.run_warnings, message,
                                    error=error)

    def _draw_formula(self) -> None:
        """The formula line alone, at once (after each edit of the form)."""
        self.query_one(FormulaLine).render_history(self.history, self.view())

    def _redraw(self) -> None:
        """Redraw everything that depends on the run, at most REDRAW_HZ times a second.

        The timer can still fire while the app shuts down and its widgets are being removed
        (a run that ended just before quit marks the screen dirty): then there is nothing left
        to draw, and a NoMatches must not turn a clean quit into an error.
        """
        try:
            # The breakpoint classes that show Coefficients/Metrics apply a frame after the
            # resize itself, so a change in what is shown also asks for a draw.
            tall = self.query_one("#details").display
            if not self._dirty and tall == self._drawn_tall:
                return
            self._dirty = False
            self._drawn_tall = tall
            self._draw_all()
        except NoMatches:
            if self.is_running:  # set False as soon as shutdown begins
                raise

    def view(self) -> View:
        """The app's state as the panels need it (see :class:`tui.view.View`)."""
        values = self.settings.form.values()
        es = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("early_stopping.")}
        run = self.run_handle
        return View(running=self.follower is not None, paused=bool(run and run.paused),
                    frozen_clock=self.frozen_clock, wide=self.size.width >= 100,
                    rows=self.size.height,
                    details_shown=self.query_one("#details").display, log_y=self.log_y,
                    smoothing=self.smoothing, window=self.window, next_early_stopping=es,
                    next_loss_formula=self.settings.form.loss_formula(),
                    next_loss=self.settings.form.loss_config())

    def _draw_all(self) -> None:
        """Every panel on screen (found by the HistoryPanel protocol) and the top bar."""
        view = self.view()
        if not self._panels:  # the main screen's panels never change: found once
            self._panels = list(self.screen_stack[0].query("*").results(HistoryPanel))
        for panel in self._panels:
            if _on_screen(panel):
                panel.render_history(self.history, view)
        self._dirty = self._dirty or self.plot.pending  # the plot owes a newer frame
        self._draw_topbar()
        self._refresh_footer()

    def draw_now(self) -> None:
        """Draw everything for a key's effect: the cheap lines (the top bar's note) paint in
        this frame, the panels and the plot right after it — not at the plot's run-time pace
        (:data:`~tui.widgets.plot.PLOT_EVERY_S`), and not holding the key's answer back by a
        plotext build."""
        self._draw_topbar()

        def draw() -> None:
            self.plot.next_plot_at = 0.0
            self._draw_all()

        self.call_after_refresh(draw)

    async def redraw_now(self) -> None:
        """Draw everything from the run history now and wait until the screen has refreshed.

        For tests (and anything that files events itself): the redraw timer would draw them
        within a frame (the plot within ``PLOT_EVERY_S``), this says when.
        """
        async def refreshed() -> None:
            done = asyncio.Event()
            self.call_after_refresh(done.set)
            await done.wait()

        for _ in range(2):  # the second pass draws at the sizes the first one's layout gave
            self._dirty = True
            self.plot.next_plot_at = 0.0
            self._redraw()
            await refreshed()
            if self.plot.building:  # a live plot's frame from its thread, then painted
                await self.plot.settled()
                await refreshed()

    # -- settings -----------------------------------------------------------------------------
    @on(SettingsEdited)
    def _settings_edited(self, message: SettingsEdited) -> None:
        if self.follower is not None:
            self.settings.border_subtitle = NEXT_RUN_NOTE
        self._draw_formula()
        self._dirty = True

    @on(PresetChosen)
    def _preset_chosen(self, message: PresetChosen) -> None:
        """Load the picked preset; with edits in the form, ask first (y discards, n keeps)."""
        edited = sorted(self.settings.form.modified())
        if not edited:
            self._load_chosen(message.name)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self._load_chosen(message.name)
            else:
                self.settings.refresh_presets()  # the selector shows the form's preset again
                self.flash(f"kept your edits to {self.settings.preset}")

        labels = [self.settings.form.field(k).label for k in edited]
        self.push_screen(DiscardEditsScreen(self.settings.preset, message.name, labels),
                         answered)

    def _load_chosen(self, name: str) -> None:
        try:
            self.settings.load_preset(name)
        except ConfigError as exc:
            self.settings.refresh_presets()
            self.say(f"cannot load preset — {exc}", error=True)
            return
        note = " (the running run keeps its settings)" if self.follower else ""
        self.say(f"loaded preset {name}{note}")
        self._settings_edited(SettingsEdited("preset"))

    def action_reset(self) -> None:
        try:
            self.settings.load_preset(self.settings.preset)
        except ConfigError as exc:
            self.say(f"cannot reload preset — {exc}", error=True)
            return
        self.say(f"settings reset to preset {self.settings.preset}")
        self._settings_edited(SettingsEdited("preset"))

    def action_save(self) -> None:
        try:
            cfg = self.settings.build_config()
        except FieldError as exc:
            self.say(f"save refused — {exc}", error=True)
            return

        def save(name: str, overwrite: bool, description: str) -> Any:
            return save_preset(dataclasses.replace(cfg, description=description), name,
                               overwrite=overwrite)

        def done(path: str | None) -> None:
            if path is not None:
                self.post_message(PresetSaved(Path(path).stem, path))

        suggestion = "" if self.settings.is_bundled() else self.settings.preset
        self.push_screen(SavePresetScreen(save, user_dir(), suggestion,
                                          self.settings.description_to_save()), done)

    @on(PresetSaved)
    def _preset_saved(self, message: PresetSaved) -> None:
        self.settings.refresh_presets(select=message.name)
        self.settings.load_preset(message.name)
        self.say(f"saved preset {message.name} to {message.path}")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.run_warnings))

    def action_leave_field(self) -> None:
        self.plot.focus()

    def action_sweep(self) -> None:
        """The sweep screen (Optuna is imported there, never at start-up)."""
        from tui.sweep_screen import SweepScreen

        self.push_screen(SweepScreen.for_app(self))

    def action_runs(self) -> None:
        """The runs screen: past runs to open, compare, or load settings from."""
        from tui.runs_screen import RunsScreen

        self.push_screen(RunsScreen(self.runs_root))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Esc shows in the footer while a field takes letter keys (it is how s/x/p/q return).

        Only then: with the plot, a list or a checkbox focused the letter keys work as they are,
        and at 80 columns the footer has no room to spare for a key that does nothing.
        """
        if action == "leave_field":
            focused = self.focused
            return focused is not None and focused.check_consume_key("s", "s")
        if action == "attach":
            return self.watch_dir is None and self.follower is None and \
                bool(self.runs_in_progress())
        return self._footer_shows(action)

    def _footer_shows(self, action: str) -> bool:
        """Keys that do nothing now are not offered (and do nothing): stop and pause without
        a run of ours, the plot keys before a curve, reset and save with nothing to reset or
        save. Start stays: while a run goes or a run is watched it says why it cannot."""
        ours = self.run_handle is not None
        if action in ("stop", "pause"):
            return ours
        if action in ("log_y", "smooth", "window"):
            return self.history.started is not None
        if action == "reset":
            return self.watch_dir is None and self._has_settings() and self.settings.modified
        if action == "save":
            return self.watch_dir is None
        return True

    def _has_settings(self) -> bool:
        return bool(self.query(SettingsPanel))

    def _refresh_footer(self) -> None:
        """Re-ask check_action when what it depends on has changed (not at every redraw)."""
        state = (self.run_handle is not None, self.follower is not None,
                 self.history.started is not None, self.settings.modified)
        if state != self._footer_state:
            self._footer_state = state
            self.refresh_bindings()

    async def on_event(self, event: events.Event) -> None:
        """Read ``alt+<key>`` as Esc then the key (see :mod:`tui.keys`).

        The Esc is handled to the end first, as a key pressed alone would be (its binding —
        leave the field, cancel a dialog — or the focused widget), and the key is queued after
        the focus change that Esc asked for, so it never lands in the field just left.
        """
        after = key_after_escape(event) if isinstance(event, events.Key) else None
        if after is None:
            await super().on_event(event)
            return
        # (Textual's own key path, split in two: priority bindings, then focused-up bindings.)
        if not (await self._check_bindings("escape", priority=True)
                or await self._check_bindings("escape")):
            (self.focused or self.screen)._forward_event(events.Key("escape", "\x1b"))
        self.post_message(after)

    def on_resize(self, event: events.Resize) -> None:
        """A resize can show panels (Coefficients, Metrics) that were hidden: draw them now."""
        self._dirty = True


def _on_screen(widget: Widget) -> bool:
    """Whether a widget and every container above it are displayed (the Coefficients and
    Metrics panels are not below 32 rows, so they are not drawn there)."""
    return all(node.display for node in widget.ancestors_with_self if isinstance(node, Widget))


def make_app(preset: str = "default", overrides: list[str] | None = None, *,
             frozen_clock: bool = False, runs_root: Path | None = None,
             watch: Path | None = None, warm_trainer: bool = False) -> LinregApp:
    """Build the dashboard on ``preset`` with ``--set`` overrides.

    ``frozen_clock`` hides elapsed time, speed and the device's model name and stops the cursor
    blinking, so screenshots of the same run are identical on every machine. ``runs_root`` is
    where runs are kept (default :func:`engine.runs.store.runs_dir`); ``watch`` opens the dashboard
    on that run directory, read-only; ``warm_trainer`` keeps a spare trainer process with torch
    imported, so ``s`` trains at once (the CLI turns it on; tests that do not time a start
    leave it off to save a process per test).
    """
    return LinregApp(preset, overrides, frozen_clock=frozen_clock, runs_root=runs_root,
                     watch=watch, warm_trainer=warm_trainer)
