"""The loss lab's row-influence tables: top shares beside MSE's, and the rows carrying the loss.

Why a table and not a plot: the point of the view is *which rows* (their row in the source data,
to go and look at) and *how much* each carries, numbers a user copies; side by side with MSE's
shares it shows what a robust loss takes away from the outliers. Built from
:func:`engine.lab.influence.row_influence`'s dict; every number through the one formatter.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from engine.core.numbers import fmt_number


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def shares_table(inf: dict[str, Any]) -> Table:
    """Top 1% / 10% shares and the data loss, for the chosen loss and for MSE."""
    loss, mse = inf["loss"], inf["mse"]
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("share of the data loss")
    table.add_column(loss["name"], justify="right")
    if loss["name"] != "mse":
        table.add_column("mse", justify="right")
    for key in loss["share_top"]:
        cells = [percent(loss["share_top"][key])]
        if loss["name"] != "mse":
            cells.append(percent(mse["share_top"][key]))
        table.add_row(f"top {key} of rows", *cells)
    totals = [fmt_number(loss["total"])]
    if loss["name"] != "mse":
        totals.append(fmt_number(mse["total"]))
    table.add_row("data loss Σc", *totals)
    return table


def top_rows_table(inf: dict[str, Any]) -> Table:
    """The rows with the largest contribution to the chosen loss, largest first."""
    name = inf["loss"]["name"]
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for head in ("row", "y", "ŷ", "r", f"c {name}", "c mse", "robust z"):
        table.add_column(head, justify="right")
    for row in inf["top"]:
        table.add_row(
            str(row["row"]),
            fmt_number(row["y"]),
            fmt_number(row["pred"]),
            fmt_number(row["residual"]),
            fmt_number(row["contribution"]),
            fmt_number(row["mse_contribution"]),
            fmt_number(row["robust_z"], 3, missing="±inf"),
        )
    return table


def influence_tables(inf: dict[str, Any]) -> Group:
    """Both tables, shares first."""
    return Group(shares_table(inf), Text(""), top_rows_table(inf))
