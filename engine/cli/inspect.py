"""``linreg-tui inspect RUN [--json]``: what a finished run's loss does to its data.

RUN is a run id, unique prefix, path or ``latest``. Prints the residual histogram
(``r = y - ŷ``) with the loss and its derivative ``ψ(r)`` at each bin, the share of the data loss
carried by the top 1% and 10% of rows (the run's loss beside MSE), and the rows that carry most
of it (their row in the source data, y, ŷ, r, contributions, robust z). ``--json`` prints
everything as one object (:func:`engine.lab.inspect.inspect_run`: the loss shape on a fine grid
too), for scripts and tests. Torch is imported only inside :func:`run`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from engine.cli.common import EXIT_OK, add_run_arg, add_runs_dir_arg, positive, table
from engine.core.numbers import fmt_number

HELP = "a finished run's residual histogram, the rows that carry its loss, and its loss's shape"
NAME = "inspect"
BAR_WIDTH = 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``inspect``."""
    add_run_arg(p)
    p.add_argument(
        "--top",
        type=positive,
        default=10,
        metavar="K",
        help="how many of the rows with the largest contribution to list (default 10)",
    )
    p.add_argument(
        "--bins",
        type=positive,
        default=12,
        metavar="N",
        help="bins of the residual histogram (default 12)",
    )
    p.add_argument(
        "--compare",
        default="mse",
        metavar="LOSS",
        help="a registered loss whose shape the JSON shows beside the run's (default mse)",
    )
    p.add_argument("--json", action="store_true", help="print everything as one JSON object")
    add_runs_dir_arg(p)


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f}%"


def histogram_lines(shape: dict[str, Any], splits: list[str]) -> list[str]:
    """One row per bin: its range, the count of each split (a bar for the first), L and ψ."""
    hist = shape["histogram"]
    edges, first = hist["edges"], hist[splits[0]]["counts"]
    top = max(first) or 1
    rows = [["r from", "to", *splits, "L(r)", "ψ(r)", ""]]
    for b in range(len(hist["centres"])):  # L and ψ are at the bin centres
        bar = "#" * round(BAR_WIDTH * first[b] / top)
        rows.append(
            [
                fmt_number(edges[b]),
                fmt_number(edges[b + 1]),
                *(str(hist[s]["counts"][b]) for s in splits),
                fmt_number(hist["L"][b]),
                fmt_number(hist["psi"][b]),
                bar,
            ]
        )
    return table(rows, left=(-1,))


def share_lines(influence: dict[str, Any], loss: str) -> list[str]:
    """The top-1%/10% shares and the data loss, per split, the run's loss beside MSE."""
    cols = [
        (split, which)
        for split in influence
        for which in ("loss", "mse")
        if which == "loss" or loss != "mse"
    ]
    rows = [["", *(f"{s} {influence[s][w]['name']}" for s, w in cols)]]
    for key in ("1%", "10%"):
        rows.append(
            [f"top {key} of rows", *(_pct(influence[s][w]["share_top"][key]) for s, w in cols)]
        )
    rows.append(["data loss", *(fmt_number(influence[s][w]["total"]) for s, w in cols)])
    return table(rows)


def top_lines(inf: dict[str, Any], loss: str) -> list[str]:
    """The rows with the largest contribution to the run's loss."""
    where = "row in the source data" if inf["rows_from"] == "data" else "index in the split"
    rows = [["row", "y", "ŷ", "r", loss, *(["mse"] if loss != "mse" else []), "robust z"]]
    for r in inf["top"]:
        rows.append(
            [
                str(r["row"]),
                fmt_number(r["y"]),
                fmt_number(r["pred"]),
                fmt_number(r["residual"]),
                fmt_number(r["contribution"]),
                *([fmt_number(r["mse_contribution"])] if loss != "mse" else []),
                fmt_number(r["robust_z"]),
            ]
        )
    return [
        f"the {len(inf['top'])} training rows carrying most of the loss",
        f"(row: {where}; the contributions L(r)/n sum to the data loss):",
        *table(rows),
    ]


def lines(report: dict[str, Any]) -> list[str]:
    """The report as text."""
    loss = report["loss"]
    splits = list(report["n"])
    out = [f"run {report['run']} (preset {report['preset']})", f"loss: {loss['objective']}"]
    if report["note"]:
        out.append(f"note: {report['note']}")
    if report["y_std"] != 1.0 or report["y_mean"] != 0.0:
        out.append(
            f"units: as trained, y' = (y - {fmt_number(report['y_mean'])}) / "
            f"{fmt_number(report['y_std'])}"
        )
    counts = ", ".join(f"{s} {report['n'][s]} rows" for s in splits)
    out += [
        "",
        f"residuals r = y - ŷ ({counts}):",
        *histogram_lines(report["shape"], splits),
        "",
        "share of the data loss carried by the top rows:",
        *share_lines(report["influence"], loss["name"]),
    ]
    if "train" in report["influence"]:
        out += ["", *top_lines(report["influence"]["train"], loss["name"])]
    return out


def run(args: argparse.Namespace) -> int:
    """Inspect the run and print the report (exit 0); a bad run raises RunError (exit 2)."""
    from engine.lab.inspect import inspect_run

    report = inspect_run(args.run, args.runs_dir, k=args.top, bins=args.bins, compare=args.compare)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print("\n".join(lines(report)))
    return EXIT_OK
