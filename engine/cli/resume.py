"""``linreg-tui resume RUN [--set train.epochs=N ...]``: continue a run from its checkpoint.

The checks (not running, only ``train.*``/``early_stopping.*`` changed, the config still the
checkpoint's, an undamaged log, epochs left to run) are
:func:`engine.runs.resume.prepare_resume`'s; the run goes on in the same directory, printed as
``train`` prints it; resuming an early-stopped run with no more patience says in one line that
early stopping will stop it again. The run's writer lock is taken first and held to the end, so
a second ``resume`` of the same run is refused at once, before it reads or changes anything.

``--nproc M`` (or the run's own ``train.processes``) resumes as M data-parallel ranks
(:mod:`engine.cli.launch`), whatever number the run had: a checkpoint does not depend on it.
Rank 0 resumes as above; the other ranks read the same config and checkpoint and write nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.cli.common import add_run_arg, add_runs_dir_arg
from engine.cli.headless import run_headless
from engine.cli.launch import add_nproc_arg, in_rank, launch, nproc_overrides, run_rank
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
    add_nproc_arg(p)


def run(args: argparse.Namespace) -> int:
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
    overrides = nproc_overrides(args)
    if in_rank():
        return _rank(args, run_dir, overrides)
    if args.nproc is None or args.nproc > 1:
        from engine.runs import lock

        with lock.holding(run_dir):  # a run another process writes: the lock's refusal
            cfg, _ = prepare_resume(run_dir, overrides)  # its errors before any rank starts
        if cfg.train.processes > 1:
            argv = ["resume", str(run_dir.resolve()), *(f"--set={o}" for o in overrides)]
            return launch(cfg.train.processes, argv + (["--json"] if args.json else []), run_dir)
    return _resume(args, run_dir, overrides)


def _rank(args: argparse.Namespace, run_dir: Path, overrides: list[str]) -> int:
    """One rank of a data-parallel resume: rank 0 resumes the run; the others load the same
    config and checkpoint (before any rank can write a new one) and train alongside."""
    from engine.config.presets import load_config
    from engine.runs.checkpoint import load_checkpoint

    cfg = load_config(str(run_dir / "config.yaml"), overrides)
    ckpt = run_dir / "checkpoint.pt"
    state = load_checkpoint(ckpt) if ckpt.exists() else None
    return run_rank(cfg, lambda: _resume(args, run_dir, overrides), state)


def _resume(args: argparse.Namespace, run_dir: Path, overrides: list[str]) -> int:
    """Take the run's lock, check it can resume, and train it on in this process."""
    from engine.runs import lock
    from engine.runs.resume import prepare_resume
    from engine.runs.status import RunStatus

    with lock.holding(run_dir):
        cfg, state = prepare_resume(run_dir, overrides)
        hint = _early_stop_hint(RunStatus.read(run_dir).reason, cfg, state)
        if hint:
            sys.stderr.write(hint + "\n")
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


def _early_stop_hint(reason: str | None, cfg: Any, state: dict[str, Any] | None) -> str:
    """One line when an early-stopped run resumes with early stopping as patient as before: its
    wait is already at patience, so it would stop again after the next epoch without a gain."""
    es = cfg.early_stopping
    if reason != "early_stopped" or not es.enabled:
        return ""
    saved = (state or {}).get("early_stopping")
    wait = saved.get("wait") if isinstance(saved, dict) else None
    if not isinstance(wait, int) or wait < es.patience:
        return ""
    return (
        f"note: this run early-stopped (wait {wait}/{es.patience}); early stopping will stop it "
        f"again unless it improves at once: raise --set early_stopping.patience=N (N > {wait}) "
        "or --set early_stopping.enabled=false"
    )


def _status_bytes(run_dir: Path) -> bytes | None:
    """``status.json`` as it is now (a resume that started has rewritten it)."""
    try:
        return (run_dir / "status.json").read_bytes()
    except OSError:
        return None
