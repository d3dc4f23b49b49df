"""``linreg-tui runs [--json] | runs show RUN | runs rm RUN...``: the run store from the shell.

RUN is a run id, a unique prefix (or the short id at its end), a path to a run directory, or
``latest``. Listing is torch-free and reads only each run's status and the ends of its log, so it
stays instant with many long runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from engine.core.events import EpochEnded, RunFinished, RunStarted
from engine.runs.store import (RunError, RunInfo, event_from_dict, list_runs, resolve_run, run_state,
                          read_status, runs_dir)

EXIT_OK, EXIT_BAD = 0, 2
HELP = "list saved runs (runs), print one's summary (runs show RUN), delete runs (runs rm RUN...)"
TAIL_BYTES = 1 << 16


def add_runs_dir_arg(p: argparse.ArgumentParser) -> None:
    """``--runs-dir DIR`` (shared by every command that reads or writes runs)."""
    p.add_argument("--runs-dir", metavar="DIR", default=None,
                   help="where runs are kept (default $LINREG_TUI_RUNS_DIR, else "
                        "$XDG_STATE_HOME/linreg-tui/runs, i.e. ~/.local/state/linreg-tui/runs)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``runs``."""
    p.add_argument("action", nargs="?", choices=("list", "show", "rm"), default="list",
                   help="list (default), show RUN, or rm RUN...")
    p.add_argument("runs", nargs="*", metavar="RUN", help="id, unique prefix, path or latest")
    p.add_argument("--json", action="store_true", help="one JSON object per run")
    add_runs_dir_arg(p)


def first_and_last_events(run: Path) -> tuple[RunStarted | None, Any]:
    """The run's RunStarted (first line) and its latest whole event (from the log's tail)."""
    try:
        with open(run / "events.jsonl", "rb") as fh:
            first = fh.readline()
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - TAIL_BYTES))
            tail = fh.read()
    except FileNotFoundError:
        return None, None
    started = last = None
    lines = [ln for ln in tail.split(b"\n")[:-1] if ln.strip()]  # drop a torn last line
    for raw in ([first] if first.endswith(b"\n") else []) + lines[-1:]:
        try:
            ev = event_from_dict(json.loads(raw))
        except (ValueError, TypeError, KeyError):
            continue
        if isinstance(ev, RunStarted):
            started = ev
        else:
            last = ev
    return started, last


def age(started_at: str) -> str:
    """How long ago a run started, in its largest unit (``3m``, ``2h``, ``5d``)."""
    try:
        t = time.mktime(time.strptime(started_at[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return "-"
    s = max(0.0, time.time() - t)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s / size:.0f}{unit}"
    return f"{s:.0f}s"


def run_row(info: RunInfo) -> dict[str, Any]:
    """What ``runs`` shows of one run (also its ``--json`` object)."""
    started, last = first_and_last_events(info.path)
    st = info.status
    epochs = best = r2 = None
    if isinstance(last, (EpochEnded, RunFinished)):
        epochs = last.epoch if isinstance(last, EpochEnded) else last.epochs_run
        best = last.best_monitor
        metrics = last.metrics or {}
        split = "test" if "test" in metrics else "val"
        r2 = (metrics.get(split) or {}).get("r2")
    reason = st.get("reason")
    status = info.state + (f" ({reason})" if info.state == "finished" and reason else "")
    if info.state == "crashed" and epochs is not None:
        status += f" at epoch {epochs}"
    return {"id": info.id, "path": str(info.path), "preset": st.get("preset"),
            "loss": st.get("loss"), "status": status, "state": info.state, "reason": reason,
            "epochs": epochs, "total_epochs": started.epochs if started else None,
            "best_monitor": best, "r2": r2, "started_at": info.started_at,
            "pid": st.get("pid"), "host": st.get("host")}


RUN_COLUMNS = ("id", "preset", "loss", "status", "epochs", "best", "r2", "age")
"""The columns of ``runs`` (and of the dashboard's runs screen)."""


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def row_cells(r: dict[str, Any]) -> list[str]:
    """One :func:`run_row` as the text of :data:`RUN_COLUMNS`."""
    return [r["id"], _fmt(r["preset"]), _fmt(r["loss"]), r["status"], _fmt(r["epochs"]),
            _fmt(r["best_monitor"]), _fmt(r["r2"]), age(r["started_at"])]


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
    table = [list(RUN_COLUMNS), *(row_cells(r) for r in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() + "\n")
    return EXIT_OK


def _show(run: Path) -> int:
    from engine.cli.train import summary_lines

    started, last = first_and_last_events(run)
    state = run_state(read_status(run))
    out = sys.stdout
    out.write(f"run {run.name}: {state}\n")
    if isinstance(last, RunFinished):
        out.write("\n".join(summary_lines(started, last)) + "\n")
    elif isinstance(last, EpochEnded):
        out.write(f"epoch {last.epoch}/{last.epochs}  train {_fmt(last.train_loss)}  "
                  f"val {_fmt(last.val_loss)}  best {_fmt(last.best_monitor)} @ "
                  f"{_fmt(last.best_epoch)}\n")
    else:
        out.write("no epoch finished yet\n")
    return EXIT_OK


def _rm(paths: list[Path]) -> int:
    for run in paths:  # check every one before deleting any
        status = read_status(run)
        if run_state(status) == "running":
            raise RunError(f"run {run.name} is still running (pid {status.get('pid')}): "
                           "stop it first")
    for run in paths:
        shutil.rmtree(run)
        print(f"deleted {run.name}")
    return EXIT_OK


PREDICT_HELP = "apply a run's saved model to the raw rows of a CSV file"


def add_predict(p: argparse.ArgumentParser) -> None:
    """Arguments of ``predict``."""
    p.add_argument("run", metavar="RUN", help="run id, unique prefix, path or latest")
    p.add_argument("file", metavar="FILE.csv", help="rows with the run's raw feature columns "
                   "(its target column may be there too; it is carried through)")
    p.add_argument("--out", metavar="FILE", default=None,
                   help="write the CSV here (atomically) instead of to stdout")
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    add_runs_dir_arg(p)


def cmd_predict(args: argparse.Namespace) -> int:
    """Read rows by the model's raw feature names, predict, write rows + a prediction column."""
    import csv
    import io

    import torch

    from engine.data.dataset import read_table
    from engine.runs.model_file import load_model
    from engine.runs.store import atomic_write

    run = resolve_run(args.run, runs_dir(args.runs_dir))
    model = load_model(run / "model.pt")
    path = Path(args.file).expanduser()
    names = list(model.raw_features)
    extra = [model.target] if model.target not in names else []
    table = read_table(path, names, optional=extra)
    pred = model.predict(table.values[:, :len(names)]).tolist()
    columns = names + [c for c in extra if c in table.columns]
    rows = table.values[:, :len(columns)].tolist()
    column = f"{model.target}_pred" if f"{model.target}_pred" not in columns else "prediction"
    buf = io.StringIO()
    if args.json:
        for row, p in zip(rows, pred):
            buf.write(json.dumps({**dict(zip(columns, row)), column: p}) + "\n")
    else:
        # Values are float32: write each as the shortest text that reads back to the same
        # float32 (32.1, not 32.0999985).
        cells = torch.cat((table.values[:, :len(columns)],
                           torch.tensor(pred).reshape(-1, 1)), dim=1).numpy()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns + [column])
        writer.writerows([str(v) for v in row] for row in cells)
    if args.out:
        atomic_write(Path(args.out).expanduser(), buf.getvalue().encode())
        print(f"wrote {len(pred)} predictions to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(buf.getvalue())
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
