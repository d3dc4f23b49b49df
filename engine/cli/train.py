"""``linreg-tui train`` and ``linreg-tui resume``: headless runs that keep a run directory.

Each run writes ``RUNS/<time>-<preset>-<id>/`` (see :mod:`engine.runs.store`) unless ``--no-save``;
the event stream feeds the printer and the run directory alike. Ctrl-C, SIGTERM and SIGHUP stop
the run cleanly (:mod:`engine.core.signals`): checkpoint, ``RunFinished``, the summary where stdout
still exists, exit 128 + the signal. A closed or hung-up stdout is not an error: the run goes on
and completes its directory. ``--run-dir PATH`` trains into a directory chosen by the caller (the
dashboard's trainer process, :mod:`engine.cli.trainer_process`, so it knows where to follow); a run
that fails on its config records the config key in ``status.json`` (``error_key``) so the
dashboard can show the reason at the field.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from engine.config import Config, ConfigError
from engine.core.events import EpochEnded, Event, RunFinished, RunStarted
from engine.core.report import (LEARNED, LEARNED_RAW, OPTIMUM, OPTIMUM_RAW, TRUE, coefficient_table,
                           data_summary, metric_table)

EXIT_OK, EXIT_FAILED = 0, 1
PROGRESS_EVERY_S = 0.5


class QuietWhenGone:
    """A text stream that stops writing, silently, once the terminal behind it is gone
    (closed stdout, a broken pipe, EIO after an SSH hangup) instead of failing the run."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self.gone = stream is None

    def write(self, text: str) -> None:
        if self.gone:
            return
        try:
            self._stream.write(text)  # type: ignore[union-attr]
            self._stream.flush()  # type: ignore[union-attr]
        except (OSError, ValueError):  # ValueError: I/O operation on closed file
            self.gone = True


def fmt_number(v: float | None) -> str:
    """A number as the summary and the cv table print it ("-" for none)."""
    return "-" if v is None else f"{v:.6g}"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                      enumerate(zip(r, widths))).rstrip() for r in rows]


CLI_HEADERS = {LEARNED: "learned", OPTIMUM: "optimum ({kind})",
               LEARNED_RAW: "learned (raw units)", OPTIMUM_RAW: "optimum (raw units)",
               TRUE: "true"}
"""The summary's header for each coefficient column of :mod:`engine.core.report`."""


def summary_lines(started: RunStarted | None, fin: RunFinished) -> list[str]:
    """The human summary printed at the end of ``linreg-tui train``: how it ended, the metrics
    (``medae`` with them), the coefficients and, on synthetic data, their error vs the truth."""
    out = [fin.message]
    if fin.best_epoch is not None:
        monitor = started.config["early_stopping"]["monitor"] if started else "monitor"
        out.append(f"best epoch {fin.best_epoch}: {monitor} {fmt_number(fin.best_monitor)}")
    metrics = metric_table(started, fin)
    if metrics:
        out += _table([["split", *metrics.keys]]
                      + [[split, *map(fmt_number, values)] for split, values in metrics.rows()])
    coefs = coefficient_table(started, fin)
    header = ["coefficient"] + [CLI_HEADERS[c.key].format(kind=coefs.optimum_kind)
                                for c in coefs.columns]
    out += _table([header] + [[row.name, *(fmt_number(c.cell(row)) for c in coefs.columns)]
                              for row in coefs.rows])
    if metrics.coef_rmse is not None:
        bias = fin.bias is not None and started is not None and started.true_bias is not None
        with_bias = " and bias" if bias else ""
        out.append(f"coefficient error vs true: rmse {fmt_number(metrics.coef_rmse)} "
                   f"(weights{with_bias}, raw units)")
    return out


def progress_line(ev: EpochEnded, *, early_stopping: bool = True) -> str:
    """One throttled progress line (the wait counter only when early stopping is on)."""
    val = f"  val {fmt_number(ev.val_loss)}" if ev.val_loss is not None else ""
    best = f"  best {fmt_number(ev.best_monitor)} @ {ev.best_epoch}" if ev.best_epoch is not None else ""
    if best and early_stopping:
        best += f"  wait {ev.wait}/{ev.patience}"
    width = len(str(ev.epochs))
    return (f"epoch {ev.epoch:>{width}}/{ev.epochs}  train {fmt_number(ev.train_loss)}{val}{best}"
            f"  {ev.samples_per_s:,.0f} samples/s")


class Printer:
    """Prints a run's events for a person (or as JSON lines with ``as_json``)."""

    def __init__(self, out: TextIO | None, err: TextIO | None, *, as_json: bool) -> None:
        self.out, self.err = QuietWhenGone(out), QuietWhenGone(err)
        self.as_json = as_json
        self.started: RunStarted | None = None
        self._last_print = 0.0

    def __call__(self, ev: Event) -> None:
        if self.as_json:
            self.out.write(json.dumps(ev.to_dict()) + "\n")
            return
        if isinstance(ev, RunStarted):
            self.started = ev
            self.out.write(f"{ev.config['name']}: {ev.loss_formula} on {ev.device} "
                           f"({ev.device_name}); {data_summary(ev)}\n")
            for w in ev.warnings:
                self.err.write(f"warning: {w}\n")
        elif isinstance(ev, EpochEnded):
            now = time.monotonic()
            if ev.epoch == 1 or now - self._last_print >= PROGRESS_EVERY_S:
                self._last_print = now
                es_on = self.started is None or self.started.config["early_stopping"]["enabled"]
                self.out.write(progress_line(ev, early_stopping=es_on) + "\n")
        elif isinstance(ev, RunFinished):
            self.out.write("\n".join(summary_lines(self.started, ev)) + "\n")


def run_headless(cfg: Config, *, as_json: bool, out: TextIO | None, err: TextIO | None,
                 run_dir: Path | None = None, resume_from: dict[str, Any] | None = None,
                 resume_epoch: int | None = None, keep_failed: bool = False) -> int:
    """Train in this thread, printing events and writing ``run_dir`` (None: nothing saved).

    Returns 0 (completed / early-stopped), 1 (diverged) or 128 + signal when a signal stopped it.
    Bad input found while loading removes a fresh ``run_dir`` (nothing ran), unless
    ``keep_failed``: a directory the caller chose (``--run-dir``) is kept, marked crashed with
    the error's key and text, for the caller (the dashboard) to read and remove.
    """
    from engine.core.control import Control
    from engine.core.signals import StopOnSignals
    from engine.runs.store import RunWriter
    from engine.training.trainer import run_training

    control = Control()
    printer = Printer(out, err, as_json=as_json)
    writer = None
    if run_dir is not None:
        from engine.config.presets import portable_dict

        writer = RunWriter(run_dir, portable_dict(cfg, cfg.name), resume_epoch=resume_epoch)

    def emit(ev: Event) -> None:
        if writer is not None:
            writer(ev)
            if isinstance(ev, RunStarted) and not as_json:
                printer.err.write(f"run: {run_dir}\n")
        printer(ev)

    from engine.data.dataset import Stopped

    signals = StopOnSignals(control)
    try:
        with signals:
            fin = run_training(cfg, emit, control, checkpoints=writer, resume_from=resume_from)
    except (ConfigError, Stopped) as exc:
        # Bad input found while loading, or a stop before the first epoch: nothing ran, so
        # a fresh run directory is removed rather than left as a crash to clean up.
        if writer is not None and writer.untouched:
            pass  # a resume that could not start: the run stays exactly as it was
        elif writer is not None and keep_failed:  # the caller reads why, then tidies up
            writer.crashed(f"{type(exc).__name__}: {exc}", **_config_error_fields(exc))
        elif writer is not None:
            writer.discard_if_empty(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, Stopped):
            return signals.exit_code
        raise
    except Exception as exc:
        if writer is not None and not writer.untouched:
            writer.crashed(f"{type(exc).__name__}: {exc}", **_config_error_fields(exc))
        raise
    finally:
        if writer is not None:
            writer.close()
    if fin.reason == "cancelled" and signals.interrupted:
        return signals.exit_code
    return EXIT_FAILED if fin.reason == "diverged" else EXIT_OK


def _config_error_fields(exc: Exception) -> dict[str, Any]:
    """A config error's key and one-line reason, for ``status.json`` (a dashboard reads them).

    They go in the same write as the crashed state: a reader that sees the process gone sees
    them too. A user loss that cannot be loaded or called is the callable's fault when the
    engine names no other key (its error class lives in a torch-importing module: looked up only
    if loaded).
    """
    if not isinstance(exc, ConfigError):
        return {}
    user_loss = sys.modules.get("engine.losses.user_loss")
    key = exc.key or ("loss.callable" if user_loss is not None
                      and isinstance(exc, user_loss.UserLossError) else None)
    return {"error_key": key, "error_text": str(exc)[:300]}


def add_save_args(p: argparse.ArgumentParser) -> None:
    """``--runs-dir``, ``--run-dir`` and ``--no-save``."""
    from engine.cli.runs import add_runs_dir_arg

    add_runs_dir_arg(p)
    p.add_argument("--run-dir", metavar="PATH", default=None,
                   help="write the run into this directory (created if missing) instead of a "
                        "new one under the runs folder")
    p.add_argument("--no-save", action="store_true",
                   help="keep no run directory (nothing is written to disk)")


def cmd_train(args: argparse.Namespace) -> int:
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


def cmd_resume(args: argparse.Namespace) -> int:
    from engine.runs.resume import prepare_resume
    from engine.runs.store import resolve_run, runs_dir

    run = resolve_run(args.run, runs_dir(args.runs_dir))
    cfg, state = prepare_resume(run, args.overrides)
    return run_headless(cfg, as_json=args.json, out=sys.stdout, err=sys.stderr, run_dir=run,
                        resume_from=state, resume_epoch=state["epoch"] if state else 0)


def add_train(p: argparse.ArgumentParser) -> None:
    """Arguments of ``train``."""
    from engine.cli.main import add_preset_args

    add_preset_args(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per event per line instead of progress text")
    add_save_args(p)


def add_resume(p: argparse.ArgumentParser) -> None:
    """Arguments of ``resume``."""
    from engine.cli.runs import add_runs_dir_arg

    p.add_argument("run", metavar="RUN", help="run id, unique prefix, path or latest")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V",
                   help="change train.* or early_stopping.* keys, e.g. --set train.epochs=200")
    p.add_argument("--json", action="store_true", help="print events as JSON lines")
    add_runs_dir_arg(p)
