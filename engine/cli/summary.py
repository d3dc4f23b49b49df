"""What a run prints for a person: its header, throttled progress lines and the summary at the
end (or, with ``--json``, each event as a JSON line).

``linreg-tui train`` and ``resume`` print a run as it goes (:class:`Printer`); ``runs show``
prints a finished run's summary from its log (:func:`summary_lines`): the same lines either
way. Numbers are :func:`engine.core.numbers.fmt_number` to 6 significant digits.
"""

from __future__ import annotations

import json
import time
from typing import TextIO

from engine.cli.common import QuietWhenGone, table
from engine.core.events import EpochEnded, Event, RunFinished, RunStarted
from engine.core.numbers import fmt_number
from engine.core.report import (
    LEARNED,
    LEARNED_RAW,
    OPTIMUM,
    OPTIMUM_RAW,
    TRUE,
    coefficient_table,
    data_summary,
    metric_table,
)

DIGITS = 6
"""Significant digits of the numbers a run prints."""
PROGRESS_EVERY_S = 0.5
CLI_HEADERS = {
    LEARNED: "learned",
    OPTIMUM: "optimum ({kind})",
    LEARNED_RAW: "learned (raw units)",
    OPTIMUM_RAW: "optimum (raw units)",
    TRUE: "true",
}
"""The summary's header for each coefficient column of :mod:`engine.core.report`."""


def number(value: float | None) -> str:
    """A number as the summary, the progress lines and the cv table print it ("-" for none)."""
    return fmt_number(value, DIGITS)


def summary_lines(started: RunStarted | None, fin: RunFinished) -> list[str]:
    """The human summary printed at the end of ``linreg-tui train``: how it ended, the metrics
    (``medae`` with them), the coefficients and, on synthetic data, their error vs the truth."""
    out = [fin.message]
    if fin.best_epoch is not None:
        monitor = started.config["early_stopping"]["monitor"] if started else "monitor"
        out.append(f"best epoch {fin.best_epoch}: {monitor} {number(fin.best_monitor)}")
    metrics = metric_table(started, fin)
    if metrics:
        out += table(
            [["split", *metrics.keys]]
            + [[split, *map(number, values)] for split, values in metrics.rows()]
        )
    coefs = coefficient_table(started, fin)
    header = ["coefficient"] + [
        CLI_HEADERS[c.key].format(kind=coefs.optimum_kind) for c in coefs.columns
    ]
    out += table(
        [header] + [[row.name, *(number(c.cell(row)) for c in coefs.columns)] for row in coefs.rows]
    )
    if metrics.coef_rmse is not None:
        bias = fin.bias is not None and started is not None and started.true_bias is not None
        with_bias = " and bias" if bias else ""
        out.append(
            f"coefficient error vs true: rmse {number(metrics.coef_rmse)} "
            f"(weights{with_bias}, raw units)"
        )
    return out


def progress_line(ev: EpochEnded, *, early_stopping: bool = True) -> str:
    """One throttled progress line (the wait counter only when early stopping is on)."""
    val = f"  val {number(ev.val_loss)}" if ev.val_loss is not None else ""
    best = (
        f"  best {number(ev.best_monitor)} @ {ev.best_epoch}" if ev.best_epoch is not None else ""
    )
    if best and early_stopping:
        best += f"  wait {ev.wait}/{ev.patience}"
    width = len(str(ev.epochs))
    return (
        f"epoch {ev.epoch:>{width}}/{ev.epochs}  train {number(ev.train_loss)}{val}{best}"
        f"  {ev.samples_per_s:,.0f} samples/s"
    )


def latest_line(ev: EpochEnded) -> str:
    """Where an unfinished run is (``runs show`` of a run still going, or one that crashed)."""
    return (
        f"epoch {ev.epoch}/{ev.epochs}  train {fmt_number(ev.train_loss)}  "
        f"val {fmt_number(ev.val_loss)}  best {fmt_number(ev.best_monitor)} @ "
        f"{fmt_number(ev.best_epoch)}"
    )


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
            self.out.write(
                f"{ev.config['name']}: {ev.loss_formula} on {ev.device} "
                f"({ev.device_name}); {data_summary(ev)}\n"
            )
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
