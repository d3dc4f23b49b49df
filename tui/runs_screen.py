"""The runs screen: past runs as ``linreg-tui runs`` lists them, to open, compare or rerun.

Keyboard only: arrows move, ``space`` marks a run for comparison, ``enter`` opens the run on the
dashboard's panels (:class:`~tui.runs_views.RunScreen`), ``c`` overlays the marked runs' curves
(:class:`~tui.runs_views.CompareScreen`), ``o`` loads the highlighted run's settings into the
form to rerun it, ``r`` re-reads the runs folder, ``esc`` goes back. Each row is
:func:`engine.runs.table.run_row`, the same record the CLI prints, so the two never disagree; the
id column shows the id's short end (``runs``/``watch`` accept it) so a row fits 80 columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from engine.runs.compare import short_id
from engine.runs.store import list_runs
from engine.runs.table import RUN_COLUMNS, row_cells, run_row
from tui.runs_views import CompareScreen, RunScreen, RunsModal
from tui.widgets.compare_plot import MAX_SERIES

COLUMNS = ("", *RUN_COLUMNS)
"""The ``runs`` table's columns after a mark column."""
MARK = "●"
REFRESH_S = 2.0
"""While a listed run is still going, the list is re-read this often (its epochs, its end)."""
STATE_STYLE = {"running": "bold green", "crashed": "bold red"}


class RunsScreen(RunsModal):
    """Every run under the runs folder, newest first."""

    BINDINGS = [
        Binding("space", "mark", "Mark"),
        Binding("enter", "open", "Open", priority=True),
        Binding("c", "compare", "Compare"),
        Binding("o", "load", "Load settings"),
        Binding("L", "load", "Load settings", show=False),
        Binding("r", "refresh", "Refresh"),
        Binding("escape", "back", "Back"),
    ]
    AUTO_FOCUS = "#runs-table"
    """(``enter`` is a priority binding so the footer shows it over the table's own, hidden
    one; a mouse click on a row still opens it through RowSelected.)"""

    def __init__(self, root: Path, *, frozen_clock: bool = False, read_only: bool = False) -> None:
        super().__init__(frozen_clock=frozen_clock, read_only=read_only)
        self.root = root
        self.rows: list[dict[str, Any]] = []
        self.marked: list[str] = []
        """Marked run ids, in the order they were marked (the overlay's colour order)."""

    def compose(self) -> ComposeResult:
        yield Static("", id="runs-title", classes="title", markup=False)
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="runs-empty", markup=False)
        yield Static("", id="runs-msg", classes="msg", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.reload()
        self.set_interval(REFRESH_S, self._refresh_if_running)

    def on_screen_resume(self) -> None:
        """Back from an open run or a comparison: the runs may have moved on."""
        if self.is_mounted and self.rows:
            self.reload()

    # -- the list -----------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the runs folder, keeping the highlighted run and the marks that still exist."""
        table = self.query_one(DataTable)
        current = self.current_id()
        try:
            self.rows = [run_row(info) for info in list_runs(self.root)]
        except OSError as exc:
            self.rows = []
            self.say(f"cannot read {self.root}: {exc.strerror or exc}")
        ids = [r["id"] for r in self.rows]
        self.marked = [m for m in self.marked if m in ids]
        table.clear()
        for row in self.rows:
            table.add_row(*self._cells(row), key=row["id"])
        if current in ids:
            table.move_cursor(row=ids.index(current), animate=False)
        empty = self.query_one("#runs-empty", Static)
        empty.update(
            Text(
                f"no runs yet in {self.root}\nesc goes back; s on the dashboard starts one",
                style="dim",
            )
            if not self.rows
            else ""
        )
        empty.display = not self.rows
        table.display = bool(self.rows)
        self._title()

    def _cells(self, row: dict[str, Any]) -> list[Text]:
        mark = MARK if row["id"] in self.marked else " "
        cells = [Text(c) for c in row_cells(row)]
        cells[0] = Text(short_id(row["id"]))
        cells[3].stylize(STATE_STYLE.get(row["state"], ""))
        return [Text(mark, style="bold yellow"), *cells]

    def _title(self) -> None:
        n, m = len(self.rows), len(self.marked)
        text = f"Runs in {self.root} · {n} run{'s' if n != 1 else ''}"
        if m:
            text += f" · {m} marked (c compares)"
        self.query_one("#runs-title", Static).update(Text(text, style="bold"))

    def _refresh_if_running(self) -> None:
        if any(r["state"] == "running" for r in self.rows):
            self.reload()

    def say(self, text: str) -> None:
        self.query_one("#runs-msg", Static).update(text)

    def current_id(self) -> str | None:
        table = self.query_one(DataTable)
        if not self.rows or table.row_count == 0:
            return None
        return self.rows[min(table.cursor_row, len(self.rows) - 1)]["id"]

    def _current_run(self) -> Path | None:
        """The highlighted run's directory; a message (and a fresh list) if it is gone."""
        run_id = self.current_id()
        if run_id is None:
            self.say("no runs yet")
            return None
        path = self.root / run_id
        if not (path / "status.json").exists():
            self.reload()
            self.say(f"run {run_id} is gone (deleted?) — the list is re-read")
            return None
        return path

    # -- actions ------------------------------------------------------------------------------
    def action_mark(self) -> None:
        run_id = self.current_id()
        if run_id is None:
            return
        if run_id in self.marked:
            self.marked.remove(run_id)
        elif len(self.marked) >= MAX_SERIES:
            self.say(f"at most {MAX_SERIES} runs side by side: space unmarks one")
            return
        else:
            self.marked.append(run_id)
        table = self.query_one(DataTable)
        table.update_cell(
            run_id,
            table.ordered_columns[0].key,
            Text(MARK if run_id in self.marked else " ", style="bold yellow"),
        )
        self.say("")
        self._title()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        run = self._current_run()
        if run is not None:
            self.say("")
            self.app.push_screen(
                RunScreen(run, frozen_clock=self.frozen_clock, read_only=self.read_only)
            )

    def action_compare(self) -> None:
        if len(self.marked) < 2:
            self.say("mark two runs or more with space, then c overlays their curves")
            return
        gone = [m for m in self.marked if not (self.root / m / "status.json").exists()]
        if gone:
            self.reload()
            self.say(f"run {gone[0]} is gone (deleted?) — the list is re-read")
            return
        self.say("")
        self.app.push_screen(CompareScreen([self.root / m for m in self.marked]))

    def action_load(self) -> None:
        run = self._current_run()
        if run is not None:
            problem = self.load_settings(run)
            if problem:
                self.say(problem)

    def action_refresh(self) -> None:
        self.reload()
        self.say("")
