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
from engine.cli.summary_classes import (
    class_label,
    confusion_lines,
    is_classification,
    metric_lines,
    multiclass_coefficient_lines,
)
from engine.core.eta import EpochRate, eta_text
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
    (``medae`` with them), the coefficients and, on synthetic data, their error vs the truth.
    A classifier's: its classification metrics, confusion matrix and (K×d) coefficients
    (:mod:`engine.cli.summary_classes`)."""
    out = [fin.message]
    if fin.best_epoch is not None:
        monitor = started.config["early_stopping"]["monitor"] if started else "monitor"
        out.append(f"best epoch {fin.best_epoch}: {monitor} {number(fin.best_monitor)}")
    if is_classification(started, fin):
        multiclass = started is not None and started.task == "multiclass"
        labels = [class_label(c) for c in (started.classes if started else None) or []]
        out += metric_lines(fin, multiclass) + confusion_lines(fin, labels)
        if multiclass and started is not None:
            return out + multiclass_coefficient_lines(started, fin)
        return out + coefficient_lines(started, fin)
    metrics = metric_table(started, fin)
    if metrics:
        out += table(
            [["split", *metrics.keys]]
            + [[split, *map(number, values)] for split, values in metrics.rows()]
        )
    out += coefficient_lines(started, fin)
    if metrics.coef_rmse is not None:
        bias = fin.bias is not None and started is not None and started.true_bias is not None
        with_bias = " and bias" if bias else ""
        out.append(
            f"coefficient error vs true: rmse {number(metrics.coef_rmse)} "
            f"(weights{with_bias}, raw units)"
        )
    return out


def coefficient_lines(started: RunStarted | None, fin: RunFinished) -> list[str]:
    """The coefficient table of one output: learned, optimum, raw units, truth."""
    coefs = coefficient_table(started, fin)
    header = ["coefficient"] + [
        CLI_HEADERS[c.key].format(kind=coefs.optimum_kind) for c in coefs.columns
    ]
    return table(
        [header] + [[row.name, *(number(c.cell(row)) for c in coefs.columns)] for row in coefs.rows]
    )


def progress_line(ev: EpochEnded, *, early_stopping: bool = True, eta: str | None = None) -> str:
    """One throttled progress line (the wait counter only when early stopping is on; ``eta``,
    from :func:`engine.core.eta.eta_text`, at its end)."""
    val = f"  val {number(ev.val_loss)}" if ev.val_loss is not None else ""
    best = (
        f"  best {number(ev.best_monitor)} @ {ev.best_epoch}" if ev.best_epoch is not None else ""
    )
    if best and early_stopping:
        best += f"  wait {ev.wait}/{ev.patience}"
    width = len(str(ev.epochs))
    return (
        f"epoch {ev.epoch:>{width}}/{ev.epochs}  train {number(ev.train_loss)}{val}{best}"
        f"  {ev.samples_per_s:,.0f} samples/s" + (f"  {eta}" if eta else "")
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
        self.rate = EpochRate()
        """The recent epoch rate, for the progress line's ETA."""

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
            self.rate.add(ev.epoch, ev.elapsed_s)
            now = time.monotonic()
            if ev.epoch == 1 or now - self._last_print >= PROGRESS_EVERY_S:
                self._last_print = now
                es_on = self.started is None or self.started.config["early_stopping"]["enabled"]
                eta = eta_text(ev.epoch, ev.epochs, self.rate.rate, upper_bound=es_on)
                self.out.write(progress_line(ev, early_stopping=es_on, eta=eta) + "\n")
        elif isinstance(ev, RunFinished):
            self.out.write("\n".join(summary_lines(self.started, ev)) + "\n")
