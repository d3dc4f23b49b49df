"""The dashboard app and its factory ``make_app`` (used by the CLI and by every test).

Training runs in one exclusive async worker that consumes ``engine.train(cfg)``; the engine does
the torch work in its own thread, so this event loop only files events into the run model and a
15 Hz timer redraws when something changed. torch is never imported at module import: the first
frame paints first, then a thread worker asks the engine which devices exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Footer, Input, Static

from engine.config import Config, ConfigError, parse_loss_section
from engine.events import RunFinished, RunStarted
from engine.presets import save_preset, user_dir
from engine.run import Run, train

from tui.messages import PresetChosen, PresetSaved, RunFailed, SettingsEdited
from tui.model import SMOOTHING_BETAS, RunModel
from tui.screens import HelpScreen, SavePresetScreen
from tui.widgets.panels import (CoefficientsPanel, EarlyStoppingPanel, MetricsPanel,
                                RunStatsPanel)
from tui.widgets.plot import Legend, LossPlot
from tui.widgets.settings import NEXT_RUN_NOTE, FieldError, SettingsPanel, key_in_message

REDRAW_HZ = 15
STOP_WAIT_S = 1.0
"""How long quit waits for a training run to end cleanly (it ends after its current batch)."""
SETUP_STOP_WAIT_S = 0.3
"""How long quit waits for a run still setting up: it stops only at its next check (after
loading data or importing a user loss), so waiting longer would only delay the quit."""


class LinregApp(App[None]):
    """Settings on the left; formula, live loss plot, early stopping and run stats on the right."""

    CSS_PATH = "app.tcss"
    TITLE = "linreg-tui"
    ENABLE_COMMAND_PALETTE = False
    AUTO_FOCUS = "#plot"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("x", "stop", "Stop"),
        Binding("p", "pause", "Pause"),
        Binding("l", "log_y", "Log-y"),
        Binding("m", "smooth", "Smooth"),
        Binding("ctrl+s", "save", "Save"),
        Binding("r", "reset", "Reset"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("escape", "leave_field", "Leave field"),
    ]

    def __init__(self, preset: str = "default", overrides: list[str] | None = None, *,
                 frozen_clock: bool = False) -> None:
        super().__init__()
        self.preset = preset
        self.overrides = list(overrides or [])
        self.frozen_clock = frozen_clock
        self.model = RunModel()
        self.run_handle: Run | None = None
        """The active run (None when idle); set before the worker starts so a second start is
        refused at once."""
        self.last_config: Config | None = None
        self._setting_up = False
        """True from a start until its RunStarted arrives (data loading, user loss import)."""
        self._dirty = True
        self._drawn_tall: bool | None = None
        self._smooth_index = -1
        self.torch_at_mount: bool | None = None
        self.run_warnings: list[str] = []
        """The warnings of the current (or last) run; the top bar counts them, help lists them."""

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("", id="topbar", markup=False)
        with Horizontal(id="body"):
            yield SettingsPanel(self.preset, self.overrides, id="settings")
            with Vertical(id="main"):
                yield Static("", id="formula", markup=False)
                yield Legend(id="legend", markup=False)
                yield LossPlot(self.model, id="plot")
                yield EarlyStoppingPanel(id="early-stopping")
                yield RunStatsPanel(id="stats")
                with Horizontal(id="details"):
                    yield CoefficientsPanel(id="coefficients")
                    yield MetricsPanel(id="metrics")
        yield Footer()

    @property
    def settings(self) -> SettingsPanel:
        return self.query_one(SettingsPanel)

    @property
    def plot(self) -> LossPlot:
        return self.query_one(LossPlot)

    def on_mount(self) -> None:
        self.torch_at_mount = "torch" in sys.modules
        self.query_one("#early-stopping").border_title = "Early stopping"
        self.query_one("#stats").border_title = "Run"
        self.query_one("#coefficients").border_title = "Coefficients"
        self.query_one("#metrics").border_title = "Metrics"
        if self.frozen_clock:
            for field in self.query(Input):
                field.cursor_blink = False
        self._status = "ready: s starts · ? help"
        self._update_formula()
        self.set_interval(1 / REDRAW_HZ, self._redraw)
        self.call_after_refresh(self._load_devices)

    # -- devices (imports torch: after the first frame, in a thread) --------------------------
    @work(thread=True, group="devices", exit_on_error=False)
    def _load_devices(self) -> None:
        from engine.device import available_devices

        devices = available_devices()
        # ``self.settings`` is a DOM query: it must run on the app's thread, inside the lambda
        self.call_from_thread(lambda: self.settings.set_devices(devices))

    # -- drawing ------------------------------------------------------------------------------
    def say(self, text: str, *, error: bool = False) -> None:
        """Put a message in the top bar (errors in red); the dashboard keeps running."""
        self._status = text
        self._status_error = error
        self._dirty = True
        self._draw_topbar()

    def _state(self) -> str:
        run = self.run_handle
        if run is not None:
            return "paused" if run.paused else "running"
        fin = self.model.finished
        return f"finished ({fin.reason})" if fin else "idle"

    def _draw_topbar(self) -> None:
        """Preset, state, the run's warning count and the last message (wraps up to 3 rows).

        Everything is plain text (never markup): messages quote user input and engine text.
        """
        text = Text.assemble(("linreg-tui", "bold"), f" · {self.settings.preset} · ",
                             (self._state(), "bold"))
        n = len(self.run_warnings)
        if n:
            plural = "s" if n > 1 else ""
            text.append(f" · ⚠ {n} warning{plural} (? lists)", style="bold yellow")
        text.append(" │ ")
        text.append(self._status, style="bold red" if getattr(self, "_status_error", False)
                    else "")
        self.query_one("#topbar", Static).update(text)

    def _form_loss(self) -> dict[str, Any] | None:
        """The loss config the form would start with, as plain data (None if a loss field is bad).

        Compared with the running run's ``config["loss"]`` to decide whether the formula line
        needs a "next" row: formula *texts* cannot be compared, as the engine writes a custom
        loss's docstring where the form can only name the callable.
        """
        try:
            values = self.settings.raw_values()
        except FieldError as exc:
            if exc.key is None or exc.key.startswith("loss."):
                return None
            values = self.settings.current_values()  # a bad field elsewhere: not the loss's
        raw = self.settings.merged_raw(values).get("loss") or {}
        try:
            return dataclasses.asdict(parse_loss_section(raw, "settings"))
        except (ConfigError, TypeError, ValueError):
            return None

    def _update_formula(self) -> None:
        """One row when the form's loss is the run's, with the engine's formula once known.

        Before any run the form's description is shown (no user code is imported for it); once
        a run with the same loss has started, the engine's formula (a custom loss's docstring
        and its parameters). Only when a running run's loss differs from the form's does a
        second row say what the next start will use.
        """
        current = self.settings.loss_formula()
        started = self.model.started
        same = started is not None and self._form_loss() == started.config.get("loss")
        if started is not None and same:
            text = f"loss  {started.loss_formula}"
        elif self.run_handle is not None and started is not None:
            text = f"running  {started.loss_formula}\nnext     {current}"
        else:
            text = f"loss  {current}"
        self.query_one("#formula", Static).update(text)

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

    def _draw_all(self) -> None:
        """Every panel, the legend, the top bar, the formula line and the plot, from the model."""
        values = self.settings.current_values()
        es = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("early_stopping.")}
        running = self.run_handle is not None
        self.query_one(EarlyStoppingPanel).show(self.model, es, running=running)
        paused = bool(self.run_handle and self.run_handle.paused)
        wide = self.size.width >= 100
        tall = self.query_one("#details").display
        self.query_one(RunStatsPanel).show(self.model, paused=paused,
                                           frozen_clock=self.frozen_clock,
                                           n_coef=5 if wide else 3, digits=4 if wide else 3,
                                           with_metrics=not tall)
        self.query_one(Legend).show(self.model, self.plot)
        if tall:
            self.query_one(CoefficientsPanel).show(self.model)
            self.query_one(MetricsPanel).show(self.model)
        self._draw_topbar()
        self._update_formula()
        self.plot.replot()

    # -- training -----------------------------------------------------------------------------
    def action_start(self) -> None:
        """Start a run with the form's settings; refuse (naming the field) if one is invalid."""
        if self.run_handle is not None:
            self.say("a run is already going: x stops it, then s starts a new one", error=True)
            return
        try:
            cfg = self.settings.build_config()
        except FieldError as exc:
            where = f"{exc.key}: " if exc.key else ""
            self.say(f"start refused — {where}{exc.reason}", error=True)
            return
        self.last_config = cfg
        self.run_warnings = []
        self._setting_up = True
        self.settings.border_subtitle = ""
        self.run_handle = train(cfg)
        self.say(f"training {cfg.name} · x stops, p pauses")
        self._train(self.run_handle)

    @work(exclusive=True, group="training", exit_on_error=False)
    async def _train(self, run: Run) -> None:
        """Consume the run's events into the model; failures become a RunFailed message."""
        try:
            async for event in run:
                self.model.add(event)
                if isinstance(event, RunStarted):
                    self._setting_up = False
                    self.run_warnings = list(event.warnings)
                    if len(event.warnings) == 1:
                        self.say(f"⚠ {event.warnings[0]}", error=True)
                    elif event.warnings:
                        self.say(f"⚠ {len(event.warnings)} warnings, ? lists them all — "
                                 f"1: {event.warnings[0]}", error=True)
                elif isinstance(event, RunFinished):
                    self.say(event.message, error=event.reason == "diverged")
                self._dirty = True
        except Exception as exc:  # noqa: BLE001 - shown in the app, never a traceback
            text = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
            self.post_message(RunFailed(text, key_in_message(text)))
        finally:
            if self.run_handle is run:
                self.run_handle = None
            with contextlib.suppress(NoMatches):  # gone when the app quit mid-run
                self.settings.border_subtitle = ""
            self._dirty = True

    @on(RunFailed)
    def _run_failed(self, message: RunFailed) -> None:
        self.settings.set_error(message.key, message.text)
        self.say(f"run failed — {message.text}", error=True)

    def action_stop(self) -> None:
        if self.run_handle is None:
            self.say("nothing to stop: s starts a run")
            return
        self.run_handle.stop()
        self.say("stopping…")

    def action_pause(self) -> None:
        run = self.run_handle
        if run is None:
            self.say("nothing to pause: s starts a run")
            return
        if run.paused:
            run.resume()
            self.say("resumed")
        else:
            run.pause()
            self.say("paused: p resumes, x stops")

    async def action_quit(self) -> None:
        """Stop a run and leave within about a second, even while the run is still setting up.

        A run in set-up (loading data, importing torch, checking a user loss) only notices the
        stop at its next check, so quit waits for it only briefly and never blocks the event
        loop: the screen goes back to the shell at once. The process itself still ends only
        when the engine's thread reaches that check (ending the interpreter while a daemon
        thread is inside torch aborts it), which is the engine's to shorten.
        """
        await self.stop_and_wait(SETUP_STOP_WAIT_S if self._setting_up else STOP_WAIT_S)
        self.exit()

    async def stop_and_wait(self, timeout: float = STOP_WAIT_S) -> None:
        """Ask the run to stop and wait (at most ``timeout`` s) for its worker to finish.

        It polls rather than awaiting the worker: cancelling an awaited worker on a timeout
        would cancel the worker itself, whose clean-up then waits for the engine's thread.
        """
        run = self.run_handle
        if run is None:
            return
        run.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and any(
                w.group == "training" and w.is_running for w in self.workers):
            await asyncio.sleep(0.02)

    # -- plot ---------------------------------------------------------------------------------
    def action_log_y(self) -> None:
        self.plot.log_y = not self.plot.log_y
        self.say("log-y on" if self.plot.log_y else "log-y off")
        self.plot.replot()

    def action_smooth(self) -> None:
        self._smooth_index += 1
        if self._smooth_index >= len(SMOOTHING_BETAS):
            self._smooth_index = -1
        beta = SMOOTHING_BETAS[self._smooth_index] if self._smooth_index >= 0 else None
        self.plot.smoothing = beta
        self.say("smoothing off" if beta is None else
                 f"smoothing: debiased EMA β={beta:g} over the raw curve")
        self.plot.replot()

    # -- settings -----------------------------------------------------------------------------
    @on(SettingsEdited)
    def _settings_edited(self, message: SettingsEdited) -> None:
        if self.run_handle is not None:
            self.settings.border_subtitle = NEXT_RUN_NOTE
        self._update_formula()
        self._dirty = True

    @on(PresetChosen)
    def _preset_chosen(self, message: PresetChosen) -> None:
        try:
            self.settings.load_preset(message.name)
        except ConfigError as exc:
            self.settings.refresh_presets()
            self.say(f"cannot load preset — {exc}", error=True)
            return
        note = " (the running run keeps its settings)" if self.run_handle else ""
        self.say(f"loaded preset {message.name}{note}")
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

        def save(name: str, overwrite: bool) -> Any:
            return save_preset(cfg, name, overwrite=overwrite)

        def done(path: str | None) -> None:
            if path is not None:
                from pathlib import Path
                self.post_message(PresetSaved(Path(path).stem, path))

        suggestion = "" if self.settings._is_bundled() else self.settings.preset
        self.push_screen(SavePresetScreen(save, user_dir(), suggestion), done)

    @on(PresetSaved)
    def _preset_saved(self, message: PresetSaved) -> None:
        self.settings.refresh_presets(select=message.name)
        self.settings.load_preset(message.name)
        self.say(f"saved preset {message.name} to {message.path}")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.run_warnings))

    def action_leave_field(self) -> None:
        self.plot.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Esc shows in the footer while a field takes letter keys (it is how s/x/p/q return).

        Only then: with the plot, a list or a checkbox focused the letter keys work as they are,
        and at 80 columns the footer has no room to spare for a key that does nothing.
        """
        if action == "leave_field":
            focused = self.focused
            return focused is not None and focused.check_consume_key("s", "s")
        return True

    def on_resize(self, event: events.Resize) -> None:
        """A resize can show panels (Coefficients, Metrics) that were hidden: draw them now."""
        self._dirty = True


def make_app(preset: str = "default", overrides: list[str] | None = None, *,
             frozen_clock: bool = False) -> LinregApp:
    """Build the dashboard on ``preset`` with ``--set`` overrides.

    ``frozen_clock`` hides elapsed time, speed and the device's model name and stops the cursor
    blinking, so screenshots of the same run are identical on every machine.
    """
    return LinregApp(preset, overrides, frozen_clock=frozen_clock)
