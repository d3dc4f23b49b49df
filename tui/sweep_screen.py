"""The dashboard's sweep screen: start a sweep from the form's settings and a search space, and
watch its study fill in.

- **Starting.** The search space is typed in one field as YAML flow syntax, either the searched
  keys alone (``{optim.lr: {low: 1.0e-4, high: 1, log: true}}``) or a whole spec
  (``{params: {...}, trials: 8, sampler: random}``); it starts out as the preset's ``sweep:``
  section when it has one. Enter (or ``s``) checks it with :func:`engine.sweep.spec.parse_spec`
  against the form's settings — a refusal is one line under the field — and starts the sweep
  detached (:mod:`engine.cli.sweep_launch`, batched as ``linreg-tui sweep``): its own session,
  so closing the dashboard leaves it running. Without Optuna it says how to get it instead.
- **Watching.** About once a second a thread worker reads the study from the database next to
  the runs (:func:`engine.sweep.study.default_storage`): the sweep started here, else the last
  one started from a dashboard, else the newest study there (a ``linreg-tui sweep`` run).
  Reopening the screen therefore shows the sweep again. Optuna is imported by that worker,
  never at the dashboard's start-up.
- **Reading it.** The status line says the state with its totals (``running 3/20``,
  ``20/20 complete``, ``stopped at 32/60``: :meth:`engine.sweep.monitor.StudyView.state`);
  under it the base settings every trial shares, and the parameters' importances (Optuna's
  fANOVA, once a few trials are complete; recomputed only when that count changes). Values
  are shown to 4 significant digits, plot axes in real units (a log-spaced lr axis reads
  ``0.001 … 1``), and ``v`` swaps the scatter for parallel coordinates of every trial.
- **Keys** (footer): ``s`` start, ``x`` stop the sweep (SIGINT: clean stop; the trials in
  flight are cancelled and their values queued again, shown as ``queued`` until a rerun takes
  them), ``o`` order the table by the metric, ``c`` the parameter of the scatter, ``v`` the
  scatter or parallel coordinates, ``b`` the best trial's values into the form (rounded to 4
  significant digits), ``e`` edit the search space, ``escape`` back (in the field: leave the
  field, as in the form; what was typed is kept for the next time the screen opens).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Label, Static

from engine.config import ConfigError
from engine.core.numbers import fmt_number
from engine.sweep.monitor import SORTS, StudyView, base_line, sorted_rows
from tui.sweep_bridge import (
    INSTALL_HINT,
    FormBridge,
    SettingsBridge,
    flow,
    optuna_missing,
    read_space,
    rounded,
)
from tui.widgets.sweep_parallel import ParallelPlot
from tui.widgets.sweep_plots import BestSoFarPlot, ParamScatter

__all__ = ["FormBridge", "SettingsBridge", "SweepScreen", "flow", "read_space", "rounded"]
POLL_S = 1.0
_typed: dict[str, str] = {}
"""The search space last typed, per runs folder: reopening the screen keeps it."""
DEFAULT_SPACE = "{optim.lr: {low: 1.0e-4, high: 1, log: true}}"


class SweepScreen(ModalScreen[None]):
    """Start a sweep and follow its study: table, best-so-far curve, metric-vs-parameter."""

    CSS_PATH = "sweep_screen.tcss"
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("x", "stop", "Stop"),
        Binding("o", "sort", "Sort"),
        Binding("c", "cycle_param", "Param"),
        Binding("v", "toggle_view", "View"),
        Binding("b", "best", "Best→form"),
        Binding("e", "edit", "Edit space"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, bridge: FormBridge, runs_root: Path, storage_url: str | None = None) -> None:
        super().__init__()
        self.bridge, self.runs_root = bridge, runs_root
        self.storage_url = storage_url
        self.study_name: str | None = None
        """The study shown (None until one is found or started)."""
        self.job: Any = None
        """The sweep's job (:class:`engine.cli.sweep_launch.SweepJob`) when one was started from a
        dashboard; ``x`` stops it."""
        self.view: StudyView | None = None
        self.sort = SORTS[0]
        self.param_index = 0
        self.parallel = False
        """Whether the lower plot is parallel coordinates (else the scatter)."""
        self._reader: Any = None
        self._importance: tuple[tuple[str, int], str] | None = None
        """The last importance line and what it was computed for (study, complete trials)."""
        self.missing_optuna = False
        self._busy = self._ranking = False  # reading the study, computing importances

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(id="sweep"):
            yield Static(id="sweep-status", markup=False)
            yield Static(id="sweep-base", markup=False)
            yield Static(id="sweep-importance", markup=False)
            with Horizontal(id="space-row"):
                yield Label("space", id="space-label")
                yield Input(self._initial_space(), id="space", placeholder=DEFAULT_SPACE)
            yield Label("", id="space-error", markup=False)
            with Horizontal(id="sweep-body"):
                yield DataTable(id="trials", cursor_type="row", zebra_stripes=True)
                with Vertical(id="sweep-plots"):
                    yield BestSoFarPlot(id="best-curve")
                    yield ParamScatter(id="scatter")
                    yield ParallelPlot(id="parallel")
        yield Footer()

    def _initial_space(self) -> str:
        """What was typed last (in this dashboard), else the preset's sweep: section."""
        if str(self.runs_root) in _typed:
            return _typed[str(self.runs_root)]
        try:
            section = self.bridge.preset_sweep()
        except (ConfigError, OSError):
            section = None
        return flow(section) if isinstance(section, dict) else DEFAULT_SPACE

    def on_mount(self) -> None:
        from engine.cli.sweep_launch import latest_job

        self.query_one("#space-error").display = False
        self.query_one(ParallelPlot).display = False
        self._lines(None, "")
        self.job = latest_job(self.runs_root)
        if self.job is not None:
            self.study_name = self.job.study_name
        self.query_one(DataTable).focus()
        if optuna_missing():
            self.missing_optuna = True
            self._say(INSTALL_HINT)
            self.refresh_bindings()
            return
        self._say("reading the sweeps next to the runs…")
        self.set_interval(POLL_S, self._poll)
        self._poll()

    def on_unmount(self) -> None:
        if self._reader is not None:
            self._reader.engine.dispose()

    def _say(self, text: str) -> None:
        self.query_one("#sweep-status", Static).update(Text(text))

    # -- polling the study --------------------------------------------------------------------
    def _url(self) -> str:
        """The study database (imports Optuna: called by the polling thread only)."""
        from engine.sweep.study import default_storage

        return self.storage_url or default_storage(self.runs_root)

    def _poll(self) -> None:
        if not self._busy:  # a read slower than the poll (a loaded machine) is not stacked
            self._busy = True
            self._read_study(self.study_name)

    @work(thread=True, exclusive=True, group="sweep-poll", exit_on_error=False)
    def _read_study(self, name: str | None) -> None:
        try:
            self._read(name)
        finally:
            self._busy = False

    def _read(self, name: str | None) -> None:
        from engine.runs.store import first_line
        from engine.sweep import monitor as mon

        try:
            url = self._url()
            if not mon.storage_exists(url):
                self.app.call_from_thread(self._show, None)
                return
            if self._reader is None:
                self._reader = mon.open_reader(url)
            if name is None:
                names = mon.study_names(self._reader)
                name = names[0] if names else None
            view = mon.read_study(self._reader, name) if name else None
            importance = self._importance_of(view) if view is not None else ""
        except ImportError:
            self.app.call_from_thread(self._say, INSTALL_HINT)
            return
        except Exception as exc:  # noqa: BLE001 - a locked or broken database: one line
            self.app.call_from_thread(self._say, f"cannot read the sweeps: {first_line(exc)}")
            return
        self.app.call_from_thread(self._show, view, importance)

    def _importance_of(self, view: StudyView) -> str:
        """The importance line as last computed; a new one is computed in a worker of its own
        when the complete trials changed (it imports scikit-learn: seconds, never in the
        way of the table)."""
        done = sum(r.state == "complete" for r in view.rows)
        key = (view.name, done)
        stale = self._importance is None or self._importance[0] != key
        if stale and not self._ranking:
            self._ranking = True
            self.app.call_from_thread(self._rank, view, key)
        return self._importance[1] if self._importance is not None else ""

    @work(thread=True, exclusive=True, group="sweep-importance", exit_on_error=False)
    def _rank(self, view: StudyView, key: tuple[str, int]) -> None:
        from engine.sweep import monitor as mon

        try:
            line = mon.importance_line(self._reader, view)
        except Exception as exc:  # noqa: BLE001 - shown as the line, never a dead screen
            line = f"importance: not available ({type(exc).__name__})"
        finally:
            self._ranking = False
        self._importance = (key, line)
        self.app.call_from_thread(self._lines, self.view, line)

    def _lines(self, view: StudyView | None, importance: str) -> None:
        base = self.query_one("#sweep-base", Static)
        base.update(Text(base_line(view) if view is not None and view.base else ""))
        base.display = view is not None and bool(view.base)
        shown = self.query_one("#sweep-importance", Static)
        shown.update(Text(importance))
        shown.display = bool(importance)

    def _show(self, view: StudyView | None, importance: str = "") -> None:
        changed = view != self.view or self.view is None
        self.view = view
        self._lines(view, importance)
        if view is None:
            self._say("no sweep yet: type a search space, then enter starts it")
        else:
            self.study_name = view.name
            self._say(self._summary(view))
        if changed:  # an unchanged study is not redrawn (the table keeps its scroll)
            self._fill_table()
            self._draw_plots()
        self.refresh_bindings()

    def _summary(self, view: StudyView) -> str:
        ours = self.job is not None and self.job.study_name == view.name
        state = view.state(running=ours and self.job.running)
        queued = sum(r.state == "queued" for r in view.rows)
        if queued and not state.startswith("running"):
            state += f" · {queued} queued (a rerun takes them)"
        best = view.best()
        shown = (
            f" · best {view.metric} {fmt_number(best.value)} (trial {best.number})" if best else ""
        )
        return f"{view.name} · {state}{shown}"

    def _fill_table(self) -> None:
        table = self.query_one(DataTable)
        view = self.view
        keys = list(view.params) if view else []
        header = [
            "#",
            *(k.rsplit(".", 1)[-1] for k in keys),
            view.metric if view else "metric",
            "ep",
            "state",
        ]
        row = table.cursor_row
        table.clear(columns=True)
        table.add_columns(*header)
        if view is None:
            return
        for r in sorted_rows(view.rows, self.sort, view.direction):
            table.add_row(
                str(r.number),
                *(fmt_number(r.params.get(k)) for k in keys),
                fmt_number(r.value),
                fmt_number(r.epochs),
                r.state,
                key=str(r.number),
            )
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    def _draw_plots(self) -> None:
        scatter = self.query_one(ParamScatter)
        params = self.view.params if self.view else ()
        scatter.key = params[self.param_index % len(params)] if params else None
        self.query_one(BestSoFarPlot).show(self.view)
        scatter.display = not self.parallel
        parallel = self.query_one(ParallelPlot)
        parallel.display = self.parallel
        if self.parallel:
            parallel.show(self.view)
        else:
            scatter.show(self.view)

    # -- actions ------------------------------------------------------------------------------
    @on(Input.Submitted, "#space")
    def _submitted(self) -> None:
        self.action_start()

    @on(Input.Changed, "#space")
    def _edited(self, event: Input.Changed) -> None:
        _typed[str(self.runs_root)] = event.value
        self._field_error(None)

    def _field_error(self, text: str | None) -> None:
        label = self.query_one("#space-error", Label)
        label.update(Text(f"✗ {text}") if text else "")
        label.display = bool(text)
        self.query_one("#space", Input).set_class(bool(text), "-invalid")

    def action_start(self) -> None:
        """Check the search space against the form's settings and start the sweep."""
        from engine.cli.sweep_launch import start_sweep
        from engine.sweep.batch_work import AUTO_BATCH
        from tui.form import FieldError

        if self.missing_optuna:
            self._field_error(INSTALL_HINT)
            return
        if self.job is not None and self.job.running:
            self._field_error(f"sweep {self.job.study_name} is still running: x stops it")
            return
        try:
            section = read_space(self.query_one("#space", Input).value)
            base, base_dir = self.bridge.current()
            self.job = start_sweep(
                base, base_dir, section, self.runs_root, self.storage_url, batch=AUTO_BATCH
            )
        except FieldError as exc:
            self._field_error(f"settings: {exc}")
            return
        except ConfigError as exc:
            self._field_error(str(exc))
            return
        except (OSError, TypeError, ValueError) as exc:  # TypeError: a value JSON cannot hold
            self._field_error(f"cannot start the sweep: {exc}")
            return
        self._field_error(None)
        self.study_name = self.job.study_name
        self._say(
            f"started sweep {self.study_name} (pid {self.job.pid}); trials appear as they finish"
        )
        self.query_one(DataTable).focus()
        self.refresh_bindings()

    def action_stop(self) -> None:
        from engine.cli.sweep_launch import stop

        if self.job is not None and stop(self.job):
            self._say(
                f"stopping sweep {self.job.study_name}: the trials in flight are cancelled "
                "and queued again, the study kept"
            )

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._fill_table()
        self.notify(f"trials: {self.sort}", timeout=2)

    def action_cycle_param(self) -> None:
        self.param_index += 1
        self._draw_plots()

    def action_toggle_view(self) -> None:
        self.parallel = not self.parallel
        self._draw_plots()

    def action_best(self) -> None:
        best = self.view.best() if self.view else None
        if best is None:
            self.notify("no complete trial yet", severity="warning", timeout=3)
            return
        said = self.bridge.apply({k: rounded(v) for k, v in best.params.items()})
        self.dismiss(None)
        self.app.notify(f"trial {best.number}: {said}", timeout=6)

    def action_edit(self) -> None:
        self.query_one("#space", Input).focus()

    def action_back(self) -> None:
        """Leave the search-space field (as Esc does in the form), else go back."""
        if isinstance(self.focused, Input):
            self.query_one(DataTable).focus()
            return
        self.dismiss(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        running = self.job is not None and self.job.running
        if action == "stop":
            return running
        if action == "start":
            return not running
        if action == "best":
            return self.view is not None and self.view.best() is not None
        if action in ("sort", "cycle_param", "toggle_view"):
            return self.view is not None
        return True
