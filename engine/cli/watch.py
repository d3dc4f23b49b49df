"""``linreg-tui watch RUN``: open the dashboard on a run, live while it trains, read-only.

The engine never imports the dashboard: ``tui.cli`` hands its opener in (a
:data:`engine.cli.common.WatchApp`, set on this command's parser as ``open_run``). This module
finds the run and checks it can be read (one line, exit 2, for an unknown or unreadable run: its
status, and the first and latest lines of its log), before any screen is drawn;
``python -m engine`` has no dashboard and says so.
"""

from __future__ import annotations

import argparse

from engine.cli.common import UsageError, WatchApp, add_run_arg, add_runs_dir_arg

HELP = "open the dashboard on a run (id, unique prefix, path or latest), read-only"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``watch``."""
    add_run_arg(p)
    add_runs_dir_arg(p)


def run(args: argparse.Namespace) -> int:
    from engine.runs.log import RunLog
    from engine.runs.status import RunStatus
    from engine.runs.store import resolve_run, runs_dir

    root = runs_dir(args.runs_dir)
    run_dir = resolve_run(args.run, root)
    RunStatus.read(run_dir)  # an unreadable run is one line here, not a dashboard error
    RunLog(run_dir).ends(strict=True)
    open_run: WatchApp | None = getattr(args, "open_run", None)
    if open_run is None:
        raise UsageError("watch: the dashboard is not available here; use 'linreg-tui watch'")
    return open_run(run_dir, root)
