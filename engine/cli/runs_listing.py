"""The runs listing as ``runs`` and the dashboard's runs screen both build it: every run's row,
filtered, a sweep's trial runs folded under one study row, sorted.

Why here: the rows and the table are :mod:`engine.runs.table` (below the sweep package), the
folding of a study's trials is :func:`engine.sweep.grouping.group_runs` (above it); this is the
first layer that sees both. The filter applies to runs before they are folded, so a study row
counts the trial runs that match. Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from engine.runs.store import RunInfo
from engine.runs.table import run_row, study_row
from engine.runs.table_query import DEFAULT_SORT, parse_sort, row_filter, sort_rows
from engine.sweep.grouping import StudyGroup, group_runs


def info_row(info: RunInfo) -> dict[str, Any]:
    """:func:`run_row`, with an unreadable run's reason in its status."""
    row = run_row(info)
    if info.problem is not None:
        row["problem"] = info.problem
        row["status"] = (
            f"{info.state}: {info.problem}"[:120] if info.state == "unreadable" else info.state
        )
    return row


def listing(
    infos: Sequence[RunInfo],
    *,
    filter_text: str = "",
    sort: tuple[str, bool] | str = DEFAULT_SORT,
    row_of: Callable[[RunInfo], dict[str, Any]] = info_row,
) -> list[dict[str, Any]]:
    """Top-level rows (runs and study rows, each study row's ``trials`` sorted the same way),
    for ``filter_text`` and ``sort`` (``COL[:desc]`` or a parsed pair); a bad filter or sort
    raises :class:`~engine.core.errors.RunError`."""
    rows = {i.id: row_of(i) for i in infos}
    every = list(rows.values())
    name, descending = parse_sort(sort, every) if isinstance(sort, str) else sort
    keep = row_filter(filter_text, every)
    kept = [i for i in infos if keep(rows[i.id])]
    out: list[dict[str, Any]] = []
    for entry in group_runs(kept):
        if isinstance(entry, StudyGroup):
            trials = sort_rows([rows[t.id] for t in entry.trials], name, descending, every)
            best = entry.best()
            out.append(study_row(entry.study, trials, best.id if best is not None else None))
        else:
            out.append(rows[entry.id])
    return sort_rows(out, name, descending, every)


def shown(rows: Sequence[dict[str, Any]], expanded: Callable[[str], bool]) -> list[dict[str, Any]]:
    """The rows a table shows: each study row followed by its trial runs when
    ``expanded(study)`` (marked ``under_study``)."""
    out: list[dict[str, Any]] = []
    for row in rows:
        out.append(row)
        if row.get("kind") == "study" and expanded(row["study"]):
            out.extend({**t, "under_study": row["study"]} for t in row["trials"])
    return out
