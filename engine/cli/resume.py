"""``linreg-tui resume RUN [--set train.epochs=N ...]``: continue a run from its checkpoint.

The checks (not running, only ``train.*``/``early_stopping.*`` changed, epochs left to run) are
:func:`engine.runs.resume.prepare_resume`'s; the run goes on in the same directory, printed as
``train`` prints it.
"""

from __future__ import annotations

import argparse
import sys

from engine.cli.common import add_run_arg, add_runs_dir_arg
from engine.cli.headless import run_headless

HELP = "continue a stopped, killed or finished run from its checkpoint"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``resume``."""
    add_run_arg(p)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V",
                   help="change train.* or early_stopping.* keys, e.g. --set train.epochs=200")
    p.add_argument("--json", action="store_true", help="print events as JSON lines")
    add_runs_dir_arg(p)


def run(args: argparse.Namespace) -> int:
    from engine.runs.resume import prepare_resume
    from engine.runs.store import resolve_run, runs_dir

    run_dir = resolve_run(args.run, runs_dir(args.runs_dir))
    cfg, state = prepare_resume(run_dir, args.overrides)
    return run_headless(cfg, as_json=args.json, out=sys.stdout, err=sys.stderr, run_dir=run_dir,
                        resume_from=state, resume_epoch=state["epoch"] if state else 0)
