"""``linreg-tui runs [--json] | runs show RUN | runs rm [-y] RUN...``: the run store from the shell.

RUN is a run id, a unique prefix (or the short id at its end), a path to a run directory, or
``latest``. Listing is torch-free and reads only each run's status and the ends of its log
(:mod:`engine.runs.table`), so it stays instant with many long runs; a damaged run is listed as
``unreadable`` with its reason, a run killed before its status as ``empty``, never a failure of
the whole listing.

``runs rm`` deletes only what is a run: a folder in the runs folder, or a path named outside it
that carries the run marker (:func:`engine.runs.store.resolve_run` with ``for_delete``). It
checks every run before deleting any, takes each one's writer lock so a run that trains is never
deleted under its writer, and asks on a terminal (y/N) unless ``-y``; with no terminal it needs
``-y``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from engine.cli.common import EXIT_OK, Parser, add_runs_dir_arg, table
from engine.cli.summary import latest_line, summary_lines
from engine.core.errors import RunError
from engine.core.events import EpochEnded, RunFinished
from engine.core.numbers import fmt_number
from engine.runs import lock
from engine.runs.log import RunLog
from engine.runs.status import RunStatus
from engine.runs.store import RunInfo, list_runs, resolve_run, runs_dir
from engine.runs.table import RUN_COLUMNS, row_cells, run_row
from engine.sweep.grouping import StudyGroup, group_runs

ACTIONS = ("list", "show", "rm")
HELP = (
    "list saved runs (runs), print one's summary (runs show RUN), delete runs (runs rm [-y] RUN...)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``runs``."""
    # The action and its runs are one positional, re-read in run() with the options mixed in:
    # as two positionals argparse rejects an option between them ('runs rm -y RUN').
    p.add_argument(
        "words",
        nargs=argparse.REMAINDER,
        metavar="ACTION [RUN ...]",
        help="list (default), show RUN..., or rm RUN... (RUN: id, unique prefix, path or latest)",
    )
    _add_options(p)


def _add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object per run")
    p.add_argument(
        "--all",
        action="store_true",
        help="list: every sweep trial's run under its study (by default a study's "
        "trial runs fold into one line)",
    )
    p.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="rm: delete without asking (needed when stdin is not a terminal)",
    )
    add_runs_dir_arg(p)


def _words(args: argparse.Namespace) -> argparse.Namespace:
    """The action, its runs and the options, wherever the options came."""
    again = Parser(prog="runs")
    again.add_argument("words", nargs="*")
    _add_options(again)
    more = again.parse_intermixed_args(args.words)
    return argparse.Namespace(
        words=more.words,
        json=args.json or more.json,
        yes=args.yes or more.yes,
        all=args.all or more.all,
        runs_dir=more.runs_dir or args.runs_dir,
    )


def _row(info: RunInfo) -> dict[str, Any]:
    """:func:`run_row`, with an unreadable run's reason in its status."""
    row = run_row(info)
    if info.problem is not None:
        row["problem"] = info.problem
        row["status"] = (
            f"{info.state}: {info.problem}"[:120] if info.state == "unreadable" else info.state
        )
    return row


def _group_cells(group: StudyGroup) -> list[str]:
    """A study's folded line in the runs table: its name, trial-run count and best value."""
    best = group.best()
    cells = dict.fromkeys(RUN_COLUMNS, "")
    cells.update(
        id=f"study {group.study}"[:40], preset="(sweep)", status=f"{len(group.trials)} trial runs"
    )
    if best is not None:
        cells["best"] = fmt_number(best.status.get("trial_value"))
    return [cells[c] for c in RUN_COLUMNS]


def _list(root: Path, as_json: bool, show_all: bool) -> int:
    """The runs, newest first; a sweep's trial runs fold into one line per study (``--all``:
    listed under it)."""
    entries = group_runs(list_runs(root), show_all=show_all)
    out = sys.stdout
    if as_json:
        for e in entries:
            out.write(json.dumps(e.to_dict() if isinstance(e, StudyGroup) else _row(e)) + "\n")
        return EXIT_OK
    if not entries:
        out.write(f"no runs yet in {root}\n")
        return EXIT_OK
    rows = [list(RUN_COLUMNS)]
    for e in entries:
        rows.append(_group_cells(e) if isinstance(e, StudyGroup) else row_cells(_row(e)))
    lines = table(rows, left=range(len(RUN_COLUMNS)))
    out.write("".join(line + "\n" for line in lines))
    return EXIT_OK


def _show(run: Path) -> int:
    state = RunStatus.read(run).run_state
    started, last = RunLog(run).ends(strict=True)
    out = sys.stdout
    out.write(f"run {run.name}: {state}\n")
    if isinstance(last, RunFinished):
        out.write("\n".join(summary_lines(started, last)) + "\n")
    elif isinstance(last, EpochEnded):
        out.write(latest_line(last) + "\n")
    else:
        out.write("no epoch finished yet\n")
    return EXIT_OK


def _check_removable(run: Path) -> None:
    """Refuse a run that still trains (by its status and its writer lock)."""
    try:
        status = RunStatus.read(run)
    except RunError:
        status = None  # unreadable or empty: its lock alone says whether a writer is there
    if status is not None and status.run_state == "running":
        raise RunError(f"run {run.name} is still running (pid {status.pid}): stop it first")
    if lock.held_elsewhere(run):
        raise RunError(
            f"run {run.name} is still running (its writer holds the lock): stop it first"
        )


def _confirm(paths: list[Path], yes: bool) -> bool:
    """Whether to go on: ``-y``, or a "y" typed on a terminal; no terminal without ``-y`` is an
    error."""
    if yes:
        return True
    if sys.stdin is None or not sys.stdin.isatty():
        raise RunError(
            f"runs rm: not deleting {len(paths)} run(s) without a terminal to ask "
            "on: pass -y to delete without asking"
        )
    names = ", ".join(p.name for p in paths[:3]) + (", …" if len(paths) > 3 else "")
    sys.stderr.write(f"delete {len(paths)} run(s) ({names})? [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _rm(paths: list[Path], yes: bool) -> int:
    unique = list(dict.fromkeys(paths))
    for run in unique:  # check every one before deleting any
        _check_removable(run)
    if not _confirm(unique, yes):
        sys.stderr.write("nothing deleted\n")
        return EXIT_OK
    for run in unique:
        with lock.holding(run):  # a writer starting now waits for us, then finds nothing
            _check_removable(run)
            _delete(run)
        print(f"deleted {run.name}")
    return EXIT_OK


def _delete(run: Path) -> None:
    """Remove ``run`` (one line naming it when that fails part way)."""
    try:
        shutil.rmtree(run)
    except OSError as exc:
        raise RunError(f"{run}: could not delete it all ({exc.strerror or exc})") from None


def run(args: argparse.Namespace) -> int:
    """``runs``: RunError (bad input) is raised to the CLI, which prints one line, exit 2."""
    args = _words(args)
    root = runs_dir(args.runs_dir)
    words = list(args.words)
    args.action = words.pop(0) if words and words[0] in ACTIONS else "list"
    args.runs = words
    if args.action == "list":
        if args.runs:
            raise RunError(f"runs: unexpected argument '{args.runs[0][:80]}' (runs show RUN?)")
        return _list(root, args.json, args.all)
    if not args.runs:
        raise RunError(f"runs {args.action}: name a RUN (id, prefix, path or latest)")
    paths = [resolve_run(spec, root, for_delete=args.action == "rm") for spec in args.runs]
    if args.action == "show":
        return sum(_show(p) for p in paths)
    return _rm(paths, args.yes)
