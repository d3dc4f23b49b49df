"""Read-only panels: early stopping, run stats, coefficients, metrics and the formula line.

Each panel renders from the :class:`~tui.model.RunModel` (numbers straight from events) and the
settings the next run would use. Timing fields can be frozen for deterministic screenshots.
Text from the engine or the user (stop messages, warnings, feature names, the device's name) is
always rich ``Text``, never markup: a CSV column called "x[1]" is a name, not a style.
"""

from __future__ import annotations

import math
from typing import Any

from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui.model import RunModel
from tui.series import fmt_num


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


STATE_OF_REASON = {"early_stopped": "stopped", "completed": "completed", "diverged": "diverged",
                   "cancelled": "cancelled"}
"""The early-stopping panel's state for each way a run ends (``RunFinished.reason``): only an
early stop is "stopped"; a run that used all its epochs "completed"; one stopped with x
"cancelled" (the message under it says "stopped by you")."""


class EarlyStoppingPanel(Static):
    """State (improving/waiting, then how the run ended, or off), ``wait k/patience`` with a
    bar, best, stop reason."""

    def show(self, model: RunModel, es: dict[str, Any], *, running: bool) -> None:
        """Render from the run (or, before any run, the settings ``es`` of the next start)."""
        last, fin, started = model.last, model.finished, model.started
        enabled = bool((started.config["early_stopping"] if started else es).get("enabled"))
        lines: list[Text] = []
        if started is None:
            if enabled:
                lines.append(Text.assemble(_state("ready"), f"  {es.get('monitor')}, patience "
                                           f"{es.get('patience')}, min_delta "
                                           f"{fmt_num(es.get('min_delta'))}"))
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
            lines.append(Text(fin.message, style="bold"))
        elif not running:
            lines.append(Text("run ended without a result", style="red"))
        elif not enabled:
            lines.append(Text(f"runs all {started.epochs} epochs", style="dim"))
        else:
            lines.append(Text(f"monitor {monitor}, min_delta "
                              f"{fmt_num(started.config['early_stopping']['min_delta'])}",
                              style="dim"))
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
            head.append(bar(last.wait / max(last.patience, 1), min(room, 20)),
                        style="yellow" if last.wait else "green")
            head.append(bests[0])
        elif used + len(waits[0]) + len(bests[0]) <= width:
            head.append(waits[0] + bests[0])
        elif used + len(waits[1]) + len(bests[1]) <= width:
            head.append(waits[1] + bests[1])
        else:  # the wait count goes last but one: the best value is what a run leaves
            head.append(bests[0])
        return head


def _state(state: str) -> Text:
    style = {"improving": "bold green", "waiting": "bold yellow", "stopped": "bold red",
             "completed": "bold green", "diverged": "bold red", "cancelled": "bold yellow",
             "off": "dim", "ready": "dim", "starting": "dim"}.get(state, "")
    return Text(f"● {state}", style=style)


class RunStatsPanel(Static):
    """Epoch i/N with a bar, speed, losses, gap to optimum, device, weights beside the truth."""

    def show(self, model: RunModel, *, paused: bool, frozen_clock: bool, n_coef: int = 3,
             digits: int = 3, with_metrics: bool = True) -> None:
        """Render; ``frozen_clock`` hides elapsed time, speed and device name (snapshots)."""
        started, last, fin = model.started, model.last, model.finished
        if started is None:
            self.update(Text("no run yet — s starts, ? shows the keys", style="dim"))
            return
        epoch = last.epoch if last else 0
        total = started.epochs
        if frozen_clock:
            speeds = ["— ep/s  — s", "— s"]
        elif last is not None:
            secs = fin.elapsed_s if fin and fin.elapsed_s else last.elapsed_s
            speeds = [f"{last.epoch / secs if secs > 0 else 0:,.0f} ep/s  {secs:.1f} s",
                      f"{secs:.1f} s"]
        else:
            speeds = ["starting…"]
        self.border_title = Text(f"Run on {started.device}" if frozen_clock
                                 else f"Run on {started.device} ({started.device_name})")
        lines = [progress_line(epoch, total, speeds, self.size.width, paused and fin is None)]
        if last is not None:
            gap = f"  gap {fmt_num(last.gap, 3)}" if last.gap is not None else ""
            # no validation split (val_fraction 0): no val loss at all, rather than "val —"
            val = (f"  val {fmt_num(last.val_loss)}"
                   if last.val_loss is not None or started.n_val else "")
            line = Text(f"train {fmt_num(last.train_loss)}{val}{gap}")
            if std_target(model):  # losses in standardised target units, metrics in raw ones
                long, short = "  (loss in std units of y)", "  (std y)"
                note = long if len(line) + len(long) <= self.size.width else short
                line.append(note, style="dim")
            lines.append(line)
        lines += [Text(t) for t in coefficient_lines(model, n_coef, digits)]
        metrics = (fin.metrics if fin else (last.metrics if last else {})) or {}
        if with_metrics and metrics:
            lines.append(Text(metrics_line(metrics, raw_units=std_target(model)), style="dim"))
        self.update(Text("\n").join(lines))


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


def std_target(model: RunModel) -> bool:
    """Whether the run's losses are in standardised target units (data.standardize_target)."""
    s = model.started
    return bool(s and s.config.get("data", {}).get("standardize_target"))


def metrics_line(metrics: dict[str, dict[str, float]], *, raw_units: bool = False) -> str:
    """``R² a/b/c  RMSE a/b/c`` over the splits present (train/val, and test at the end);
    ``raw_units`` says RMSE is in y's own units (when the losses are not)."""
    splits = [k for k in ("train", "val", "test") if k in metrics]
    parts = [f"{name} " + "/".join(fmt_num(metrics[s].get(key), 3) for s in splits)
             for name, key in (("R²", "r2"), ("RMSE", "rmse"))]
    raw = ", raw y" if raw_units else ""
    return "  ".join(parts) + f" ({'/'.join(splits)}{raw})"


def same_units(model: RunModel) -> bool:
    """Whether learned weights are in the data's raw units (no standardisation)."""
    s = model.started
    return bool(s and s.x_mean is None and not s.config["data"].get("standardize_target"))


def coefficient_lines(model: RunModel, n: int, digits: int) -> list[str]:
    """Learned weights and, in the same units, the true ones (synthetic data) or the optimum.

    Learned weights train in standardised units, but every epoch also carries them in raw units
    (``weights_original``; None when nothing was standardised, i.e. they already are raw), so
    the true weights can sit beside them while the run goes, not only at its end.
    """
    s, last, fin = model.started, model.last, model.finished
    src = fin or last
    if s is None or src is None:
        return []

    def row(label: str, ws: list[float] | None, b: float | None) -> str:
        bias = f"  b {fmt_num(b, digits)}" if b is not None else ""
        return f"{label:<6}{fmt_list(ws, n, digits)}{bias}"

    opt = s.optimum or {}
    if src.weights_original is not None:
        out = [row("w raw", src.weights_original, src.bias_original)]
        raw_units = True
        opt_w, opt_b = opt.get("weights_original"), opt.get("bias_original")
    else:
        out = [row("w", src.weights, src.bias)]
        raw_units = same_units(model)
        opt_w, opt_b = opt.get("weights"), opt.get("bias")
    if s.true_weights is not None and raw_units:
        out.append(row("true", s.true_weights, s.true_bias))
    elif opt_w is not None:
        out.append(row("opt", opt_w, opt_b))
    return out


Column = tuple[str, list[float] | None, float | None]
"""A coefficient column: header, weights and bias."""


class CoefficientsPanel(Static):
    """Per feature: learned and optimum weights, in raw units too when standardised, and truth.

    With standardised data the weights are shown both ways: standardised ("std", what gradient
    descent works in and is compared with the optimum in) and raw (the data's own units,
    comparable with the true weights). Where the panel is too narrow for all of that, the
    standardised columns go first, then the raw optimum: learned-vs-truth is the last to go.
    """

    def show(self, model: RunModel, max_rows: int = 12) -> None:
        s, last, fin = model.started, model.last, model.finished
        if s is None:
            self.update(Text("coefficients appear when a run starts", style="dim"))
            return
        src = fin or last
        opt = s.optimum or {}
        self.border_title = Text(f"Coefficients (optimum: {opt.get('kind', '?')})" if opt
                                 else "Coefficients")
        w, b = (src.weights, src.bias) if src is not None else (None, None)
        raw_w = src.weights_original if src is not None else None
        raw_b = src.bias_original if src is not None else None
        raw_opt = opt.get("weights_original")
        truth: list[Column] = ([("true", s.true_weights, s.true_bias)]
                               if s.true_weights is not None else [])
        if raw_w is None and raw_opt is None:  # nothing standardised: one set of units
            choices = [[("learned", w, b)]
                       + ([("optimum", opt.get("weights"), opt.get("bias"))] if opt else [])
                       + truth]
        else:
            std: list[Column] = [("w std", w, b)]
            if opt:
                std.append(("opt std", opt.get("weights"), opt.get("bias")))
            raw: list[Column] = [("w raw", raw_w, raw_b)]
            raw_optimum: list[Column] = ([("opt raw", raw_opt, opt.get("bias_original"))]
                                         if raw_opt is not None else [])
            choices = [std + raw + raw_optimum + truth, raw + raw_optimum + truth, raw + truth]
        names = list(s.feature_names)
        rows: list[tuple[str, int | None]] = [(n, i) for i, n in enumerate(names[:max_rows])]
        if len(names) > max_rows:
            rows.append(("…", -1))
        if s.config["model"].get("bias", True):
            rows.append(("bias", None))
        room = self.content_size.width
        for columns in choices:
            cells = [[name, *(_pick(ws, bb, i) for _, ws, bb in columns)] if i != -1 else ["…"]
                     for name, i in rows]
            if room <= 0 or _table_width(["coef", *(c[0] for c in columns)], cells) <= room:
                break
        table = Table(box=None, padding=(0, 1), collapse_padding=True, pad_edge=False,
                      show_edge=False, expand=False)
        table.add_column("coef")
        for header, _, _ in columns:
            table.add_column(header, justify="right")
        for row in cells:
            table.add_row(*(Text(cell) for cell in row))  # feature names are not markup
        self.update(table)


def _table_width(headers: list[str], rows: list[list[str]]) -> int:
    """Cells a table of these headers and rows takes with one space between columns."""
    widths = [len(h) for h in headers]
    for row in rows:
        for j, cell in enumerate(row):
            widths[j] = max(widths[j], len(cell))
    return sum(widths) + len(widths) - 1


def _pick(ws: list[float] | None, b: float | None, i: int | None) -> str:
    """One cell: weight ``i``, or the bias when ``i`` is None; "—" past the end of ``ws``."""
    if i is None:
        return fmt_num(b)
    return fmt_num(ws[i]) if ws is not None and i < len(ws) else "—"


def _fit(value: float | None, width: int) -> str:
    """The most significant digits (4 down to 1) that fit in ``width`` characters."""
    for digits in (4, 3, 2):
        text = fmt_num(value, digits)
        if len(text) <= width:
            return text
    return fmt_num(value, 1)


METRIC_WIDTH = 6
"""Characters of one metric value (``_fit`` picks the digits that fit)."""


class MetricsPanel(Static):
    """MSE/RMSE/MAE/R² per split; test appears when the run ends; then warnings.

    Metrics are in the target's raw units; when the losses are not (standardize_target) the
    title says so.
    """

    def show(self, model: RunModel) -> None:
        fin, last, s = model.finished, model.last, model.started
        self.border_title = Text("Metrics (raw y units)" if std_target(model) else "Metrics")
        metrics = (fin.metrics if fin else (last.metrics if last else {})) or {}
        parts: list[Any] = []
        if metrics:
            # Fixed, unwrapped value columns of 6 characters, one space apart: 5 + 4 x (1 + 6)
            # = 33 cells, the panel's inner width (#metrics: width 34, padding-left 1). The
            # table never shrinks to "tra…" beside the coefficient table, and no two numbers
            # touch ("6.0550.00838").
            table = Table(box=None, padding=(0, 0, 0, 1), pad_edge=False, show_edge=False,
                          collapse_padding=True)
            for col in ("", "mse", "rmse", "mae", "r2"):
                table.add_column(col, justify="left" if not col else "right", no_wrap=True,
                                 min_width=5 if not col else METRIC_WIDTH)
            for split, m in metrics.items():
                table.add_row(Text(split), *(_fit(m.get(k), METRIC_WIDTH)
                                             for k in ("mse", "rmse", "mae", "r2")))
            parts.append(table)
        else:
            parts.append(Text("metrics appear when a run starts", style="dim"))
        if s is not None:
            data = Text(f"{s.n_train} train / {s.n_val} val / {s.n_test} test rows, "
                        f"{s.n_features} features", style="dim")
            if s.condition_number is not None:
                data.append(f", cond {fmt_num(s.condition_number, 3)}")
            parts.append(data)
            for w in s.warnings:
                parts.append(Text(f"⚠ {w}", style="yellow"))
        self.update(Group(*parts))
