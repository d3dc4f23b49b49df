"""The panels that show one run — formula, legend, plot, early stopping, run stats, and the
coefficient and metric tables — composed the same way on the dashboard and on a past run's
screen (:mod:`tui.runs_views`), so the two never drift apart."""

from __future__ import annotations

from collections.abc import Iterator

from textual.containers import Horizontal
from textual.widget import Widget

from tui.widgets.details import CoefficientsPanel, MetricsPanel
from tui.widgets.lines import FormulaLine
from tui.widgets.panels import EarlyStoppingPanel, RunStatsPanel
from tui.widgets.plot import Legend, LossPlot


def run_panels(prefix: str = "") -> Iterator[Widget]:
    """Yield the panels inside a ``compose`` (ids ``{prefix}plot``, ``{prefix}stats``, …)."""
    yield FormulaLine(id=f"{prefix}formula")
    yield Legend(id=f"{prefix}legend", markup=False)
    yield LossPlot(id=f"{prefix}plot")
    yield EarlyStoppingPanel(id=f"{prefix}early-stopping")
    yield RunStatsPanel(id=f"{prefix}stats")
    with Horizontal(id=f"{prefix}details"):
        yield CoefficientsPanel(id=f"{prefix}coefficients")
        yield MetricsPanel(id=f"{prefix}metrics")
