"""The read-only panels under the plot: early stopping and run stats (the coefficient and
metric tables shown from 32 rows are :mod:`tui.widgets.details`).

Each renders from the :class:`~tui.history.RunHistory` (numbers straight from events) and the
app's :class:`~tui.view.View` through ``render_history``, and owns its border title and styles.
Which coefficient columns and metrics exist is decided by :mod:`engine.core.report`, as for the CLI.
Text from the engine or the user (stop messages, warnings, feature names, the device's name) is
always rich ``Text``, never markup: a CSV column called "x[1]" is a name, not a style.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

from rich.cells import cell_len
from rich.text import Text

from engine.core.eta import EpochRate, eta_text
from engine.core.events import RunStarted
from engine.core.fit_warnings import LossRange, fit_warnings
from engine.core.report import (
    LEARNED,
    LEARNED_RAW,
    OPTIMUM,
    OPTIMUM_RAW,
    TRUE,
    MetricTable,
    coefficient_table,
    metric_table,
    standardised_target,
)
from engine.core.system import system_line
from tui.history import EpochLosses, RunHistory
from tui.series import fmt_num
from tui.view import View
from tui.widgets.quiet import QuietStatic


class Panel(QuietStatic):
    """A titled section under the plot: a rule on top, auto height."""

    DEFAULT_CSS = """
    Panel {
        height: auto;
        border-top: solid $secondary;
        padding: 0 1;
    }
    """


def bar(fraction: float, width: int) -> str:
    """A text progress bar, ``width`` cells of █ and ░."""
    fraction = 0.0 if not math.isfinite(fraction) else min(max(fraction, 0.0), 1.0)
    filled = round(fraction * width)
    return "█" * filled + "░" * (width - filled)


def fmt_list(values: list[float] | None, limit: int, digits: int = 4) -> str:
    """The first ``limit`` values, then "…" when there are more."""
    if not values:
        return "—"
    text = " ".join(fmt_num(v, digits) for v in values[:limit])
    return text + (" …" if len(values) > limit else "")


STATE_OF_REASON = {
    "early_stopped": "stopped",
    "completed": "completed",
    "diverged": "diverged",
    "cancelled": "cancelled",
}
"""The early-stopping panel's state for each way a run ends (``RunFinished.reason``): only an
early stop is "stopped"; a run that used all its epochs "completed"; one stopped with x
"cancelled" (the message under it says "stopped by you")."""


class EarlyStoppingPanel(Panel):
    """State (improving/waiting, then how the run ended, or off), ``wait k/patience`` with a
    bar, best, stop reason."""

    BORDER_TITLE = "Early stopping"

    def render_history(self, history: RunHistory, view: View) -> None:
        """Render from the run (or, before any run, the form's early-stopping settings)."""
        last, fin, started = history.last, history.finished, history.started
        es, running = view.next_early_stopping, view.running
        enabled = bool((started.config["early_stopping"] if started else es).get("enabled"))
        lines: list[Text] = []
        if started is None:
            if running:
                lines.append(Text.assemble(_state("starting"), "  waiting for the first epoch…"))
            elif enabled:
                lines.append(
                    Text.assemble(
                        _state("ready"),
                        f"  {es.get('monitor')}, patience "
                        f"{es.get('patience')}, min_delta "
                        f"{fmt_num(es.get('min_delta'))}",
                    )
                )
            else:
                lines.append(Text.assemble(_state("off"), "  runs all epochs"))
            self.update(Text("\n").join(lines))
            return
        monitor = started.config["early_stopping"]["monitor"]
        if not enabled:  # the run may have ended, but early stopping never acted
            state = "off"
        elif fin is not None:
            state = STATE_OF_REASON.get(fin.reason, fin.reason)
        elif last is None:
            state = "starting"
        else:
            state = "improving" if last.improved else "waiting"
        best_epoch = fin.best_epoch if fin else (last.best_epoch if last else None)
        best = fin.best_monitor if fin else (last.best_monitor if last else None)
        lines.append(self._head(state, last if enabled else None, best, best_epoch))
        if fin is not None:
            rows = 2 if view.rows < 24 else None  # a short screen keeps its plot rows
            lines.append(Text(clip_rows(fin.message, self.content_size.width, rows), style="bold"))
        elif not running:
            lines.append(Text("run ended without a result", style="red"))
        elif not enabled:
            lines.append(Text(f"runs all {started.epochs} epochs", style="dim"))
        else:
            lines.append(
                Text(
                    f"monitor {monitor}, min_delta "
                    f"{fmt_num(started.config['early_stopping']['min_delta'])}",
                    style="dim",
                )
            )
        self.update(Text("\n").join(lines))

    def _head(self, state: str, last: Any, best: float | None, best_epoch: int | None) -> Text:
        """``● waiting  wait 3/20 ███░  best 0.25 @ 41`` in the panel's width, never wrapping
        while it can help it: the bar shrinks (to 4 cells), then goes, then the spaces do,
        then the wait count."""
        width = self.size.width
        if best_epoch is not None:
            value = fmt_num(best)
            bests = (f"  best {value} @ {best_epoch}", f" best {value}@{best_epoch}")
        else:
            bests = ("", "")
        if last is not None:
            waits = (f"  wait {last.wait}/{last.patience}", f" wait {last.wait}/{last.patience}")
        else:
            waits = ("", "")
        used = cell_len(f"● {state}")
        head = Text.assemble(_state(state))
        room = width - used - len(waits[0]) - 1 - len(bests[0])
        if last is not None and room >= 4:
            head.append(waits[0] + " ")
            head.append(
                bar(last.wait / max(last.patience, 1), min(room, 20)),
                style="yellow" if last.wait else "green",
            )
            head.append(bests[0])
        elif used + len(waits[0]) + len(bests[0]) <= width:
            head.append(waits[0] + bests[0])
        elif used + len(waits[1]) + len(bests[1]) <= width:
            head.append(waits[1] + bests[1])
        else:  # the wait count goes last but one: the best value is what a run leaves
            head.append(bests[0])
        return head


def clip_rows(text: str, width: int, rows: int | None) -> str:
    """``text`` wrapped to ``width``, cut to ``rows`` rows with "…" (None or width 0: whole)."""
    if rows is None or width <= 0:
        return text
    wrapped = textwrap.wrap(text, width)
    if len(wrapped) <= rows:
        return text
    kept = wrapped[:rows]
    kept[-1] = kept[-1][: width - 1].rstrip() + "…"
    return "\n".join(kept)


def _state(state: str) -> Text:
    style = {
        "improving": "bold green",
        "waiting": "bold yellow",
        "stopped": "bold red",
        "completed": "bold green",
        "diverged": "bold red",
        "cancelled": "bold yellow",
        "off": "dim",
        "ready": "dim",
        "starting": "dim",
    }.get(state, "")
    return Text(f"● {state}", style=style)


class RunStatsPanel(Panel):
    """Epoch i/N with a bar, speed, losses, gap to optimum, device, weights beside the truth;
    the metrics in one line while the Metrics panel is not on screen."""

    BORDER_TITLE = "Run"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rate = EpochRate()
        self._rate_run: RunStarted | None = None
        self._warned: tuple[object, list[str]] = (None, [])

    def eta(self, history: RunHistory, view: View) -> str | None:
        """``ETA 1m12s`` from the epochs/s of the last seconds this panel has seen (``≤`` with
        early stopping on: it may end sooner); None when the run is not going."""
        started, last = history.started, history.last
        if started is not self._rate_run:
            self._rate, self._rate_run = EpochRate(), started
        if started is None or last is None or history.finished is not None:
            return None
        self._rate.add(last.epoch, last.elapsed_s)
        if view.paused or not view.running:
            return None
        es_on = bool(started.config.get("early_stopping", {}).get("enabled"))
        return eta_text(last.epoch, started.epochs, self._rate.rate, upper_bound=es_on)

    def warnings(self, history: RunHistory) -> list[str]:
        """The fit's warnings once the run has ended (worked out once per run)."""
        fin = history.finished
        if fin is None:
            return []
        if self._warned[0] is not fin:
            self._warned = (fin, fit_warnings(history.started, fin, fit_losses(history)))
        return self._warned[1]

    def render_history(self, history: RunHistory, view: View) -> None:
        """Render; ``view.frozen_clock`` hides elapsed time, speed, ETA, the device name and
        the trainer's resource use (snapshots)."""
        started, last, fin = history.started, history.last, history.finished
        frozen_clock, paused = view.frozen_clock, view.paused
        eta = self.eta(history, view)
        digits = 4 if view.wide else 3
        # as many weights as the line has room for ("w raw " + ~10 cells each + the bias)
        n_coef = max(1, (self.content_size.width - 12) // (digits + 7))
        if started is None:
            self.update(
                Text(
                    "starting… (the first epoch shows here)"
                    if view.running
                    else "no run yet — s starts, ? shows the keys",
                    style="dim",
                )
            )
            return
        epoch = last.epoch if last else 0
        total = started.epochs
        if frozen_clock:
            speeds = ["— ep/s  — s", "— s"]
        elif last is not None:
            secs = fin.elapsed_s if fin and fin.elapsed_s else last.elapsed_s
            speeds = [
                f"{last.epoch / secs if secs > 0 else 0:,.0f} ep/s  {secs:.1f} s",
                f"{secs:.1f} s",
            ]
            if eta is not None:  # the time left matters more than the time gone
                speeds = [f"{speeds[0]}  {eta}", f"{secs:.1f} s  {eta}", eta]
        else:
            speeds = ["starting…"]
        title = f"Run on {started.device}"
        if not frozen_clock and history.system is not None and fin is None:
            title += f" · {system_line(history.system)}"  # the rule's row: no row of its own
        elif not frozen_clock:
            title += f" ({started.device_name})"
        self.border_title = Text(title)
        shown = history.shown_losses()
        restored = shown is not None and last is not None and shown.epoch != last.epoch
        if restored:  # the numbers below are that epoch's: say so where it always fits
            note = f"restored epoch {shown.epoch}"
            speeds = [f"{note}  {speeds[-1]}", note]
        lines = [progress_line(epoch, total, speeds, self.size.width, paused and fin is None)]
        if shown is not None:
            line = loss_line(shown, bool(started.n_val), self.content_size.width)
            if standardised_target(started):  # losses in std target units, metrics in raw ones
                long, short = "  (loss in std units of y)", "  (std y)"
                note = long if len(line) + len(long) <= self.size.width else short
                line.append(note, style="dim")
            lines.append(line)
        lines += [Text(t) for t in coefficient_lines(history, n_coef, digits)]
        metrics = metric_table(started, history.current)
        if not view.details_shown and metrics:
            lines.append(Text(metrics_line(metrics), style="dim"))
        for warning in self.warnings(history):  # one row each, the whole text in ? help
            line = Text(f"⚠ {warning}", style="yellow")
            line.truncate(max(self.content_size.width, 1), overflow="ellipsis")
            lines.append(line)
        self.update(Text("\n").join(lines))


def fit_losses(history: RunHistory) -> LossRange:
    """The training loss's minimum and last value over the whole run: the epochs filed, and
    those a long run's curve summary holds (its per-bucket minima) when the history was seeded
    from one."""
    filed, base = history.train_range, history.base
    if base is None or "train_loss" not in base.fields or not len(base):
        return filed
    out = LossRange()
    mins, firsts = base.column("train_loss", "min"), base.column("first", "")
    for i, low in enumerate(mins):
        if math.isfinite(low) and low < out.minimum:
            out.minimum, out.min_epoch = low, int(firsts[i])
    if filed.minimum < out.minimum:
        out.minimum, out.min_epoch = filed.minimum, filed.min_epoch
    out.last = filed.last if filed.last is not None else base.column("train_loss", "last")[-1]
    return out


def loss_line(losses: EpochLosses, has_val: bool, width: int = 0) -> Text:
    """``train 0.2284  val 0.2394  gap 7.3e-4`` (a gap under 0 from float32 rounding reads 0)
    in ``width`` cells when it can: one space apart, then without the gap."""
    parts = [f"train {fmt_num(losses.train_loss)}"]
    # no validation split (val_fraction 0): no val loss at all, rather than "val —"
    if losses.val_loss is not None or has_val:
        parts.append(f"val {fmt_num(losses.val_loss)}")
    if losses.gap is not None:
        parts.append(f"gap {fmt_num(max(losses.gap, 0.0), 3)}")
    for text in ("  ".join(parts), " ".join(parts), " ".join(parts[:2])):
        if width <= 0 or len(text) <= width:
            break
    return Text(text)


def metrics_line(metrics: MetricTable) -> str:
    """``R² a/b/c  RMSE a/b/c`` over the splits present (train/val, and test at the end),
    saying when RMSE is in y's own units while the losses are not."""
    parts = [
        f"{name} " + "/".join(fmt_num(metrics.value(s, key), 3) for s in metrics.splits)
        for name, key in (("R²", "r2"), ("RMSE", "rmse"))
    ]
    raw = ", raw y" if metrics.raw_y else ""
    return "  ".join(parts) + f" ({'/'.join(metrics.splits)}{raw})"


PAUSED = "  ⏸ paused"


def progress_line(epoch: int, total: int, speeds: list[str], width: int, paused: bool) -> Text:
    """``epoch i/N ███░░ 25%  1,526 ep/s  16.1 s`` in ``width`` cells, never wrapping.

    The bar shrinks first (to 4 cells), then the speed goes, then the elapsed time, then the
    bar: the epoch count and the percentage always stay.
    """
    label = f"epoch {epoch}/{total} "
    pct = f" {100 * epoch / max(total, 1):.0f}%"
    extra = cell_len(PAUSED) if paused else 0
    tails = [f"{pct}  {s}" for s in speeds] + [pct]
    min_bar = 4
    tail = next((t for t in tails if len(label) + min_bar + len(t) + extra <= width), None)
    line = Text(label)
    if tail is not None:
        room = width - len(label) - len(tail) - extra
        line.append(bar(epoch / max(total, 1), max(min_bar, min(40, room))), style="cyan")
        line.append(tail)
    else:  # too narrow even for a small bar: the numbers alone
        line = Text(label.rstrip() + pct)
    if paused:
        line.append(PAUSED, style="bold yellow")
    return line


def coefficient_lines(history: RunHistory, n: int, digits: int) -> list[str]:
    """Learned weights and, in the same units, the true ones (synthetic data) or the optimum.

    Learned weights train in standardised units, but every epoch also carries them in raw units,
    so the true weights can sit beside them while the run goes, not only at its end
    (``engine.core.report`` picks the columns).
    """
    current = history.current
    if history.started is None or current is None:
        return []
    labels = {LEARNED: "w", LEARNED_RAW: "w raw", TRUE: "true", OPTIMUM: "opt", OPTIMUM_RAW: "opt"}
    out = []
    for column in coefficient_table(history.started, current).comparison():
        bias = f"  b {fmt_num(column.bias, digits)}" if column.bias is not None else ""
        out.append(f"{labels[column.key]:<6}{fmt_list(column.weights, n, digits)}{bias}")
    return out
