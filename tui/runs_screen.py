"""The runs screen: past runs as ``linreg-tui runs`` lists them, to open, compare or rerun.

Keyboard only: arrows move, ``space`` marks a run for comparison, ``enter`` opens the run on the
dashboard's panels (:class:`~tui.runs_views.RunScreen`) or unfolds a study, ``c`` overlays the
marked runs' curves (:class:`~tui.runs_views.CompareScreen`), ``o`` loads the highlighted run's
settings into the form to rerun it, ``s`` cycles the sort column and ``S`` reverses it, ``/``
filters (the grammar of ``runs --filter``), ``e`` unfolds or folds a sweep's trial runs, ``n``
and ``t`` edit the run's note and tags, ``r`` re-reads the runs folder, ``esc`` goes back.

The rows and columns are the CLI's (:func:`engine.cli.runs_listing.listing`,
:func:`engine.runs.table.layout`), so the two never disagree: the settings that differ between
the runs shown get a column each, and at 80 columns the least important columns are hidden (the
info line says which), never cut. The id column shows the id's short end (``runs``/``watch``
accept it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from engine.cli.runs_listing import listing, shown
from engine.core.errors import RunError
from engine.runs.store import list_runs
from engine.runs.table import Layout, differing_settings, layout, setting_headers
from engine.runs.table_query import DEFAULT_SORT
from tui.runs_edit import RunsInput
from tui.runs_views import CompareScreen, RunScreen, RunsModal
from tui.widgets.compare_plot import MAX_SERIES

MARK = "●"
REFRESH_S = 2.0
"""While a listed run is still going, the list is re-read this often (its epochs, its end)."""
STATE_STYLE = {"running": "bold green", "crashed": "bold red"}
SORTS = ("started", "state", "best", "r2", "epochs", "loss")
"""What ``s`` cycles through, before the settings that differ."""
SIDE = 5
"""Columns the table needs besides its cells: the mark column (1 + padding) and a scrollbar."""


class RunsScreen(RunsModal):
    """Every run under the runs folder, newest first; a sweep's trial runs folded per study."""

    BINDINGS = [
        Binding("space", "mark", "Mark"),
        Binding("enter", "open", "Open", priority=True),
        Binding("c", "compare", "Compare"),
        Binding("o", "load", "Load"),
        Binding("L", "load", "Load settings", show=False),
        Binding("s", "sort", "Sort"),
        Binding("S", "sort_reverse", "Reverse sort", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("e", "expand", "Expand"),
        Binding("n", "note", "Note", show=False),
        Binding("t", "tags", "Tags", show=False),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("escape", "back", "Back"),
    ]
    AUTO_FOCUS = "#runs-table"
    """(``enter`` is a priority binding so the footer shows it over the table's own, hidden
    one; a mouse click on a row still opens it through RowSelected.)"""
    DEFAULT_CSS = """
    RunsScreen #runs-info { height: 1; padding: 0 1; color: $text-muted; text-wrap: nowrap;
                            text-overflow: ellipsis; }
    """

    def __init__(self, root: Path, *, frozen_clock: bool = False, read_only: bool = False) -> None:
        super().__init__(frozen_clock=frozen_clock, read_only=read_only)
        self.root = root
        self.entries: list[dict[str, Any]] = []
        """The listing's top-level rows (runs and study rows)."""
        self.rows: list[dict[str, Any]] = []
        """The rows shown, in order (an unfolded study's trial runs after it)."""
        self.marked: list[str] = []
        """Marked run ids, in the order they were marked (the overlay's colour order)."""
        self.expanded: set[str] = set()
        self.sort: tuple[str, bool] = DEFAULT_SORT
        self.filter_text = ""
        self.fit: Layout | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="runs-title", classes="title", markup=False)
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="runs-empty", markup=False)
        yield Static("", id="runs-info", markup=False)
        yield RunsInput(id="runs-input")
        yield Static("", id="runs-msg", classes="msg", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(REFRESH_S, self._refresh_if_running)

    def on_screen_resume(self) -> None:
        """Back from an open run or a comparison: the runs may have moved on."""
        if self.is_mounted and self.rows:
            self.reload()

    def on_resize(self) -> None:
        if self.is_mounted:
            self.redraw()

    # -- the list -----------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the runs folder, keeping the highlighted run and the marks that still exist."""
        try:
            self.entries = listing(
                list_runs(self.root), filter_text=self.filter_text, sort=self.sort
            )
        except RunError as exc:  # a filter naming no column: said, the filter dropped
            self.say(str(exc))
            self.filter_text = ""
            self.entries = listing(list_runs(self.root), sort=self.sort)
        except OSError as exc:
            self.entries = []
            self.say(f"cannot read {self.root}: {exc.strerror or exc}")
        ids = {t["id"] for e in self.entries for t in [e, *e.get("trials", ())]}
        self.marked = [m for m in self.marked if m in ids]
        self.redraw()

    def redraw(self) -> None:
        """Rebuild the table from :attr:`entries` at the screen's width."""
        table = self.query_one(DataTable)
        current = self.current_key()
        self.rows = shown(self.entries, lambda study: study in self.expanded)
        self.fit = layout(self.rows, max(20, self.size.width - SIDE), gap=2, short_ids=True)
        table.clear(columns=True)
        # explicit widths: without them the table's first frame cuts every column to its
        # header until it measures the cells, and a redraw in that frame kept the cut columns
        table.add_column("", key="mark", width=1)
        for col, width in zip(self.fit.columns, self.fit.widths):
            table.add_column(
                Text(col.header, justify="right" if col.right else "left"), key=col.key, width=width
            )
        for row, texts in zip(self.rows, self.fit.cells):
            table.add_row(*self._cells(row, texts), key=self._key(row))
        keys = [self._key(r) for r in self.rows]
        if current in keys:
            table.move_cursor(row=keys.index(current), animate=False)
        empty = self.query_one("#runs-empty", Static)
        nothing = (
            f"no runs match '{self.filter_text}' (/ changes the filter)"
            if self.filter_text
            else f"no runs yet in {self.root}\nesc goes back; s on the dashboard starts one"
        )
        empty.update(Text(nothing, style="dim") if not self.rows else "")
        empty.display = not self.rows
        table.display = bool(self.rows)
        self._title()

    @staticmethod
    def _key(row: dict[str, Any]) -> str:
        return f"study:{row['study']}" if row.get("kind") == "study" else str(row["id"])

    def _cells(self, row: dict[str, Any], texts: list[str]) -> list[Text]:
        assert self.fit is not None
        mark = MARK if row["id"] in self.marked else " "
        cells = []
        for col, text in zip(self.fit.columns, texts):
            style = STATE_STYLE.get(row["state"], "") if col.key == "status" else ""
            if col.key == "status" and row["status"].startswith("pruned"):
                style = "yellow"
            if row.get("kind") == "study":
                style = "bold"
            cells.append(Text(text, style=style, justify="right" if col.right else "left"))
        return [Text(mark, style="bold yellow"), *cells]

    def _title(self) -> None:
        runs = sum(1 for r in self.rows if r.get("kind") != "study")
        studies = sum(1 for r in self.entries if r.get("kind") == "study")
        text = f"Runs · {runs} run{'s' if runs != 1 else ''}"
        if studies:
            text += f" · {studies} stud{'ies' if studies != 1 else 'y'} (e unfolds)"
        if self.marked:
            text += f" · {len(self.marked)} marked (c compares)"
        text += f" · in {self.root}"  # last: a long path is what gets cut, never the counts
        self.query_one("#runs-title", Static).update(Text(text, style="bold"))
        name, descending = self.sort
        info = f"sort {self._sort_label(name)} {'↓' if descending else '↑'}"
        if self.filter_text:
            info += f" · filter {self.filter_text}"
        if self.fit is not None and self.fit.hidden:
            names = f" · {self.fit.hidden_line()}"
            count = f" · {len(self.fit.hidden)} columns hidden to fit"
            info += names if len(info + names) <= self.size.width - SIDE else count
        self.query_one("#runs-info", Static).update(info)

    def _sort_label(self, name: str) -> str:
        return setting_headers(differing_settings(self.rows)).get(name, name)

    def _refresh_if_running(self) -> None:
        if any(r["state"] == "running" for r in self.rows) and not self.editing:
            self.reload()

    def say(self, text: str) -> None:
        self.query_one("#runs-msg", Static).update(text)

    @property
    def editing(self) -> bool:
        return self.query_one(RunsInput).display

    def current_row(self) -> dict[str, Any] | None:
        table = self.query_one(DataTable)
        if not self.rows or table.row_count == 0:
            return None
        return self.rows[min(table.cursor_row, len(self.rows) - 1)]

    def current_key(self) -> str | None:
        row = self.current_row()
        return None if row is None else self._key(row)

    def current_id(self) -> str | None:
        """The highlighted run's id (None on a study row or an empty list)."""
        row = self.current_row()
        return None if row is None or row.get("kind") == "study" else str(row["id"])

    def _current_run(self) -> Path | None:
        """The highlighted run's directory; a message (and a fresh list) if it is gone."""
        row = self.current_row()
        if row is None:
            self.say("no runs yet")
            return None
        if row.get("kind") == "study":
            self.say(f"{row['id']}: e unfolds its trial runs")
            return None
        path = Path(row["path"])
        if not (path / "status.json").exists():
            self.reload()
            self.say(f"run {row['id']} is gone (deleted?) — the list is re-read")
            return None
        return path

    # -- actions ------------------------------------------------------------------------------
    def action_mark(self) -> None:
        run_id = self.current_id()
        if run_id is None:
            if self.current_row() is not None:
                self.say("a study is not a run: e unfolds it, then space marks its runs")
            return
        if run_id in self.marked:
            self.marked.remove(run_id)
        elif len(self.marked) >= MAX_SERIES:
            self.say(f"at most {MAX_SERIES} runs side by side: space unmarks one")
            return
        else:
            self.marked.append(run_id)
        self.query_one(DataTable).update_cell(
            run_id, "mark", Text(MARK if run_id in self.marked else " ", style="bold yellow")
        )
        self.say("")
        self._title()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        if self.editing:
            self.query_one(RunsInput).submit()
            return
        row = self.current_row()
        if row is not None and row.get("kind") == "study":
            self.action_expand()
            return
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
        paths = {t["id"]: Path(t["path"]) for e in self.entries for t in [e, *e.get("trials", ())]}
        gone = [m for m in self.marked if not (paths[m] / "status.json").exists()]
        if gone:
            self.reload()
            self.say(f"run {gone[0]} is gone (deleted?) — the list is re-read")
            return
        self.say("")
        self.app.push_screen(CompareScreen([paths[m] for m in self.marked]))

    def action_load(self) -> None:
        run = self._current_run()
        if run is not None:
            problem = self.load_settings(run)
            if problem:
                self.say(problem)

    def action_refresh(self) -> None:
        self.reload()
        self.say("")

    def action_back(self) -> None:
        if self.editing:
            self.query_one(RunsInput).close()
            return
        super().action_back()

    def action_sort(self) -> None:
        """The next sort column: started, state, best, r2, epochs, loss, then each setting
        that differs (numbers ascending, started newest first)."""
        names = [*SORTS, *differing_settings(self.rows)]
        name = self.sort[0]
        following = names[(names.index(name) + 1) % len(names)] if name in names else names[0]
        self.sort = (following, following == "started")
        self.reload()

    def action_sort_reverse(self) -> None:
        self.sort = (self.sort[0], not self.sort[1])
        self.reload()

    def action_expand(self) -> None:
        """Unfold the highlighted study's trial runs, or fold the study of the row."""
        row = self.current_row()
        study = None if row is None else row.get("under_study") or row.get("study")
        if row is None or not study or (row.get("kind") != "study" and not row.get("under_study")):
            self.say("e unfolds a sweep study's trial runs: this row is no study")
            return
        self.expanded.symmetric_difference_update({study})
        self.redraw()
        table = self.query_one(DataTable)
        table.move_cursor(row=[self._key(r) for r in self.rows].index(f"study:{study}"))
        self.say("")

    def action_filter(self) -> None:
        self.query_one(RunsInput).open("filter", self.filter_text)

    def action_note(self) -> None:
        if self._current_run() is not None:
            self.query_one(RunsInput).open("note", str(self.current_row()["note"]))  # type: ignore[index]

    def action_tags(self) -> None:
        if self._current_run() is not None:
            tags = self.current_row()["tags"]  # type: ignore[index]
            self.query_one(RunsInput).open("tags", " ".join(tags))

    @on(RunsInput.Done)
    def _edited(self, event: RunsInput.Done) -> None:
        """The input line's value: a filter, or the highlighted run's note or tags."""
        from engine.runs.notes import set_note, set_tags

        if event.what == "filter":
            self.filter_text = event.value.strip()
            self.reload()
            return
        run = self._current_run()
        if run is None:
            return
        try:
            if event.what == "note":
                set_note(run, event.value)
            else:
                set_tags(run, event.value.replace(",", " ").split())
        except RunError as exc:
            self.say(str(exc))
            return
        self.say(f"{event.what} saved for run {run.name}")
        self.reload()
