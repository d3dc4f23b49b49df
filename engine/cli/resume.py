"""``linreg-tui resume RUN [--set train.epochs=N ...]``: continue a run from its checkpoint.

The checks (not running, only ``train.*``/``early_stopping.*`` changed, the config still the
checkpoint's, an undamaged log, epochs left to run) are
:func:`engine.runs.resume.prepare_resume`'s; the run goes on in the same directory, printed as
``train`` prints it. The run's writer lock is taken first and held to the end, so a second
``resume`` of the same run is refused at once, before it reads or changes anything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli.common import add_run_arg, add_runs_dir_arg
from engine.cli.headless import run_headless
from engine.core.errors import ConfigError, RunError

HELP = "continue a stopped, killed or finished run from its checkpoint"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``resume``."""
    add_run_arg(p)
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="K=V",
        help="change train.* or early_stopping.* keys, e.g. --set train.epochs=200",
    )
    p.add_argument("--json", action="store_true", help="print events as JSON lines")
    add_runs_dir_arg(p)


def run(args: argparse.Namespace) -> int:
    from engine.runs import lock
    from engine.runs.resume import prepare_resume
    from engine.runs.status import RunStatus
    from engine.runs.store import is_run_dir, resolve_run, runs_dir

    run_dir = resolve_run(args.run, runs_dir(args.runs_dir))
    RunStatus.read(run_dir)  # a damaged status: its own reason, before the lock file is made
    if not is_run_dir(run_dir):
        raise RunError(
            f"{run_dir}: not a run directory (no status.json written by linreg-tui "
            "beside a config.yaml)"
        )
    with lock.holding(run_dir):
        cfg, state = prepare_resume(run_dir, args.overrides)
        before = _status_bytes(run_dir)
        try:
            return run_headless(
                cfg,
                as_json=args.json,
                out=sys.stdout,
                err=sys.stderr,
                run_dir=run_dir,
                resume_from=state,
                resume_epoch=state["epoch"] if state else 0,
            )
        except (ConfigError, KeyboardInterrupt):
            raise
        except Exception as exc:
            if _status_bytes(run_dir) != before:
                raise  # it had started: the run is marked crashed with the error
            # the checkpoint did not fit the run (a key or shape it lacks): nothing changed
            raise RunError(
                f"run {run_dir.name}: its checkpoint does not fit "
                f"({type(exc).__name__}: {str(exc)[:60]}); nothing was "
                "changed"
            ) from None


def _status_bytes(run_dir: Path) -> bytes | None:
    """``status.json`` as it is now (a resume that started has rewritten it)."""
    try:
        return (run_dir / "status.json").read_bytes()
    except OSError:
        return None
