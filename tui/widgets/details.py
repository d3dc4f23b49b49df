"""The details under the run panel from 32 rows: the coefficient table and the metric table.

Kept apart from :mod:`tui.widgets.panels` (the panels every screen size shows). Which columns
and metrics exist is decided by :mod:`engine.core.report`, as for the CLI; the two panels share
one row, so the coefficient table narrows (:meth:`~engine.core.report.CoefTable.narrowings`)
to leave the metric table its least width.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from engine.core.report import (
    LEARNED,
    LEARNED_RAW,
    OPTIMUM,
    OPTIMUM_RAW,
    TRUE,
    CoefRow,
    coefficient_table,
    data_summary,
    metric_table,
)
from tui.history import RunHistory
from tui.series import fmt_num
from tui.view import View
from tui.widgets.panels import Panel

COLUMN_HEADERS = {LEARNED: "learned", OPTIMUM: "optimum", TRUE: "true"}
STD_COLUMN_HEADERS = {
    LEARNED: "w std",
    OPTIMUM: "opt std",
    LEARNED_RAW: "w raw",
    OPTIMUM_RAW: "opt raw",
    TRUE: "true",
}
"""Column headers with one set of units, and with standardised and raw ones side by side."""


class CoefficientsPanel(Panel):
    """Per feature: learned and optimum weights, in raw units too when standardised, and truth.

    With standardised data the weights are shown both ways: standardised ("std", what gradient
    descent works in and is compared with the optimum in) and raw (the data's own units,
    comparable with the true weights). Where the panel is too narrow for all of that, the
    standardised columns go first, then the raw optimum: learned-vs-truth is the last to go.
    """

    BORDER_TITLE = "Coefficients"
    DEFAULT_CSS = "CoefficientsPanel { width: auto; min-width: 33; }"
    """As wide as its table, so the Metrics panel beside it takes the rest (no wide gap
    between the two tables on a wide screen)."""
    MAX_ROWS = 12

    def render_history(self, history: RunHistory, view: View) -> None:
        s = history.started
        if s is None:
            self.update(Text("coefficients appear when a run starts", style="dim"))
            return
        table = coefficient_table(s, history.current)
        if table.column(OPTIMUM) is not None:
            self.border_title = Text(f"Coefficients (optimum: {table.optimum_kind or '?'})")
        else:
            self.border_title = Text("Coefficients")
        headers = STD_COLUMN_HEADERS if table.standardised else COLUMN_HEADERS
        features = [r for r in table.rows if r.index is not None]
        rows: list[CoefRow | None] = list(features[: self.MAX_ROWS])
        if len(features) > self.MAX_ROWS:
            rows.append(None)  # "…"
        rows += [r for r in table.rows if r.index is None]
        room = self._room()
        for narrower in table.narrowings():
            columns = narrower.columns
            cells = [[r.name, *(fmt_num(c.cell(r)) for c in columns)] if r else ["…"] for r in rows]
            if (
                room <= 0
                or _table_width(["coef", *(headers[c.key] for c in columns)], cells) <= room
            ):
                break
        grid = Table(
            box=None,
            padding=(0, 1),
            collapse_padding=True,
            pad_edge=False,
            show_edge=False,
            expand=False,
        )
        grid.add_column("coef")
        for column in columns:
            grid.add_column(headers[column.key], justify="right")
        for row in cells:
            grid.add_row(*(Text(cell) for cell in row))  # feature names are not markup
        self.update(grid)

    def _room(self) -> int:
        """Cells the table may take: the row less the Metrics panel's least width."""
        parent = self.parent
        if not isinstance(parent, Widget) or parent.size.width <= 0:
            return 0
        metrics = parent.query_one(MetricsPanel) if parent.query(MetricsPanel) else None
        least = metrics.least_width if metrics is not None else 0
        return max(parent.size.width - least - self.styles.gutter.width, 20)


def _table_width(headers: list[str], rows: list[list[str]]) -> int:
    """Cells a table of these headers and rows takes with one space between columns."""
    widths = [len(h) for h in headers]
    for row in rows:
        for j, cell in enumerate(row):
            widths[j] = max(widths[j], len(cell))
    return sum(widths) + len(widths) - 1


def _fit(value: float | None, width: int) -> str:
    """The most significant digits (4 down to 1) that fit in ``width`` characters."""
    for digits in (4, 3, 2):
        text = fmt_num(value, digits)
        if len(text) <= width:
            return text
    return fmt_num(value, 1)


METRIC_WIDTH = 6
"""Characters of one metric value (``_fit`` picks the digits that fit)."""


class MetricsPanel(Panel):
    """MSE/RMSE/MAE/R² per split; test appears when the run ends; then warnings.

    Metrics are in the target's raw units; when the losses are not (standardize_target) the
    title says so.
    """

    BORDER_TITLE = "Metrics"
    DEFAULT_CSS = "MetricsPanel { width: 1fr; min-width: 34; padding: 0 0 0 1; }"

    @property
    def least_width(self) -> int:
        """The panel's width for its table: 6 + 7 per metric column (34 for four)."""
        return max(34, 7 + (1 + METRIC_WIDTH) * self._columns)

    _columns = 4

    def render_history(self, history: RunHistory, view: View) -> None:
        s = history.started
        metrics = metric_table(s, history.current)
        if metrics and len(metrics.keys) != self._columns:
            self._columns = len(metrics.keys)
            self.styles.min_width = self.least_width
        self.border_title = Text("Metrics (raw y units)" if metrics.raw_y else "Metrics")
        parts: list[Any] = []
        if metrics:
            # Fixed, unwrapped value columns of 6 characters, one space apart: 5 + 4 x (1 + 6)
            # = 33 cells, the panel's inner width (width 34, padding-left 1). The table never
            # shrinks to "tra…" beside the coefficient table, and no two numbers touch
            # ("6.0550.00838").
            table = Table(
                box=None,
                padding=(0, 0, 0, 1),
                pad_edge=False,
                show_edge=False,
                collapse_padding=True,
            )
            for col in ("", *metrics.keys):
                table.add_column(
                    col,
                    justify="left" if not col else "right",
                    no_wrap=True,
                    min_width=5 if not col else METRIC_WIDTH,
                )
            for split, values in metrics.rows():
                table.add_row(Text(split), *(_fit(v, METRIC_WIDTH) for v in values))
            parts.append(table)
        else:
            parts.append(Text("metrics appear when a run starts", style="dim"))
        if s is not None:
            data = Text(data_summary(s), style="dim")
            if s.condition_number is not None:
                data.append(f", cond {fmt_num(s.condition_number, 3)}")
            parts.append(data)
            for w in s.warnings:
                parts.append(Text(f"⚠ {w}", style="yellow"))
        self.update(Group(*parts))
