"""``linreg-tui runs [--json] | runs show RUN | runs rm [-y] RUN...``: the run store from the shell.

RUN is a run id, a unique prefix (or the short id at its end), a path to a run directory, or
``latest``. Listing is torch-free and reads only each run's status and the ends of its log
(:mod:`engine.runs.table`), so it stays instant with many long runs; a damaged run is listed as
``unreadable`` with its reason, a run killed before its status as ``empty``, never a failure of
the whole listing.

``runs rm`` deletes only what is a run: a folder in the runs folder, or a path named outside it
that carries the run marker, holding only what a run writes and never a symbolic link
(:func:`engine.runs.store.resolve_run` with ``for_delete``). It
checks every run before deleting any, takes each one's writer lock so a run that trains is never
deleted under its writer, and asks on a terminal (y/N) unless ``-y``; with no terminal it needs
``-y``.

The listing (:mod:`engine.cli.runs_listing`, :mod:`engine.runs.table`) shows, besides the fixed
columns, the settings that differ between the runs listed, and tags and notes; ``--filter`` and
``--sort`` take the grammar of :mod:`engine.runs.table_query`; the table is fitted to the
terminal (``--width``; piped output is not fitted) by hiding the least important columns,
never by cutting one, and a last line says which were hidden. ``runs note`` and ``runs tag``
write the run's ``notes.json`` (:mod:`engine.runs.notes`), also while the run trains.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from engine.cli.common import EXIT_OK, Parser, add_runs_dir_arg
from engine.cli.runs_listing import listing, shown
from engine.cli.summary import latest_line, summary_lines
from engine.core.errors import RunError
from engine.core.events import EpochEnded, RunFinished
from engine.runs import lock
from engine.runs.log import RunLog
from engine.runs.notes import change_tags, read_notes, set_note
from engine.runs.status import RunStatus
from engine.runs.store import foreign_files, list_runs, resolve_run, runs_dir
from engine.runs.table import differing_settings, render
from engine.runs.table_query import DEFAULT_SORT

ACTIONS = ("list", "show", "rm", "note", "tag")
HELP = (
    "list saved runs (runs [--filter TEXT] [--sort COL[:desc]] [--all]), print one's summary "
    "(runs show RUN), delete runs (runs rm [-y] RUN...), note or tag a run (runs note RUN TEXT, "
    "runs tag RUN TAG... [--remove])"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``runs``."""
    # The action and its runs are one positional, re-read in run() with the options mixed in:
    # as two positionals argparse rejects an option between them ('runs rm -y RUN').
    p.add_argument(
        "words",
        nargs=argparse.REMAINDER,
        metavar="ACTION [RUN ...]",
        help="list (default), show RUN..., rm RUN..., note RUN TEXT, or tag RUN TAG... "
        "(RUN: id, unique prefix, path or latest)",
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
        "--filter",
        metavar="TEXT",
        default=None,
        help="list: only runs matching every word: a substring of id/preset/loss/state/"
        "tags/note, or key=value, key!=value, key<N, key>N (state=finished, loss=huber, "
        "tag=best, optim.lr<0.01, epochs>=100)",
    )
    p.add_argument(
        "--sort",
        metavar="COL[:desc]",
        default=None,
        help="list: order by started (default, newest first), state, loss, best, r2, epochs, "
        "preset, id or a setting (lr, optim.lr); :desc reverses",
    )
    p.add_argument(
        "--width",
        type=int,
        metavar="COLS",
        default=None,
        help="list: fit the table to COLS columns, hiding the least important ones "
        "(default: $COLUMNS, else the terminal's width; piped: no limit; 0: no limit)",
    )
    p.add_argument(
        "--remove", action="store_true", help="tag: remove the tags instead of adding them"
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
        remove=args.remove or more.remove,
        filter=more.filter if more.filter is not None else args.filter,
        sort=more.sort if more.sort is not None else args.sort,
        width=more.width if more.width is not None else args.width,
        runs_dir=more.runs_dir or args.runs_dir,
    )


def _json(row: dict[str, Any], settings: list[str]) -> dict[str, Any]:
    """A row as ``--json`` prints it: the settings that differ between the listed runs only;
    a study row as before (``study``, ``trial_runs``, ``best_run``) with its counts."""
    if row.get("kind") == "study":
        return {
            "study": row["study"],
            "trial_runs": [t["id"] for t in row["trials"]],
            "best_run": row["best_run"],
            "status": row["status"],
        }
    out = {k: v for k, v in row.items() if k not in ("settings", "under_study", "started_key")}
    out["settings"] = {k: row["settings"][k] for k in settings if k in row["settings"]}
    return out


def _width(asked: int | None) -> int:
    """The table's width: ``--width``, else ``$COLUMNS``, else the terminal's; piped into
    another program (no terminal), no limit, so a script or ``grep`` sees every column whole."""
    if asked is not None:
        if asked < 0:
            raise RunError(f"--width {asked}: a number of columns, or 0 for no limit")
        return asked
    if os.environ.get("COLUMNS", "").isdigit() or sys.stdout.isatty():
        return shutil.get_terminal_size((80, 24)).columns
    return 0


def _list(root: Path, args: argparse.Namespace) -> int:
    """The runs, newest first (or ``--sort``), only those matching ``--filter``; a sweep's
    trial runs fold into one line per study (``--all``: listed under it)."""
    rows = listing(list_runs(root), filter_text=args.filter or "", sort=args.sort or DEFAULT_SORT)
    rows = shown(rows, lambda _study: bool(args.all))
    out = sys.stdout
    if args.json:
        settings = differing_settings(rows)
        for row in rows:
            out.write(json.dumps(_json(row, settings)) + "\n")
        return EXIT_OK
    if not rows:
        out.write(
            f"no runs match '{args.filter}' in {root}\n"
            if args.filter
            else f"no runs yet in {root}\n"
        )
        return EXIT_OK
    out.write("".join(line + "\n" for line in render(rows, _width(args.width))))
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


def _check_ours(run: Path) -> None:
    """Refuse to write notes into a symbolic link or a folder holding files no run writes (a
    ``status.json`` alone does not make somebody's folder a run)."""
    others = None if run.is_symlink() else foreign_files(run)
    if others is None or others:
        shown = f" (it holds {', '.join(o[:40] for o in others[:3])})" if others else ""
        raise RunError(f"{run}: not a run directory{shown}; not writing notes there")


def _annotate(action: str, run: Path, words: list[str], remove: bool) -> int:
    """``runs note RUN TEXT`` (``""`` clears it) or ``runs tag RUN TAG... [--remove]``."""
    if action == "tag" or words:  # a write
        _check_ours(run)
    if action == "note":
        if not words:
            note = read_notes(run).note
            print(note if note else f"run {run.name} has no note (runs note RUN TEXT sets one)")
            return EXIT_OK
        notes = set_note(run, " ".join(words))
        print(f"run {run.name}: note " + (f"'{notes.note}'" if notes.note else "cleared"))
        return EXIT_OK
    if not words:
        raise RunError("runs tag: name a TAG (runs tag RUN TAG... [--remove])")
    notes = change_tags(run, remove=tuple(words)) if remove else change_tags(run, add=tuple(words))
    print(f"run {run.name}: tags " + (", ".join(notes.tags) if notes.tags else "(none)"))
    return EXIT_OK


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
        return _list(root, args)
    if not args.runs:
        raise RunError(f"runs {args.action}: name a RUN (id, prefix, path or latest)")
    if args.action in ("note", "tag"):
        return _annotate(args.action, resolve_run(args.runs[0], root), args.runs[1:], args.remove)
    paths = [resolve_run(spec, root, for_delete=args.action == "rm") for spec in args.runs]
    if args.action == "show":
        return sum(_show(p) for p in paths)
    return _rm(paths, args.yes)
