"""``linreg-tui train [PRESET] [--set K=V ...]``: a headless run that keeps a run directory.

Each run writes ``RUNS/<time>-<preset>-<id>/`` (see :mod:`engine.runs.store`) unless
``--no-save``; :func:`engine.cli.headless.run_headless` trains it, prints it and records it.
``--run-dir PATH`` trains into a directory chosen by the caller (the dashboard's trainer
process, :mod:`engine.cli.trainer_process`, so it knows where to follow); a run there that fails
on its config is kept, marked crashed with the key, for the caller to read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli.common import add_preset_args, add_runs_dir_arg
from engine.cli.headless import run_headless
from engine.cli.summary import summary_lines

__all__ = ["HELP", "add_arguments", "run", "summary_lines"]  # summary_lines: its old home

HELP = "train headless, printing progress (or JSON events) and a summary; keeps a run directory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``train``."""
    add_preset_args(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per event per line instead of progress text")
    add_runs_dir_arg(p)
    p.add_argument("--run-dir", metavar="PATH", default=None,
                   help="write the run into this directory (created if missing) instead of a "
                        "new one under the runs folder")
    p.add_argument("--no-save", action="store_true",
                   help="keep no run directory (nothing is written to disk)")


def run(args: argparse.Namespace) -> int:
    """Load the preset (exit 2 on bad input), make the run directory, train."""
    from engine.config.presets import load_config
    from engine.runs.store import new_run_dir, runs_dir

    cfg = load_config(args.preset, args.overrides)
    if args.no_save:
        run_dir = None
    elif args.run_dir:
        run_dir = Path(args.run_dir).expanduser()
        run_dir.mkdir(parents=True, exist_ok=True)
    else:
        run_dir = new_run_dir(runs_dir(args.runs_dir), cfg.name)
    return run_headless(cfg, as_json=args.json, out=sys.stdout, err=sys.stderr, run_dir=run_dir,
                        keep_failed=bool(args.run_dir))
