"""``linreg-tui train [PRESET] [--set K=V ...]``: a headless run that keeps a run directory.

Each run writes ``RUNS/<time>-<preset>-<id>/`` (see :mod:`engine.runs.store`) unless
``--no-save``; :func:`engine.cli.headless.run_headless` trains it, prints it and records it.
``--run-dir PATH`` trains into a directory chosen by the caller (the dashboard's trainer
process, :mod:`engine.cli.trainer_process`, so it knows where to follow); a run there that fails
on its config is kept, marked crashed with the key, for the caller to read. That directory must
be new or empty — or hold only what the dashboard prepared for this very process (its
``config.yaml``, its ``trainer.log``, a status naming this process): an existing run there is
never overwritten (``resume`` continues one).

``--nproc N`` (or ``train.processes: N``) trains as N data-parallel ranks under torchrun's
elastic agent (:mod:`engine.cli.launch`); a process that torchrun started (``WORLD_SIZE`` > 1,
also from a multi-node ``torchrun ... -m engine train PRESET``) is one rank of such a run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli.common import add_preset_args, add_runs_dir_arg
from engine.cli.headless import run_headless
from engine.cli.launch import add_nproc_arg, in_rank, launch, launched, nproc_overrides, run_rank
from engine.cli.summary import summary_lines
from engine.config import Config
from engine.core.errors import RunError

__all__ = ["HELP", "add_arguments", "run", "summary_lines"]  # summary_lines: its old home

HELP = "train headless, printing progress (or JSON events) and a summary; keeps a run directory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``train``."""
    add_preset_args(p)
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per event per line instead of progress text",
    )
    add_runs_dir_arg(p)
    p.add_argument(
        "--run-dir",
        metavar="PATH",
        default=None,
        help="write the run into this directory (created if missing) instead of a "
        "new one under the runs folder",
    )
    p.add_argument(
        "--no-save", action="store_true", help="keep no run directory (nothing is written to disk)"
    )
    add_nproc_arg(p)


def run(args: argparse.Namespace) -> int:
    """Load the preset (exit 2 on bad input), make the run directory, train."""
    from engine.config.presets import load_config
    from engine.runs.store import new_run_dir, runs_dir

    overrides = nproc_overrides(args)
    cfg = load_config(args.preset, overrides)
    ranks = in_rank()
    run_dir: Path | None = None  # also a multi-node rank other than 0: it writes nothing
    if ranks and launched():  # the launcher made and checked it
        run_dir = Path(args.run_dir) if args.run_dir else None
    elif (ranks and not _rank_zero()) or args.no_save:
        pass
    elif args.run_dir:
        run_dir = fresh_run_dir(Path(args.run_dir).expanduser(), args.preset, cfg)
    else:
        run_dir = new_run_dir(runs_dir(args.runs_dir), cfg.name)
        try:
            return _train(args, cfg, overrides, ranks, run_dir)
        except KeyboardInterrupt:  # a signal before the run's first event: no folder left
            _remove_if_unstarted(run_dir, set_up_too=True)
            raise
        except BaseException:  # a failure: a crash the writer recorded stays to be read
            _remove_if_unstarted(run_dir, set_up_too=False)
            raise
    return _train(args, cfg, overrides, ranks, run_dir)


def _train(
    args: argparse.Namespace, cfg: Config, overrides: list[str], ranks: bool, run_dir: Path | None
) -> int:
    """Train ``cfg`` here (or as one rank), or launch its ranks."""

    def here() -> int:
        return run_headless(
            cfg,
            as_json=args.json,
            out=sys.stdout,
            err=sys.stderr,
            run_dir=run_dir,
            keep_failed=bool(args.run_dir),
        )

    if ranks:
        return run_rank(cfg, here)
    if cfg.train.processes > 1:
        argv = ["train", args.preset, *_set_args(overrides)]
        argv += ["--json"] if args.json else []
        argv += ["--run-dir", str(run_dir)] if run_dir is not None else ["--no-save"]
        return launch(cfg.train.processes, argv, run_dir, made=not args.run_dir)
    return here()


def _set_args(overrides: list[str]) -> list[str]:
    """``--set=K=V`` for each override (the ``=`` form: a value may start with '-')."""
    return [f"--set={o}" for o in overrides]


def _rank_zero() -> bool:
    """Whether this torchrun rank is rank 0 (it writes the run directory)."""
    import os

    return os.environ.get("RANK", "0") == "0"


PREPARED = frozenset({"config.yaml", "trainer.log", "writer.lock"})
"""What the dashboard puts in a run directory before its trainer starts (besides a status)."""


def _remove_if_unstarted(run_dir: Path, *, set_up_too: bool) -> None:
    """Remove a run folder this process made if no run started in it: it holds at most its
    lock file or a temp file, or, with ``set_up_too`` (a signal stopped the command), also what
    the run's writer writes before the first event (its config, a running status, an empty log).
    A signal in the first seconds leaves no run behind that never ran."""
    import contextlib
    import os

    from engine.runs.files import is_temp_name
    from engine.runs.lock import LOCK_NAME
    from engine.runs.log import LOG_NAME

    set_up = {"config.yaml", "status.json", LOG_NAME} if set_up_too else set()
    with contextlib.suppress(OSError):
        names = os.listdir(run_dir)
        if LOG_NAME in names and os.path.getsize(run_dir / LOG_NAME) > 0:
            return  # the run started: its log is kept, read as stopped or crashed
        if all(n == LOCK_NAME or n in set_up or is_temp_name(n) for n in names):
            for name in names:
                os.unlink(run_dir / name)
            os.rmdir(run_dir)


def _prepared_for(path: Path, preset: str | None, cfg: Config | None) -> bool:
    """Whether ``path/config.yaml`` is the one this process was told to train, as the engine
    writes it (:func:`engine.cli.trainer_process.prepare_run_dir`): ``preset`` names that very
    file and its bytes are exactly what the run will write there. A user's own config.yaml is
    not (and one that is byte for byte the engine's loses nothing when rewritten)."""
    import os

    from engine.config.presets import portable_dict
    from engine.runs.writer import preset_yaml

    mine = path / "config.yaml"
    if preset is None or cfg is None or mine.is_symlink() or not mine.is_file():
        return False
    try:
        if not os.path.samefile(preset, mine):
            return False
        return mine.read_bytes() == preset_yaml(portable_dict(cfg, cfg.name)).encode()
    except OSError:
        return False


def fresh_run_dir(path: Path, preset: str | None = None, cfg: Config | None = None) -> Path:
    """``path`` created, or checked to be empty or prepared for this process; one line when it
    holds anything else (an earlier run, somebody's files) or cannot be made.

    Prepared means: the ``config.yaml`` the dashboard wrote for this run, which is the
    ``preset`` being trained (:func:`_prepared_for`), and beside it only its ``trainer.log``,
    a lock file and a status naming this process (or that status being written: its temp
    file). Without that config, a ``config.yaml`` or a ``trainer.log`` is somebody's file and
    the directory is refused. A symbolic link to a folder is followed here, once (the caller
    named it), so the run never sits behind a link.
    """
    import os

    from engine.runs.files import is_temp_name
    from engine.runs.status import RunStatus

    if path.exists() and not path.is_dir():
        raise RunError(f"--run-dir {path.name}: not a directory")
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    try:
        path.mkdir(parents=True, exist_ok=True)
        names = {p.name for p in path.iterdir()}
    except OSError as exc:
        raise RunError(f"--run-dir {path}: {exc.strerror or exc}") from None
    prepared = _prepared_for(path, preset, cfg)
    allowed = PREPARED if prepared else {"writer.lock"}
    # the dashboard writes the status as its trainer starts: its temp file may be there a moment
    others = sorted(
        n for n in names - allowed - {"status.json"} if not prepared or not is_temp_name(n)
    )
    if not others and "status.json" in names:
        try:
            mine = RunStatus.read(path).pid == os.getpid()
        except RunError:
            mine = False
        if not mine:
            others = ["status.json"]
    if others:
        shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
        raise RunError(
            f"--run-dir {path.name}: not empty (holds {shown}); use a new or "
            "empty directory ('linreg-tui resume' continues a run)"
        )
    return path
