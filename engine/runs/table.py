"""The runs table: one row per run, the same for ``linreg-tui runs`` and the dashboard's runs
screen, so the two never disagree.

A row comes from the run's status, its notes (:mod:`engine.runs.notes`) and the two ends of its
log (its ``RunStarted``, which carries the resolved config, and its latest event,
:meth:`engine.runs.log.RunLog.ends`), never the whole log, so listing stays instant with many
long runs. Which columns a listing shows depends on the runs listed: after a sweep, 80 rows of
"default mse finished" tell nothing apart, so besides the fixed columns the table shows the
settings whose values *differ* between the listed runs (``lr``, ``delta``, ...), and notes and
tags when a run has them. :func:`layout` fits the columns to a width without cutting one: the
least important columns are dropped first (:attr:`Column.rank`) and counted, and a long value is
shortened in its middle (``2026…3f9a1c``). Filtering and sorting are in
:mod:`engine.runs.table_query`. Torch-free.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.config import applies
from engine.core.events import EpochEnded, RunFinished
from engine.core.numbers import fmt_number
from engine.runs.log import RunLog
from engine.runs.notes import read_notes
from engine.runs.store import RunInfo

RUN_COLUMNS = ("id", "preset", "loss", "status", "epochs", "best", "r2", "age")
"""The fixed columns of ``runs`` (and of the dashboard's runs screen), in their order."""
NOT_SETTINGS = frozenset({"name", "description", "loss.name"})
"""Config keys never shown as a setting column (the preset and loss columns show them)."""
ELLIPSIS = "…"


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


def short_id(run_id: str) -> str:
    """The random part at the end of a run id (``resolve_run`` accepts it): ``3f9a1c``."""
    return run_id.rsplit("-", 1)[-1]


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut in its middle (``abc…xyz``): both ends of
    an id, a path or a note stay readable."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    keep = width - 1
    return f"{text[: keep - keep // 2]}{ELLIPSIS}{text[len(text) - keep // 2 :]}"


def setting_text(value: Any) -> str:
    """A config value as a person typed it (``null``, ``true``, JSON lists); a float longer
    than 10 characters (a sweep's sampled value) to 4 significant digits."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, float) and len(str(value)) > 10:
        return fmt_number(value)  # a sampled 0.003143005444418167 reads 0.003143
    return str(value)


def flat_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """A run's nested config as ``{"optim.lr": 0.05, ...}``, only the keys that matter for it
    (:func:`engine.config.applies`: huber's δ is no setting of an mse run, so it never makes a
    column by differing from one); mapping-valued keys such as ``loss.params`` are kept whole."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        inner = value.items() if isinstance(value, Mapping) else [("", value)]
        for sub, v in inner:
            name = f"{key}.{sub}" if sub else str(key)
            if name not in NOT_SETTINGS and _applies(name, config):
                out[name] = v
    return out


def _applies(key: str, config: Mapping[str, Any]) -> bool:
    try:
        return applies(key, config)
    except Exception:  # noqa: BLE001 - an old or odd run's config: show the key
        return True


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
    trial_state = st.get("trial_state")
    if trial_state == "pruned" and info.state != "running":
        status = "pruned" + (f" at epoch {epochs}" if epochs is not None else "")
    notes = read_notes(info.path)
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
        "started_key": info.id,
        "pid": st.get("pid"),
        "host": st.get("host"),
        "study": st.get("study"),
        "trial": st.get("trial"),
        "trial_state": trial_state,
        "trial_value": st.get("trial_value"),
        "tags": list(notes.tags),
        "note": notes.note,
        "settings": flat_settings(started.config) if started else {},
    }


def study_row(
    study: str, trials: Sequence[dict[str, Any]], best_id: str | None = None
) -> dict[str, Any]:
    """One row for a sweep's trial runs (:func:`run_row` each): their count, how many were
    pruned or still run, and the best trial's numbers (``best_id``, the study's best trial run;
    else the lowest best monitored value)."""
    n = len(trials)
    status = f"{n} trial run{'s' if n != 1 else ''}"
    for word in ("running", "pruned"):
        k = sum(
            1
            for t in trials
            if (t["state"] == "running" if word == "running" else t["status"].startswith(word))
        )
        if k:
            status += f", {k} {word}"
    scored = [t for t in trials if isinstance(t.get("best_monitor"), (int, float))]
    best = min(scored, key=lambda t: t["best_monitor"]) if scored else None
    best = next((t for t in trials if t["id"] == best_id), best)
    same = {key: {t.get(key) for t in trials} for key in ("preset", "loss")}
    return {
        "kind": "study",
        "id": f"study {study}",
        "study": study,
        "trials": list(trials),
        "preset": next(iter(same["preset"])) if len(same["preset"]) == 1 else "(sweep)",
        "loss": next(iter(same["loss"])) if len(same["loss"]) == 1 else "mixed",
        "status": status,
        "state": "running" if any(t["state"] == "running" for t in trials) else "finished",
        "epochs": best["epochs"] if best else None,
        "best_monitor": best["best_monitor"] if best else None,
        "r2": best["r2"] if best else None,
        "best_run": best["id"] if best else None,
        "started_at": max((t["started_at"] for t in trials), default=""),
        "started_key": max((t["started_key"] for t in trials), default=""),
        "tags": sorted({tag for t in trials for tag in t.get("tags", ())}),
        "note": "",
        "settings": {},
    }


@dataclass(frozen=True)
class Column:
    """One column of the runs table."""

    key: str
    """What it shows: a :data:`RUN_COLUMNS` name, ``tags``, ``note``, or a config key."""
    header: str
    rank: tuple[int, int]
    """Importance: the largest rank is dropped first when the columns do not fit."""
    right: bool = False
    """Numbers are flush right."""
    cap: int = 24
    """Values longer than this are shortened in their middle."""


_FIXED = {
    "id": Column("id", "id", (0, 0), cap=40),
    "status": Column("status", "status", (1, 0)),
    "best": Column("best", "best", (2, 0), right=True, cap=10),
    "loss": Column("loss", "loss", (3, 0), cap=12),
    "r2": Column("r2", "r2", (5, 0), right=True, cap=10),
    "epochs": Column("epochs", "epochs", (6, 0), right=True, cap=10),
    "preset": Column("preset", "preset", (8, 0), cap=16),
    "age": Column("age", "age", (10, 0), right=True, cap=5),
}
TAGS = Column("tags", "tags", (3, 1), cap=20)
NOTE = Column("note", "note", (4, 10**6), cap=20)
"""A person's tags outrank the settings; a note goes after the settings, before ``r2``."""


def differing_settings(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The config keys whose values are not the same in every listed run that has them (study
    rows aside), in config order."""
    runs = [r for r in rows if r.get("kind") != "study" and r.get("settings")]
    keys: dict[str, None] = {}
    for r in runs:
        keys.update(dict.fromkeys(r["settings"]))
    # a key only some runs have (a newer version's) differs only where they disagree
    return [
        k
        for k in keys
        if len({json.dumps(r["settings"][k], sort_keys=True) for r in runs if k in r["settings"]})
        > 1
    ]


def setting_headers(keys: Sequence[str]) -> dict[str, str]:
    """Each config key's shortest dotted ending that no other listed key shares
    that is not a fixed column's name (``optim.lr`` → ``lr``; ``loss.l2`` beside ``data.l2``
    stays whole; ``train.epochs`` stays whole beside the ``epochs`` column)."""
    out = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            tail = ".".join(parts[-n:])
            if tail in _FIXED or tail in ("tags", "note"):
                continue  # ``train.epochs`` is not the epochs column
            if sum(1 for k in keys if k == tail or k.endswith("." + tail)) == 1:
                out[key] = tail
                break
        else:
            out[key] = key
    return out


def columns_for(rows: Sequence[dict[str, Any]]) -> list[Column]:
    """The listing's columns in display order: the fixed ones, the differing settings after
    ``r2``, then tags and note when a run has them, then age."""
    keys = differing_settings(rows)
    headers = setting_headers(keys)
    settings = [
        Column(k, headers[k], (4, i), right=_numeric(rows, k), cap=16) for i, k in enumerate(keys)
    ]
    cols = [_FIXED[c] for c in RUN_COLUMNS[:-1]] + settings
    if any(r.get("tags") for r in rows):
        cols.append(TAGS)
    if any(r.get("note") for r in rows):
        cols.append(NOTE)
    return [*cols, _FIXED["age"]]


def _numeric(rows: Sequence[dict[str, Any]], key: str) -> bool:
    values = [r["settings"][key] for r in rows if key in r.get("settings", {})]
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def cell(row: dict[str, Any], key: str, *, short: bool = False) -> str:
    """One cell's text; ``short``: the id as its short end (a trial under its study indented)."""
    if key == "id":
        if row.get("kind") == "study":  # a study's name ends in its own short id
            return f"study {short_id(row['study'])[:6]}" if short else str(row["id"])
        text = short_id(row["id"]) if short else str(row["id"])
        return f"└ {text}" if row.get("under_study") else text
    if key == "best":
        return fmt_number(row.get("best_monitor"))
    if key in ("epochs", "r2", "preset", "loss"):
        return fmt_number(row.get(key))
    if key == "status":
        return str(row.get("status") or "")
    if key == "age":
        return age(row.get("started_at") or "")
    if key == "tags":
        return ",".join(row.get("tags") or ())
    if key == "note":
        return str(row.get("note") or "")
    settings = row.get("settings") or {}
    return setting_text(settings[key]) if key in settings else ""


def row_cells(r: dict[str, Any]) -> list[str]:
    """One :func:`run_row` as the text of :data:`RUN_COLUMNS` (numbers to 4 digits)."""
    return [cell(r, c) for c in RUN_COLUMNS]


@dataclass
class Layout:
    """The columns that fit, their cells, and what was left out."""

    columns: list[Column]
    cells: list[list[str]]
    """One list per row, one text per kept column, each within its column's width."""
    widths: list[int]
    hidden: list[Column] = field(default_factory=list)

    def hidden_line(self, width: int = 0) -> str:
        """``2 columns hidden to fit 80 columns: age, note`` ("" when none was)."""
        if not self.hidden:
            return ""
        n = len(self.hidden)
        names = ", ".join(c.header for c in self.hidden)
        line = f"{n} column{'s' if n != 1 else ''} hidden to fit: {names}"
        return shorten(line, width) if width else line


def layout(
    rows: Sequence[dict[str, Any]],
    width: int = 0,
    *,
    gap: int = 2,
    edge: int = 0,
    short_ids: bool = False,
) -> Layout:
    """Fit the listing's columns to ``width`` (0: no limit): the ids shortened to their end
    first, then the least important columns dropped one by one, never a column cut; with a
    width, a cell is at most its column's :attr:`~Column.cap` wide (shortened in its middle).
    Each column costs its width plus ``gap`` (a DataTable's padding); ``edge`` more is taken
    for the frame (the CLI's ``gap`` sits only between columns: ``edge=-gap``)."""
    cols = columns_for(rows)
    order = list(cols)
    short = short_ids

    def cap(c: Column) -> int:
        return c.cap if width else 10**6  # no limit: every value whole

    def widths_of(cs: list[Column]) -> list[int]:
        return [
            max(len(c.header), *(min(cap(c), len(cell(r, c.key, short=short))) for r in rows))
            if rows
            else len(c.header)
            for c in cs
        ]

    def total(cs: list[Column]) -> int:
        return sum(widths_of(cs)) + gap * len(cs) + edge

    hidden: list[Column] = []
    if width and total(cols) > width:
        short = True
    while width and len(cols) > 1 and total(cols) > width:
        drop = max(cols[1:], key=lambda c: c.rank)
        cols.remove(drop)
        hidden.append(drop)
    for back in sorted(hidden, key=lambda c: c.rank):  # one dropped for a wide one may fit again
        tried = sorted([*cols, back], key=order.index)
        if total(tried) <= width:
            cols = tried
            hidden.remove(back)
    widths = widths_of(cols)
    if width and total(cols) > width:  # the id alone is wider: shorten it
        widths[0] = max(1, width - gap - edge)
    cells = [[shorten(cell(r, c.key, short=short), w) for c, w in zip(cols, widths)] for r in rows]
    return Layout(cols, cells, widths, hidden)


def render(rows: Sequence[dict[str, Any]], width: int = 0) -> list[str]:
    """The listing as text lines (header first), two spaces between columns, at most ``width``
    wide; a last line says which columns were hidden to fit."""
    fit = layout(rows, width, gap=2, edge=-2)
    lines = []
    for texts in [[c.header for c in fit.columns], *fit.cells]:
        parts = [
            t.rjust(w) if c.right else t.ljust(w) for c, t, w in zip(fit.columns, texts, fit.widths)
        ]
        lines.append("  ".join(parts).rstrip())
    note = fit.hidden_line(width)
    return [*lines, note] if note else lines
