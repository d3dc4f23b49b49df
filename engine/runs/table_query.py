"""Filtering and sorting the runs table (``runs --filter TEXT --sort COL[:desc]``, and the
dashboard's ``/`` and ``s``): one grammar for both, so a filter typed in one works in the other.

A filter is words, all of which must hold (AND):

- ``huber`` — a plain word is a case-insensitive substring of the run's id, preset, loss,
  status, study, tags or note;
- ``key=value`` / ``key!=value`` — a field equals (or not) the value: ``state=finished``
  (also matches a finish reason or a trial state: ``state=pruned``, ``state=early_stopped``),
  ``loss=huber``, ``tag=baseline``, ``preset=diabetes``, or any config key by its full name or
  a unique ending (``optim.lr=0.1``, ``lr=0.1``); numbers compare as numbers;
- ``key<value``, ``key>value``, ``key<=value``, ``key>=value`` — numeric comparisons:
  ``optim.lr<0.01``, ``epochs>=100``, ``best<0.3``, ``r2>0.9``.

Sorting takes one column name (``started``, ``state``, ``loss``, ``best``, ``r2``, ``epochs``,
``preset``, ``id``, ``tags``, ``note``, or a setting such as ``lr`` / ``optim.lr``), ascending,
or descending with ``:desc``; runs without a value go last either way. The default is newest
first. Torch-free.
"""

from __future__ import annotations

import difflib
import math
import re
import shlex
from collections.abc import Callable, Sequence
from typing import Any

from engine.core.errors import RunError
from engine.runs.table import setting_text

FIELDS = {
    "id": "id",
    "name": "id",
    "preset": "preset",
    "loss": "loss",
    "state": "state",
    "status": "status",
    "study": "study",
    "trial": "trial",
    "epochs": "epochs",
    "best": "best_monitor",
    "r2": "r2",
    "started": "started_key",
    "age": "started_key",
    "tag": "tags",
    "tags": "tags",
    "note": "note",
}
"""Filter and sort names -> row keys (``started``: the run's id, which begins with its start
time, so newest first is the runs folder's own order)."""
DEFAULT_SORT = ("started", True)
_TERM = re.compile(r"^([A-Za-z_][\w.]*)(<=|>=|!=|=|<|>)(.*)$")
_TEXT_KEYS = ("id", "preset", "loss", "status", "state", "study", "note")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def setting_key(name: str, rows: Sequence[dict[str, Any]]) -> str | None:
    """The config key ``name`` names in these rows: itself, or the one key ending ``.name``."""
    keys = {k for r in rows for k in (r.get("settings") or {})}
    if name in keys:
        return name
    ends = sorted(k for k in keys if k.endswith("." + name))
    if len(ends) > 1:
        raise RunError(f"'{name}' is ambiguous: {', '.join(ends[:4])} (name it in full)")
    return ends[0] if ends else None


def _unknown(name: str, rows: Sequence[dict[str, Any]], what: str) -> RunError:
    settings = {k for r in rows for k in (r.get("settings") or {})}
    keys = sorted({*FIELDS, *settings, *(k.rsplit(".", 1)[-1] for k in settings)})
    close = difflib.get_close_matches(name, keys, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return RunError(f"{what}: unknown column '{name[:60]}'{hint}")


def value_of(row: dict[str, Any], name: str, rows: Sequence[dict[str, Any]]) -> Any:
    """A row's value for a filter or sort name (a field, or a config key / its ending)."""
    if name in FIELDS:
        return row.get(FIELDS[name])
    key = setting_key(name, rows)
    if key is None:
        raise _unknown(name, rows, "runs")
    return (row.get("settings") or {}).get(key)


def _equal(value: Any, wanted: str) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_equal(v, wanted) for v in value)
    a, b = _number(value), _number(wanted)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return setting_text(value).lower() == wanted.lower()


def _term(text: str, rows: Sequence[dict[str, Any]]) -> Callable[[dict[str, Any]], bool]:
    """One filter word as a test of a row."""
    m = _TERM.match(text)
    if m is None:
        needle = text.lower()

        def plain(row: dict[str, Any]) -> bool:
            hay = [str(row.get(k) or "") for k in _TEXT_KEYS] + list(row.get("tags") or ())
            return any(needle in h.lower() for h in hay)

        return plain
    name, op, wanted = m.groups()
    if name not in FIELDS and setting_key(name, rows) is None and rows:
        raise _unknown(name, rows, f"filter '{text[:60]}'")
    if op in ("=", "!="):

        def equal(row: dict[str, Any]) -> bool:
            found = _equal(value_of(row, name, rows), wanted)
            if name == "state" and not found:  # a finish reason or a trial's state counts
                found = any(_equal(row.get(k), wanted) for k in ("reason", "trial_state"))
                found = found or str(row.get("status", "")).startswith(wanted.lower())
            return found if op == "=" else not found

        return equal
    limit = _number(wanted)
    if limit is None:
        raise RunError(f"filter '{text[:60]}': {op} needs a number after it")

    def compare(row: dict[str, Any]) -> bool:
        v = _number(value_of(row, name, rows))
        if v is None or math.isnan(v):
            return False
        return {"<": v < limit, ">": v > limit, "<=": v <= limit, ">=": v >= limit}[op]

    return compare


def row_filter(text: str, rows: Sequence[dict[str, Any]]) -> Callable[[dict[str, Any]], bool]:
    """``text`` as a test of a row (every word must hold); a bad word is a :class:`RunError`."""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    tests = [_term(w, rows) for w in words]
    return lambda row: all(t(row) for t in tests)


def parse_sort(spec: str, rows: Sequence[dict[str, Any]] = ()) -> tuple[str, bool]:
    """``COL`` or ``COL:desc`` / ``COL:asc`` -> (name, descending)."""
    name, _, way = spec.strip().partition(":")
    if way not in ("", "asc", "desc"):
        raise RunError(f"--sort {spec[:60]}: write COL, COL:asc or COL:desc")
    if not name:
        raise RunError("--sort: name a column (started, state, loss, best, r2, epochs, ...)")
    if name not in FIELDS and setting_key(name, rows) is None and rows:
        raise _unknown(name, rows, f"--sort {spec[:60]}")
    return name, way == "desc"


def sort_rows(
    rows: list[dict[str, Any]], name: str, descending: bool, among: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """``rows`` ordered by ``name`` (numbers as numbers, text case-folded), rows without a
    value last in either direction; ties keep their order (newest first)."""
    context = among or rows
    if name not in FIELDS and setting_key(name, context) is None:
        return list(rows)

    def key(row: dict[str, Any]) -> tuple[int, float, str]:
        v = value_of(row, name, context)
        if isinstance(v, (list, tuple)):
            v = ",".join(map(str, v))
        n = _number(v) if not isinstance(v, str) or name not in ("id", "started") else None
        if v is None or v == "" or (n is not None and math.isnan(n)):
            return (2, 0.0, "")
        return (0, n, "") if n is not None else (1, 0.0, setting_text(v).lower())

    present = [r for r in rows if key(r)[0] != 2]
    missing = [r for r in rows if key(r)[0] == 2]
    return sorted(present, key=key, reverse=descending) + missing
