"""The headless command line: ``linreg-tui train | presets | ...``.

Exit codes: 0 completed or early-stopped, 1 diverged or failed, 2 bad input (one line on stderr
naming the file or field, never a traceback), 130 interrupted by Ctrl-C (the run stops cleanly
and still reports). The dashboard (``linreg-tui [PRESET]``) is launched by ``tui.cli``, which
hands its launcher in here, so the engine never imports the TUI.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from engine import cli_check_loss as _check_loss
from engine.config import ConfigError
from engine.events import EpochEnded, Event, RunFinished, RunStarted
from engine.presets import DEFAULT_PRESET, list_presets, load_config

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
PROGRESS_EVERY_S = 0.5

LaunchApp = Callable[[str, list[str]], int]


class UsageError(Exception):
    """Bad command-line usage (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with one line, no usage dump
        raise UsageError(f"{self.prog}: {message}")


def _add_preset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("preset", nargs="?", default=DEFAULT_PRESET,
                   help="bundled or user preset name, or a path to a .yaml file "
                        f"(default: {DEFAULT_PRESET})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V",
                   help="override a preset key, e.g. --set optim.lr=0.01 (repeatable)")


# ---------------------------------------------------------------------------------------------
# train


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


def _progress_line(ev: EpochEnded) -> str:
    val = f"  val {_fmt(ev.val_loss)}" if ev.val_loss is not None else ""
    best = (f"  best {_fmt(ev.best_monitor)} @ {ev.best_epoch}  wait {ev.wait}/{ev.patience}"
            if ev.best_epoch is not None else "")
    width = len(str(ev.epochs))
    return (f"epoch {ev.epoch:>{width}}/{ev.epochs}  train {_fmt(ev.train_loss)}{val}{best}"
            f"  {ev.samples_per_s:,.0f} samples/s")


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                      enumerate(zip(r, widths))).rstrip() for r in rows]


def summary_lines(started: RunStarted | None, fin: RunFinished) -> list[str]:
    """The human summary printed at the end of ``linreg-tui train``."""
    out = [fin.message]
    if fin.best_epoch is not None:
        monitor = started.config["early_stopping"]["monitor"] if started else "monitor"
        out.append(f"best epoch {fin.best_epoch}: {monitor} {_fmt(fin.best_monitor)}")
    if fin.metrics:
        rows = [["split", "mse", "rmse", "mae", "r2"]]
        for split, m in fin.metrics.items():
            rows.append([split] + [_fmt(m.get(k)) for k in ("mse", "rmse", "mae", "r2")])
        out += _table(rows)
    names = started.feature_names if started else [f"x{i + 1}" for i in range(len(fin.weights))]
    opt = started.optimum if started else None
    header = ["coefficient", "learned"]
    if opt:
        header.append(f"optimum ({opt['kind']})")
    raw_opt = opt.get("weights_original") if opt else None
    if fin.weights_original is not None:
        header.append("learned (raw units)")
    if raw_opt is not None:
        header.append("optimum (raw units)")
    if started and started.true_weights is not None:
        header.append("true")
    rows = [header]
    coefs: list[tuple[str, int | None]] = [(n, i) for i, n in enumerate(names)]
    if fin.bias is not None:
        coefs.append(("bias", None))
    for name, i in coefs:
        row = [name, _fmt(fin.weights[i] if i is not None else fin.bias)]
        if opt:
            row.append(_fmt(opt["weights"][i] if i is not None else opt["bias"]))
        if fin.weights_original is not None:
            row.append(_fmt(fin.weights_original[i] if i is not None else fin.bias_original))
        if raw_opt is not None:
            row.append(_fmt(raw_opt[i] if i is not None else opt["bias_original"]))
        if started and started.true_weights is not None:
            row.append(_fmt(started.true_weights[i] if i is not None else started.true_bias))
        rows.append(row)
    out += _table(rows)
    return out


class StopOnCtrlC:
    """While active, the first Ctrl-C stops ``control`` cleanly; a second one interrupts."""

    def __init__(self, control: Any) -> None:
        self.control = control
        self.interrupted = False

    def _handler(self, signum: int, frame: Any) -> None:
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True
        self.control.stop()

    def __enter__(self) -> StopOnCtrlC:
        self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)


def run_headless(cfg: Any, *, as_json: bool, out: TextIO, err: TextIO) -> int:
    """Train in this thread, printing events; first Ctrl-C stops the run cleanly (exit 130)."""
    from engine.control import Control
    from engine.trainer import run_training

    control = Control()
    started: RunStarted | None = None
    last_print = 0.0

    def emit(ev: Event) -> None:
        nonlocal started, last_print
        if as_json:
            out.write(json.dumps(ev.to_dict()) + "\n")
            out.flush()
            return
        if isinstance(ev, RunStarted):
            started = ev
            data = (f"{ev.n_train} train / {ev.n_val} val / {ev.n_test} test rows, "
                    f"{ev.n_features} features")
            out.write(f"{ev.config['name']}: {ev.loss_formula} on {ev.device} "
                      f"({ev.device_name}); {data}\n")
            for w in ev.warnings:
                err.write(f"warning: {w}\n")
        elif isinstance(ev, EpochEnded):
            now = time.monotonic()
            if ev.epoch == 1 or now - last_print >= PROGRESS_EVERY_S:
                last_print = now
                out.write(_progress_line(ev) + "\n")
        elif isinstance(ev, RunFinished):
            out.write("\n".join(summary_lines(started, ev)) + "\n")
        out.flush()

    with StopOnCtrlC(control) as ctrl_c:
        fin = run_training(cfg, emit, control)
    if fin.reason == "cancelled" and ctrl_c.interrupted:
        return EXIT_INTERRUPTED
    if fin.reason == "diverged":
        return EXIT_FAILED
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    cfg = load_config(args.preset, args.overrides)
    return run_headless(cfg, as_json=args.json, out=sys.stdout, err=sys.stderr)


def add_train(p: argparse.ArgumentParser) -> None:
    _add_preset_args(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per event per line instead of progress text")


# ---------------------------------------------------------------------------------------------
# cv


def cmd_cv(args: argparse.Namespace) -> int:
    from engine.control import Control
    from engine.cv import METRICS, cross_validate
    from engine.events import CrossValidated, FoldFinished

    cfg = load_config(args.preset, args.overrides)
    control = Control()
    out = sys.stdout

    def line(fold: str, rows: str, epochs: str, values: list[str]) -> None:
        out.write("  ".join([fold.ljust(4), rows.rjust(11), epochs.rjust(6)]
                            + [v.rjust(10) for v in values]) + "\n")

    def emit(ev: Event) -> None:
        if args.json:
            out.write(json.dumps(ev.to_dict()) + "\n")
        elif isinstance(ev, FoldFinished):
            if ev.fold == 1:
                out.write(f"{cfg.name}: {args.folds}-fold cross-validation, validation "
                          "metrics (rows = train/val)\n")
                line("fold", "rows", "epochs", list(METRICS))
            line(str(ev.fold), f"{ev.n_train}/{ev.n_val}", str(ev.epochs_run),
                 [_fmt(ev.metrics.get(m)) for m in METRICS])
        elif isinstance(ev, CrossValidated):
            line("mean", "", "", [_fmt(ev.mean.get(m)) for m in METRICS])
            line("std", "", "", [_fmt(ev.std.get(m)) for m in METRICS])
        out.flush()

    with StopOnCtrlC(control) as ctrl_c:
        cross_validate(cfg, args.folds, emit, control)
    return EXIT_INTERRUPTED if ctrl_c.interrupted else EXIT_OK


def add_cv(p: argparse.ArgumentParser) -> None:
    _add_preset_args(p)
    p.add_argument("--folds", type=int, default=5, help="number of folds K (default 5)")
    p.add_argument("--json", action="store_true", help="one JSON object per fold, then the mean")


# ---------------------------------------------------------------------------------------------
# presets


def cmd_presets(args: argparse.Namespace) -> int:
    infos = list_presets()
    width = max(len(p.name) for p in infos)
    for p in infos:
        tag = "" if p.bundled else "  [user]"
        print(f"{p.name.ljust(width)}  {p.description}{tag}")
    return EXIT_OK


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], int]]] = {
    "train": ("train headless, printing progress (or JSON events) and a summary", add_train,
              cmd_train),
    "presets": ("list the bundled and user presets", lambda p: None, cmd_presets),
    "cv": ("K-fold cross-validation: per-fold validation metrics and mean ± std", add_cv,
           cmd_cv),
    "check-loss": (_check_loss.HELP, _check_loss.add_arguments, _check_loss.run),
}
"""Subcommands: name -> (help, add_arguments, run)."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="linreg-tui",
        description="Train linear-regression models in PyTorch from the terminal. With no "
                    "command, opens the dashboard on PRESET.",
        epilog="commands: " + "; ".join(f"{k}: {v[0]}" for k, v in COMMANDS.items()))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add, _) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.error = _Parser.error.__get__(p)  # type: ignore[method-assign]
        add(p)
    return parser


def main(argv: Sequence[str] | None = None, launch_app: LaunchApp | None = None) -> int:
    """Entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        if argv and argv[0] in COMMANDS or any(a in ("-h", "--help") for a in argv[:1]):
            args = parser.parse_args(argv)
            return COMMANDS[args.command][2](args)
        app_parser = _Parser(prog="linreg-tui", description="Open the dashboard on PRESET.")
        _add_preset_args(app_parser)
        args = app_parser.parse_args(argv)
        if launch_app is None:
            raise UsageError("linreg-tui: the dashboard is not available here; "
                             "use 'linreg-tui train'")
        load_config(args.preset, args.overrides)  # bad input fails here, before the screen
        return launch_app(args.preset, args.overrides)
    except (ConfigError, UsageError) as exc:
        print(f"error: {exc}" if isinstance(exc, ConfigError) else str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
