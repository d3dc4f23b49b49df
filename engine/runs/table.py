"""The runs table: one row per run, the same for ``linreg-tui runs`` and the dashboard's runs
screen, so the two never disagree.

A row comes from the run's status and the two ends of its log (its ``RunStarted`` and latest
event, :meth:`engine.runs.log.RunLog.ends`), never the whole log, so listing stays instant with
many long runs. Torch-free.
"""

from __future__ import annotations

import time
from typing import Any

from engine.core.events import EpochEnded, RunFinished
from engine.core.numbers import fmt_number
from engine.runs.log import RunLog
from engine.runs.store import RunInfo

RUN_COLUMNS = ("id", "preset", "loss", "status", "epochs", "best", "r2", "age")
"""The columns of ``runs`` (and of the dashboard's runs screen)."""


def age(started_at: str) -> str:
    """How long ago a run started, in its largest unit (``3m``, ``2h``, ``5d``)."""
    try:
        t = time.mktime(time.strptime(started_at[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return "-"
    s = max(0.0, time.time() - t)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s / size:.0f}{unit}"
    return f"{s:.0f}s"


def run_row(info: RunInfo) -> dict[str, Any]:
    """What ``runs`` shows of one run (also its ``--json`` object)."""
    started, last = RunLog(info.path).ends()
    st = info.status
    epochs = best = r2 = None
    if isinstance(last, (EpochEnded, RunFinished)):
        epochs = last.epoch if isinstance(last, EpochEnded) else last.epochs_run
        best = last.best_monitor
        metrics = last.metrics or {}
        split = "test" if "test" in metrics else "val"
        r2 = (metrics.get(split) or {}).get("r2")
    reason = st.get("reason")
    status = info.state + (f" ({reason})" if info.state == "finished" and reason else "")
    if info.state == "crashed" and epochs is not None:
        status += f" at epoch {epochs}"
    return {
        "id": info.id,
        "path": str(info.path),
        "preset": st.get("preset"),
        "loss": st.get("loss"),
        "status": status,
        "state": info.state,
        "reason": reason,
        "epochs": epochs,
        "total_epochs": started.epochs if started else None,
        "best_monitor": best,
        "r2": r2,
        "started_at": info.started_at,
        "pid": st.get("pid"),
        "host": st.get("host"),
    }


def row_cells(r: dict[str, Any]) -> list[str]:
    """One :func:`run_row` as the text of :data:`RUN_COLUMNS` (numbers to 4 digits)."""
    return [
        r["id"],
        fmt_number(r["preset"]),
        fmt_number(r["loss"]),
        r["status"],
        fmt_number(r["epochs"]),
        fmt_number(r["best_monitor"]),
        fmt_number(r["r2"]),
        age(r["started_at"]),
    ]
