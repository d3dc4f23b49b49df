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
        if fin is not None:
            state = "stopped"
        elif not enabled:
            state = "off"
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
            lines.append(Text(f"train {fmt_num(last.train_loss)}  val {fmt_num(last.val_loss)}"
                              f"{gap}"))
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
    """Learned weights and, in the same units, the true ones (synthetic) or the optimum.

    Learned weights live in standardised units while training; the raw-unit weights arrive with
    RunFinished, so the true weights are set beside them only when the units match.
    """
    s, last, fin = model.started, model.last, model.finished
    if s is None or (last is None and fin is None):
        return []
    def row(label: str, ws: list[float] | None, b: float | None) -> str:
        bias = f"  b {fmt_num(b, digits)}" if b is not None else ""
        return f"{label:<6}{fmt_list(ws, n, digits)}{bias}"
    if fin is not None and fin.weights_original is not None:
        learned = row("w raw", fin.weights_original, fin.bias_original)
        raw_units = True
    else:
        src = fin or last
        learned = row("w", src.weights, src.bias)  # type: ignore[union-attr]
        raw_units = same_units(model)
    out = [learned]
    if s.true_weights is not None and raw_units:
        out.append(row("true", s.true_weights, s.true_bias))
    elif s.optimum and not (fin is not None and fin.weights_original is not None):
        out.append(row("opt", s.optimum["weights"], s.optimum.get("bias")))
    return out


class CoefficientsPanel(Static):
    """Feature, learned weight, optimum weight, raw-unit weight and true weight; bias last."""

    def show(self, model: RunModel, max_rows: int = 12) -> None:
        s, last, fin = model.started, model.last, model.finished
        if s is None:
            self.update(Text("coefficients appear when a run starts", style="dim"))
            return
        weights = fin.weights if fin else (last.weights if last else None)
        bias = fin.bias if fin else (last.bias if last else None)
        opt = s.optimum
        raw_w = fin.weights_original if fin else None
        table = Table(box=None, padding=(0, 1), show_edge=False, expand=False)
        self.border_title = (f"Coefficients (optimum: {opt.get('kind', '?')})" if opt
                             else "Coefficients")
        table.add_column("coef")
        table.add_column("learned", justify="right")
        if opt:
            table.add_column("optimum", justify="right")
        if raw_w is not None:
            table.add_column("raw units", justify="right")
        if s.true_weights is not None:
            table.add_column("true", justify="right")
        names = list(s.feature_names)
        rows: list[tuple[str, int | None]] = [(n, i) for i, n in enumerate(names[:max_rows])]
        if len(names) > max_rows:
            rows.append(("…", -1))
        if s.config["model"].get("bias", True):
            rows.append(("bias", None))
        for name, i in rows:
            if i == -1:
                table.add_row("…")
                continue

            def pick(ws: list[float] | None, b: float | None) -> str:
                if i is None:
                    return fmt_num(b)
                return fmt_num(ws[i]) if ws is not None and i < len(ws) else "—"

            cells = [name, pick(weights, bias)]
            if opt:
                cells.append(pick(opt.get("weights"), opt.get("bias")))
            if raw_w is not None:
                cells.append(pick(raw_w, fin.bias_original if fin else None))
            if s.true_weights is not None:
                cells.append(pick(s.true_weights, s.true_bias))
            table.add_row(*cells)
        self.update(table)


class MetricsPanel(Static):
    """MSE/RMSE/MAE/R² per split; test appears when the run ends; then warnings."""

    def show(self, model: RunModel) -> None:
        fin, last, s = model.finished, model.last, model.started
        metrics = (fin.metrics if fin else (last.metrics if last else {})) or {}
        parts: list[Any] = []
        if metrics:
            table = Table(box=None, padding=(0, 1), show_edge=False)
            for col in ("split", "mse", "rmse", "mae", "r2"):
                table.add_column(col, justify="left" if col == "split" else "right")
            for split, m in metrics.items():
                table.add_row(split, *(fmt_num(m.get(k)) for k in ("mse", "rmse", "mae", "r2")))
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
