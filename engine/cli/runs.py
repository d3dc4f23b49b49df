"""``linreg-tui runs [--json] | runs show RUN | runs rm RUN...``: the run store from the shell.

RUN is a run id, a unique prefix (or the short id at its end), a path to a run directory, or
``latest``. Listing is torch-free and reads only each run's status and the ends of its log
(:mod:`engine.runs.table`), so it stays instant with many long runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from engine.cli.common import EXIT_OK, add_runs_dir_arg, table
from engine.cli.summary import latest_line, summary_lines
from engine.core.errors import RunError
from engine.core.events import EpochEnded, RunFinished
from engine.runs.log import RunLog
from engine.runs.status import RunStatus
from engine.runs.store import list_runs, resolve_run, runs_dir
from engine.runs.table import RUN_COLUMNS, row_cells, run_row

HELP = "list saved runs (runs), print one's summary (runs show RUN), delete runs (runs rm RUN...)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``runs``."""
    p.add_argument("action", nargs="?", choices=("list", "show", "rm"), default="list",
                   help="list (default), show RUN, or rm RUN...")
    p.add_argument("runs", nargs="*", metavar="RUN", help="id, unique prefix, path or latest")
    p.add_argument("--json", action="store_true", help="one JSON object per run")
    add_runs_dir_arg(p)


def _list(root: Path, as_json: bool) -> int:
    rows = [run_row(i) for i in list_runs(root)]
    out = sys.stdout
    if as_json:
        for r in rows:
            out.write(json.dumps(r) + "\n")
        return EXIT_OK
    if not rows:
        out.write(f"no runs yet in {root}\n")
        return EXIT_OK
    lines = table([list(RUN_COLUMNS), *(row_cells(r) for r in rows)], left=range(len(RUN_COLUMNS)))
    out.write("".join(line + "\n" for line in lines))
    return EXIT_OK


def _show(run: Path) -> int:
    started, last = RunLog(run).ends()
    state = RunStatus.read(run).run_state
    out = sys.stdout
    out.write(f"run {run.name}: {state}\n")
    if isinstance(last, RunFinished):
        out.write("\n".join(summary_lines(started, last)) + "\n")
    elif isinstance(last, EpochEnded):
        out.write(latest_line(last) + "\n")
    else:
        out.write("no epoch finished yet\n")
    return EXIT_OK


def _rm(paths: list[Path]) -> int:
    for run in paths:  # check every one before deleting any
        status = RunStatus.read(run)
        if status.run_state == "running":
            raise RunError(f"run {run.name} is still running (pid {status.pid}): stop it first")
    for run in paths:
        shutil.rmtree(run)
        print(f"deleted {run.name}")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """``runs``: RunError (bad input) is raised to the CLI, which prints one line, exit 2."""
    root = runs_dir(args.runs_dir)
    if args.action == "list":
        if args.runs:
            raise RunError(f"runs: unexpected argument '{args.runs[0][:80]}' (runs show RUN?)")
        return _list(root, args.json)
    if not args.runs:
        raise RunError(f"runs {args.action}: name a RUN (id, prefix, path or latest)")
    paths = [resolve_run(spec, root) for spec in args.runs]
    if args.action == "show":
        return sum(_show(p) for p in paths)
    return _rm(paths)
