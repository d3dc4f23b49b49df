"""Read-only panels: early stopping, run stats, coefficients, metrics and the formula line.

Each panel renders from the :class:`~tui.model.RunModel` (numbers straight from events) and the
settings the next run would use. Timing fields can be frozen for deterministic screenshots.
"""

from __future__ import annotations

import math
from typing import Any

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


def _bar_width(widget: Static, used: int, lo: int = 6, hi: int = 30) -> int:
    return max(lo, min(hi, widget.size.width - used - 2))


class EarlyStoppingPanel(Static):
    """State (improving/waiting/stopped/off), ``wait k/patience`` with a bar, best, stop reason."""

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
            state = "stopped"
        elif last is None:
            state = "starting"
        else:
            state = "improving" if last.improved else "waiting"
        head = Text.assemble(_state(state))
        best_epoch = fin.best_epoch if fin else (last.best_epoch if last else None)
        best = fin.best_monitor if fin else (last.best_monitor if last else None)
        best_text = (f"  best {fmt_num(best)} @ {best_epoch}" if best_epoch is not None else "")
        if last is not None and enabled:
            label = f"  wait {last.wait}/{last.patience} "
            width = _bar_width(self, len(head) + len(label) + len(best_text), lo=4, hi=20)
            head.append(label)
            head.append(bar(last.wait / max(last.patience, 1), width),
                        style="yellow" if last.wait else "green")
        head.append(best_text)
        lines.append(head)
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


def _state(state: str) -> Text:
    style = {"improving": "bold green", "waiting": "bold yellow", "stopped": "bold red",
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
            speed = "— ep/s  — s"
        elif last is not None:
            secs = fin.elapsed_s if fin and fin.elapsed_s else last.elapsed_s
            speed = f"{last.epoch / secs if secs > 0 else 0:,.0f} ep/s  {secs:.1f} s"
        else:
            speed = "starting…"
        label = f"epoch {epoch}/{total} "
        tail = f" {100 * epoch / max(total, 1):.0f}%  {speed}"
        line1 = Text(label)
        line1.append(bar(epoch / max(total, 1), _bar_width(self, len(label) + len(tail), hi=40)),
                     style="cyan")
        line1.append(tail)
        if paused and fin is None:
            line1.append("  ⏸ paused", style="bold yellow")
        lines = [line1]
        device = started.device if frozen_clock else f"{started.device} ({started.device_name})"
        self.border_title = f"Run on {device}"
        if last is not None:
            gap = f"  gap {fmt_num(last.gap, 3)}" if last.gap is not None else ""
            # no validation split (val_fraction 0): no val loss at all, rather than "val —"
            val = (f"  val {fmt_num(last.val_loss)}"
                   if last.val_loss is not None or started.n_val else "")
            lines.append(Text(f"train {fmt_num(last.train_loss)}{val}{gap}"))
        lines += [Text(t) for t in coefficient_lines(model, n_coef, digits)]
        metrics = (fin.metrics if fin else (last.metrics if last else {})) or {}
        if with_metrics and metrics:
            lines.append(Text(metrics_line(metrics), style="dim"))
        self.update(Text("\n").join(lines))


def metrics_line(metrics: dict[str, dict[str, float]]) -> str:
    """``R² a/b/c  RMSE a/b/c`` over the splits present (train/val, and test at the end)."""
    splits = [k for k in ("train", "val", "test") if k in metrics]
    parts = [f"{name} " + "/".join(fmt_num(metrics[s].get(key), 3) for s in splits)
             for name, key in (("R²", "r2"), ("RMSE", "rmse"))]
    return "  ".join(parts) + f" ({'/'.join(splits)})"


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
        self.border_title = (f"Coefficients (optimum: {opt.get('kind', '?')})" if opt
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
            table.add_row(*row)
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


class MetricsPanel(Static):
    """MSE/RMSE/MAE/R² per split; test appears when the run ends; then warnings."""

    def show(self, model: RunModel) -> None:
        fin, last, s = model.finished, model.last, model.started
        metrics = (fin.metrics if fin else (last.metrics if last else {})) or {}
        parts: list[Any] = []
        if metrics:
            # Fixed, unwrapped columns of at most 7 characters (5 + 4 x 7 cells, the panel's
            # inner width): the table never shrinks to "tra…" beside the coefficient table.
            table = Table(box=None, padding=(0, 0), show_edge=False)
            for col in ("", "mse", "rmse", "mae", "r2"):
                table.add_column(col, justify="left" if not col else "right", no_wrap=True,
                                 min_width=5 if not col else 7)
            for split, m in metrics.items():
                table.add_row(split, *(_fit(m.get(k), 7) for k in ("mse", "rmse", "mae", "r2")))
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
        from rich.console import Group
        self.update(Group(*parts))
