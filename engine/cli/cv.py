"""``linreg-tui cv``: K-fold cross-validation headless, per-fold metrics and mean ± std.

A fold whose run diverged is marked in its table row (``diverged``) and the command exits 1
with one stderr line naming the folds and the first one's reason: its metrics, and so the
mean, are not an estimate of anything. A fold stopped by a signal is marked ``stopped``; the
command then exits 128 + the signal (Ctrl-C, SIGTERM, SIGHUP: :mod:`engine.core.signals`).
"""

from __future__ import annotations

import argparse
import json
import sys

from engine.cli.common import EXIT_FAILED, EXIT_OK, add_preset_args
from engine.cli.summary import number
from engine.core.events import Event
from engine.core.report import METRIC_KEYS

HELP = "K-fold cross-validation: per-fold validation metrics and mean ± std"
MARKS = {"diverged": "diverged", "cancelled": "stopped"}
"""The note a fold's row gets for how its run ended (none for completed / early-stopped)."""


def run(args: argparse.Namespace) -> int:
    from engine.config.presets import load_config
    from engine.core.control import Control
    from engine.core.events import CrossValidated, FoldFinished, RunFinished
    from engine.core.signals import StopOnSignals
    from engine.training.cv import cross_validate

    cfg = load_config(args.preset, args.overrides)
    control = Control()
    out = sys.stdout
    diverged: list[tuple[int, str]] = []  # (fold, its run's closing message)
    last_message = [""]

    def line(fold: str, rows: str, epochs: str, values: list[str], note: str = "") -> None:
        out.write(
            "  ".join(
                [fold.ljust(4), rows.rjust(11), epochs.rjust(6)]
                + [v.rjust(10) for v in values]
                + ([note] if note else [])
            )
            + "\n"
        )

    def on_run_event(ev: Event) -> None:
        if isinstance(ev, RunFinished):
            last_message[0] = ev.message

    def emit(ev: Event) -> None:
        if isinstance(ev, FoldFinished) and ev.reason == "diverged":
            diverged.append((ev.fold, last_message[0]))
        if args.json:
            out.write(json.dumps(ev.to_dict()) + "\n")
        elif isinstance(ev, FoldFinished):
            if ev.fold == 1:
                out.write(
                    f"{cfg.name}: {args.folds}-fold cross-validation, validation "
                    "metrics (rows = train/val)\n"
                )
                line("fold", "rows", "epochs", list(METRIC_KEYS))
            line(
                str(ev.fold),
                f"{ev.n_train}/{ev.n_val}",
                str(ev.epochs_run),
                [number(ev.metrics.get(m)) for m in METRIC_KEYS],
                MARKS.get(ev.reason, ""),
            )
        elif isinstance(ev, CrossValidated):
            line("mean", "", "", [number(ev.mean.get(m)) for m in METRIC_KEYS])
            line("std", "", "", [number(ev.std.get(m)) for m in METRIC_KEYS])
        out.flush()

    with StopOnSignals(control) as signals:
        cross_validate(cfg, args.folds, emit, control, on_run_event=on_run_event)
    if signals.interrupted:
        return signals.exit_code
    if diverged:
        folds = ", ".join(str(k) for k, _ in diverged)
        print(
            f"error: {len(diverged)} of {args.folds} folds diverged ({folds}); the metrics "
            f"above are not an estimate — fold {diverged[0][0]}: {diverged[0][1]}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``cv``."""
    add_preset_args(p)
    p.add_argument("--folds", type=int, default=5, help="number of folds K (default 5)")
    p.add_argument("--json", action="store_true", help="one JSON object per fold, then the mean")
