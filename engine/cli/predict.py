"""``linreg-tui predict RUN FILE.csv [--out FILE] [--json]``: a run's model on raw rows.

The rows are read by the model's raw feature names (its target column may be there too and is
carried through); the predictions repeat training's own arithmetic
(:class:`engine.runs.model_file.LinearModel`). Torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.cli.common import EXIT_OK, add_run_arg, add_runs_dir_arg

HELP = "apply a run's saved model to the raw rows of a CSV file"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``predict``."""
    add_run_arg(p)
    p.add_argument("file", metavar="FILE.csv", help="rows with the run's raw feature columns "
                   "(its target column may be there too; it is carried through)")
    p.add_argument("--out", metavar="FILE", default=None,
                   help="write the CSV here (atomically) instead of to stdout")
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    add_runs_dir_arg(p)


def run(args: argparse.Namespace) -> int:
    """Read rows by the model's raw feature names, predict, write rows + a prediction column."""
    import csv
    import io

    import torch

    from engine.data.dataset import read_table
    from engine.runs.files import atomic_write
    from engine.runs.model_file import load_model
    from engine.runs.store import resolve_run, runs_dir

    run_dir = resolve_run(args.run, runs_dir(args.runs_dir))
    model = load_model(run_dir / "model.pt")
    path = Path(args.file).expanduser()
    names = list(model.raw_features)
    extra = [model.target] if model.target not in names else []
    data = read_table(path, names, optional=extra)
    pred = model.predict(data.values[:, :len(names)]).tolist()
    columns = names + [c for c in extra if c in data.columns]
    rows = data.values[:, :len(columns)].tolist()
    column = f"{model.target}_pred" if f"{model.target}_pred" not in columns else "prediction"
    buf = io.StringIO()
    if args.json:
        for row, p in zip(rows, pred):
            buf.write(json.dumps({**dict(zip(columns, row)), column: p}) + "\n")
    else:
        # Values are float32: write each as the shortest text that reads back to the same
        # float32 (32.1, not 32.0999985).
        cells = torch.cat((data.values[:, :len(columns)],
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
