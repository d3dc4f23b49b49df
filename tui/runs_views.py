"""What the runs screen opens: one past run on the dashboard's own panels, or several runs'
curves overlaid, and loading a run's settings into the form.

Both are full-screen *modal* screens (opaque, not dialogs): modal so that only their own keys
are live and in the footer — the dashboard's ``s``, ``x``, ``q`` would otherwise act on a
screen the user cannot see. A run is read from its directory only (``engine.runs.store``), so a
finished, crashed or still-running run opens the same way, and opening one never disturbs a
run the dashboard is following. A run directory deleted while open is a message, not a
traceback.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from engine.core.events import RunFinished
from engine.runs.compare import (
    HIGHER_IS_BETTER,
    LABEL_WIDTH,
    METRICS,
    NOT_COMPARABLE,
    RunCurves,
    common_metric,
    load_curves,
    run_config,
    run_labels,
)
from engine.runs.curve_read import load_curve
from engine.runs.follow import RunFollower
from engine.runs.log import RunLog
from engine.runs.status import RunStatus
from engine.runs.store import RunError, RunInfo
from engine.runs.table import run_row
from tui.history import RunHistory
from tui.messages import Note, PresetChosen
from tui.series import SMOOTHING_BETAS
from tui.session import EVENTS_UP_TO
from tui.view import HistoryPanel, View
from tui.widgets.compare_plot import MAX_SERIES, CompareLegend, ComparePlot, Series
from tui.widgets.lines import TopBar
from tui.widgets.plot import PLOT_WINDOWS, LossPlot
from tui.widgets.run_panels import run_panels

POLL_S = 0.25
"""How often an open run that is still going is read for new epochs."""
TALL_ROWS = 32
"""From this many rows the Coefficients and Metrics panels are shown too (as on the dashboard)."""


class RunsModal(ModalScreen[None]):
    """A full-screen modal: opaque, and only its own bindings are live and shown."""

    DEFAULT_CSS = """
    RunsModal {
        background: $background;
        .title { height: 1; background: $panel; padding: 0 1; text-wrap: nowrap;
                 text-overflow: ellipsis; }
        .msg { height: auto; max-height: 2; padding: 0 1; color: $warning; }
    }
    """

    def __init__(self, *, frozen_clock: bool = False, read_only: bool = False) -> None:
        super().__init__()
        self.frozen_clock = frozen_clock
        """As the dashboard's: hide elapsed time, speed and the device's name."""
        self.read_only = read_only
        """The dashboard watches a run: its form takes no settings."""

    def action_back(self) -> None:
        self.dismiss(None)

    def load_settings(self, run: Path) -> str | None:
        """Put ``run``'s settings into the dashboard's form (the preset-loading path: its
        ``config.yaml`` is a preset file) and go back to the dashboard; the reason when not."""
        if self.read_only:
            return "watching a run (read-only): settings cannot be loaded here"
        config = run / "config.yaml"
        if not config.is_file():
            return (
                f"run {run.name} is gone (deleted?)"
                if not run.exists()
                else f"run {run.name} has no config.yaml to load"
            )
        self.app.post_message(PresetChosen(str(config)))
        back_to_dashboard(self.app)
        return None


def back_to_dashboard(app: App[Any]) -> None:
    """Close every runs screen (the list, an open run, a comparison)."""
    while isinstance(app.screen, RunsModal):
        app.pop_screen()


def status_text(run: Path) -> tuple[str, str]:
    """The run's state by the runs table's rule (:attr:`RunStatus.run_state`: its writer lock,
    else its pid), and its status as ``runs`` words it (``crashed at epoch 7``)."""
    status = RunStatus.read(run)
    state = status.run_state
    return state, str(run_row(RunInfo(run.name, run, status.to_dict(), state))["status"])


class RunScreen(RunsModal):
    """One run on the dashboard's panels, read from its directory; a run still going is
    followed live by the engine's one follower (:class:`RunFollower`, polled every
    ``POLL_S`` from where the curve summary left off)."""

    BINDINGS = [
        Binding("l", "log_y", "Log-y"),
        Binding("m", "smooth", "Smooth"),
        Binding("z", "window", "Window"),
        Binding("o", "load", "Load settings"),
        Binding("escape", "back", "Back"),
    ]
    AUTO_FOCUS = "#run-plot"

    def __init__(self, run: Path, *, frozen_clock: bool = False, read_only: bool = False) -> None:
        super().__init__(frozen_clock=frozen_clock, read_only=read_only)
        self.run_dir = run
        self.history = RunHistory()
        self.follower = RunFollower(run)
        self.state = "running"
        self.status = ""
        self.done = False

    def compose(self) -> ComposeResult:
        yield TopBar(id="run-top")
        yield from run_panels("run-")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#run-details").styles.height = "auto"
        _, last = RunLog(self.run_dir).ends()
        n = last.epochs_run if isinstance(last, RunFinished) else getattr(last, "epoch", 0)
        self.state = f"loading {n:,} epochs"
        self.draw()
        self.run_worker(self._load(), exclusive=True, group="run-load", exit_on_error=False)

    async def _load(self) -> None:
        """The run's curve summary (in a thread: records, not epochs), then the log's end,
        then live every POLL_S while the run goes."""
        try:
            curve = await asyncio.to_thread(load_curve, self.run_dir, events_up_to=EVENTS_UP_TO)
        except RunError as exc:
            self.say(f"{exc} — nothing more to show", error=True)
            self.done = True
            return
        self.history.seed(curve)
        for event in curve.tail:
            self.history.add(event)
        self.follower.skip_to(curve.offset, curve.tail)
        self.query_one(TopBar).say("o loads its settings into the form · esc back")
        self.poll()
        if not self.done:
            self.set_interval(POLL_S, self.poll)
        self.draw()

    def on_resize(self) -> None:
        self.draw()

    def poll(self) -> None:
        """File the run's new events; notice its end, a crash, or its directory going."""
        if self.done:
            return
        try:
            events = self.follower.poll()
            for event in events:
                self.history.add(event)
            self.state, self.status = status_text(self.run_dir)
        except RunError as exc:
            self.say(f"{exc} — nothing more to show", error=True)
            self.done = True
            return
        if self.follower.ended and self.state != "running":  # (its status follows its end)
            self.done = True
            if self.state == "crashed":
                self.say("its process died: the curve is what it logged · esc back", error=True)
        if events or self.done:
            self.draw()

    def say(self, text: str, *, error: bool = False) -> None:
        self.query_one(TopBar).say(text, error=error)
        self.draw()

    @property
    def plot(self) -> LossPlot:
        return self.query_one("#run-plot", LossPlot)

    def draw(self) -> None:
        """Every panel of this screen from the run's history (the HistoryPanel protocol)."""
        if not self.is_mounted:
            return
        details = self.query_one("#run-details")
        details.display = self.size.height >= TALL_ROWS
        started, plot = self.history.started, self.plot
        view = View(
            running=self.state == "running",
            frozen_clock=self.frozen_clock,
            wide=self.size.width >= 100,
            details_shown=details.display,
            log_y=plot.log_y,
            smoothing=plot.smoothing,
            window=plot.window,
            next_loss=started.config.get("loss") if started else None,
        )
        for panel in self.query("*").results(HistoryPanel):
            panel.render_history(self.history, view)
        warnings = list(started.warnings) if started else []
        self.query_one(TopBar).show(self.run_dir.name, self.status or self.state, warnings)

    def action_log_y(self) -> None:
        self.plot.toggle_log_y()
        self.draw()

    def action_smooth(self) -> None:
        self.plot.next_smoothing()
        self.draw()

    def action_window(self) -> None:
        note = self.plot.next_window(self.history.n_epochs)
        self.say(note or "the plot already shows every epoch (z windows runs over 100 epochs)")

    def on_note(self, message: Note) -> None:
        """The plot's keys say what they did in this screen's top bar (an error stays)."""
        message.stop()
        if message.error:
            self.say(message.text, error=True)
        else:
            self.query_one(TopBar).flash(message.text)

    def action_load(self) -> None:
        problem = self.load_settings(self.run_dir)
        if problem:
            self.say(problem, error=True)


METRIC_LABELS = {"loss": "loss", "rmse": "RMSE", "r2": "R²", "mae": "MAE"}


class CompareScreen(RunsModal):
    """The marked runs' curves on one plot, named by the settings that differ: their loss, or
    when they minimise different losses, a metric in target units (val RMSE by default)."""

    BINDINGS = [
        Binding("v", "toggle_split", "Train/val"),
        Binding("y", "metric", "Series"),
        Binding("l", "log_y", "Log-y"),
        Binding("m", "smooth", "Smooth"),
        Binding("z", "window", "Window"),
        Binding("escape", "back", "Back"),
    ]
    AUTO_FOCUS = "#compare-plot"

    def __init__(self, runs: list[Path]) -> None:
        super().__init__()
        self.runs = runs[:MAX_SERIES]
        self.labels: list[str] = []
        self.curves: list[RunCurves] = []
        self.gone: list[str] = []
        self.which = "val"
        self.metric = "loss"
        self.differ = False
        """The runs minimise different losses (their loss values are not comparable)."""
        self.log_y = False
        self.smoothing: float | None = None
        self.window: int | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="compare-title", classes="title", markup=False)
        yield ComparePlot(id="compare-plot")
        yield CompareLegend(id="compare-legend")
        yield Static("", id="compare-msg", classes="msg", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        configs, names = [], []
        for run in self.runs:
            try:
                config, curves = run_config(run), load_curves(run)
            except RunError as exc:
                self.gone.append(str(exc) if run.exists() else f"run {run.name} is gone (deleted?)")
                continue
            configs.append(config)
            names.append(run.name)
            self.curves.append(curves)
        width = max(16, min(60, self.app.size.width - 34, LABEL_WIDTH + 24))
        self.labels = run_labels(configs, names, width) if configs else []
        if self.curves and not all(c.has_val for c in self.curves):
            self.which = "train"
        self.metric = common_metric(configs, self.curves)
        self.differ = self.metric != "loss"
        self.draw()

    def series(self) -> list[Series]:
        """One series per run for the split shown (a run without a val split says so, a run
        whose log is damaged where its curve is read says so and why)."""
        out = []
        for i, (label, curves) in enumerate(zip(self.labels, self.curves)):
            missing = self.which == "val" and not curves.has_val
            note = "no val split" if missing else "" if curves.epochs else "no epoch logged"
            points: list[tuple[float, float]] = []
            try:
                points = [] if missing else curves.series(self.which, self.metric)
            except RunError as exc:  # the log's one error naming the damaged line
                note = "log damaged"
                self.gone += [str(exc)] if str(exc) not in self.gone else []
            out.append(Series(label, points, i, note))
        return out

    @property
    def what(self) -> str:
        """What is plotted: ``val loss``, ``val RMSE``."""
        return f"{self.which} {METRIC_LABELS.get(self.metric, self.metric)}"

    def draw(self) -> None:
        series = self.series()
        plot = self.query_one(ComparePlot)
        plot.show(series, log_y=self.log_y, smoothing=self.smoothing, window=self.window)
        self.query_one(CompareLegend).show(
            series, self.what, higher_is_better=self.metric in HIGHER_IS_BETTER
        )
        title = f"{self.what} per epoch · {len(series)} runs"
        if self.metric != "loss":
            title += " (target units)"
        for on, note in (
            (self.log_y, "log-y"),
            (self.smoothing is not None, f"EMA β={self.smoothing}"),
            (self.window is not None, f"last {self.window or 0:,} ep"),
        ):
            if on:
                title += f" · {note}"
        self.query_one("#compare-title", Static).update(Text(title, style="bold"))
        lines = list(self.gone)
        if not series:
            lines.append("no run left to compare (esc back)")
        elif self.differ:
            lines.append(
                f"{NOT_COMPARABLE}: y switches series"
                if self.metric == "loss"
                else f"{NOT_COMPARABLE}: showing {self.what} · y switches series"
            )
        msg = self.query_one("#compare-msg", Static)
        msg.update("; ".join(lines))
        msg.display = bool(lines)

    def action_toggle_split(self) -> None:
        self.which = "train" if self.which == "val" else "val"
        self.draw()

    def action_metric(self) -> None:
        """y: loss → RMSE → R² → MAE (those every run logged) → loss."""
        have = [m for m in METRICS if m == "loss" or any(c.has(m, self.which) for c in self.curves)]
        i = have.index(self.metric) if self.metric in have else -1
        self.metric = have[(i + 1) % len(have)]
        self.draw()

    def action_log_y(self) -> None:
        self.log_y = not self.log_y
        self.draw()

    def action_smooth(self) -> None:
        betas = (None, *SMOOTHING_BETAS)
        self.smoothing = betas[(betas.index(self.smoothing) + 1) % len(betas)]
        self.draw()

    def action_window(self) -> None:
        last = self.query_one(ComparePlot).last_epoch
        choices = [w for w in PLOT_WINDOWS if w < last]
        later = [w for w in choices if self.window is None or w > self.window]
        self.window = later[0] if later else None
        self.draw()
