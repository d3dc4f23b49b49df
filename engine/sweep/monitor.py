"""Reading a sweep's study while it runs, for a viewer that has only the database (the
dashboard's sweep screen polls it about once a second).

Optuna is imported by :func:`read_study` only, so a viewer can import this module (and its
pure helpers: the best-so-far curve, the scatter, the sort) without paying for Optuna.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SORTS = ("trial", "best first", "worst first")
"""How the trials table can be ordered (a key cycles them)."""


@dataclass(frozen=True)
class StudyView:
    """A study as a viewer shows it: labels, direction and the trials table (``rows`` are
    :class:`engine.sweep.study_table.Row`)."""

    name: str
    metric: str
    direction: str
    params: tuple[str, ...]
    rows: tuple[Any, ...]
    total: int | None = None
    """The trials the sweep asked for (None: a study written by something else)."""
    base: tuple[tuple[str, Any], ...] = ()
    """What every trial shares (dotted key, value), as
    :func:`engine.sweep.spec.base_settings` wrote it."""

    def state(self, running: bool = False) -> str:
        """``running 3/20``, ``20/20 complete`` or ``stopped at 32/60`` (:func:`state_line`);
        ``running`` when the viewer knows the sweep's process is alive."""
        done = sum(r.state in ("complete", "pruned", "diverged", "failed") for r in self.rows)
        total = self.total if self.total is not None else len(self.rows)
        if running or self.running:
            return f"running {done}/{total}"
        return state_line(self.rows, total)

    def log_scaled(self, key: str) -> bool:
        """Whether ``key``'s values read best on a log axis: all positive, two decades or
        more apart (a learning rate from 1e-4 to 1)."""
        xs = [r.params[key] for r in self.rows if _is_number(r.params.get(key))]
        return bool(xs) and min(xs) > 0 and max(xs) >= 100 * min(xs)

    @property
    def running(self) -> int:
        """How many trials are running now."""
        return sum(r.state == "running" for r in self.rows)

    def best(self) -> Any | None:
        """The complete trial with the best finite value."""
        from engine.sweep.study_table import best_row

        return best_row(list(self.rows), self.direction)


def state_line(rows: tuple[Any, ...] | list[Any], total: int, stopped: bool = False) -> str:
    """``20/20 complete`` for a study with its total, ``stopped at 32/60`` for one a signal
    (``stopped``) or anything else left short. Counted: every trial done (complete, pruned,
    diverged or failed); cancelled and queued ones are not (continuing the sweep redoes them).
    The CLI's summary and the dashboard's sweep screen say the same."""
    done = sum(r.state in ("complete", "pruned", "diverged", "failed") for r in rows)
    if not stopped and done >= total:
        return f"{done}/{total} complete"
    return f"stopped at {done}/{total}"


def base_line(view: StudyView) -> str:
    """``base: mse · sgd · lr 0.05 · epochs 500 · …``: the shared settings, short."""
    from engine.core.numbers import fmt_number

    parts = []
    for key, value in view.base:
        name = key.rsplit(".", 1)[-1]
        if name in ("name", "source"):
            parts.append(str(value))
        elif isinstance(value, bool):
            parts.append(f"{key.split('.')[0].replace('_', ' ')} {'on' if value else 'off'}")
        else:
            parts.append(f"{name} {fmt_number(value)}")
    return "base: " + (" · ".join(parts) if parts else "the preset as it is")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _finite(r: Any) -> bool:
    return r.state == "complete" and r.value is not None and math.isfinite(r.value)


def sign(direction: str) -> float:
    """+1 when smaller is better, -1 when larger is."""
    return 1.0 if direction == "minimize" else -1.0


def best_so_far(rows: tuple[Any, ...] | list[Any], direction: str) -> list[tuple[int, float]]:
    """``(trial number, best value of the complete trials up to it)`` per complete trial, in
    trial order: the curve a sweep's progress is judged by."""
    s, out = sign(direction), []
    best: float | None = None
    for r in sorted(rows, key=lambda r: r.number):
        if _finite(r) and (best is None or s * r.value < s * best):
            best = r.value
        if best is not None and _finite(r):
            out.append((r.number, best))
    return out


def scatter(rows: tuple[Any, ...] | list[Any], key: str) -> list[tuple[float, float]]:
    """``(value of the searched key, metric)`` of each complete trial whose value is a number
    (a choice like ``sgd`` is placed by its index among the choices seen, in order)."""
    labels = choice_labels(rows, key)
    out = []
    for r in rows:
        if not _finite(r) or key not in r.params:
            continue
        v = r.params[key]
        x = float(labels.index(v)) if labels else float(v)
        out.append((x, r.value))
    return out


def choice_labels(rows: tuple[Any, ...] | list[Any], key: str) -> list[Any]:
    """The distinct values of a searched key when they are not numbers (else empty)."""
    values = [r.params[key] for r in rows if key in r.params]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return []
    return sorted(set(values), key=str)


def sorted_rows(rows: tuple[Any, ...] | list[Any], how: str, direction: str) -> list[Any]:
    """The table in one of :data:`SORTS`; trials without a finite value go last either way."""
    if how == "trial":
        return sorted(rows, key=lambda r: r.number)
    s = sign(direction) * (1 if how == "best first" else -1)

    def key(r: Any) -> tuple[int, float, int]:
        ok = r.value is not None and not math.isnan(r.value)
        return (0 if ok else 1, s * r.value if ok else 0.0, r.number)

    return sorted(rows, key=key)


# ---------------------------------------------------------------------------------------------
# Reading the database


def storage_exists(url: str) -> bool:
    """Whether there is anything to read (an SQLite file that is not there is not created)."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).is_file()
    return True


def open_reader(url: str) -> Any:
    """An Optuna storage to poll (imports Optuna: call it off the UI thread)."""
    from engine.sweep.study import open_storage

    return open_storage(url, checked=True)


def study_names(storage: Any) -> list[str]:
    """The studies in the storage, newest first."""
    studies = sorted(storage.get_all_studies(), key=lambda s: s._study_id, reverse=True)
    return [s.study_name for s in studies]


def read_study(storage: Any, name: str) -> StudyView | None:
    """The study ``name`` as it stands now (None when the storage has no such study)."""
    import optuna

    from engine.sweep.study_table import rows

    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None
    table = rows(study)
    attrs = study.user_attrs
    params = tuple(attrs.get("params") or sorted({k for r in table for k in r.params}))
    total = attrs.get("trials")
    base = attrs.get("base") or []
    return StudyView(
        name,
        str(attrs.get("metric", "value")),
        study.direction.name.lower(),
        params,
        tuple(table),
        total if isinstance(total, int) else None,
        tuple((str(k), v) for k, v in base if isinstance(k, str)),
    )


MIN_IMPORTANCE_TRIALS = 5
"""Complete trials before importances are worth showing (fANOVA over fewer is noise)."""


def importance_line(storage: Any, view: StudyView) -> str:
    """``importance: lr 0.91 · momentum 0.09`` (Optuna's ``get_param_importances``, fANOVA as
    the sweep's summary computes it), or one line saying why there is none yet. Imports
    scikit-learn (seconds): call it off the UI thread, and only when the trials changed."""
    done = [r for r in view.rows if _finite(r)]
    if len(view.params) < 2:
        only = view.params[0].rsplit(".", 1)[-1] if view.params else "-"
        return f"importance: one searched parameter ({only})"
    if len(done) < MIN_IMPORTANCE_TRIALS:
        return f"importance: after {MIN_IMPORTANCE_TRIALS} complete trials (have {len(done)})"
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    from engine.core.numbers import fmt_number
    from engine.sweep.study_table import FANOVA_DEPTH, FANOVA_TREES

    try:
        study = optuna.load_study(study_name=view.name, storage=storage)
        found = get_param_importances(
            study,
            evaluator=FanovaImportanceEvaluator(
                n_trees=FANOVA_TREES, max_depth=FANOVA_DEPTH, seed=0
            ),
            params=list(view.params),
        )
    except (ValueError, RuntimeError, KeyError) as exc:
        return f"importance: not available ({exc})"
    return "importance: " + " · ".join(
        f"{k.rsplit('.', 1)[-1]} {fmt_number(v, 2)}" for k, v in found.items()
    )
