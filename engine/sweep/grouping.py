"""``linreg-tui runs`` with sweeps: trial runs grouped under their study, hidden unless asked.

Why: a sweep leaves run directories for some of its trials (every trial with ``--batch 1``; the
best ones of a batched sweep), and a list of 100 ``default-t37`` rows buries the runs a person
started. :func:`group_runs` keeps the runs that are no sweep's trials as they are and folds each
study's trials into one summary line (``study default-3f2a…: 4 trial runs, best trial 37
val_loss 0.2386``); with ``show_all`` every trial row is kept too, right after its study's line,
each carrying its study. No torch or Optuna import (``runs`` stays instant).

Wiring (in ``engine/cli/runs.py``, not this package's file): ``--all`` on the listing, then
``for item in group_runs(list_runs(root), show_all=args.all)``: a :class:`StudyGroup` prints
its :meth:`StudyGroup.line` (JSON: :meth:`StudyGroup.to_dict`), a ``RunInfo`` its row as today.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from engine.core.numbers import fmt_number


@dataclass
class StudyGroup:
    """One study's trial runs (those that have a run directory)."""

    study: str
    trials: list[Any] = field(default_factory=list)
    """The trials' ``RunInfo``, by trial number."""

    def best(self) -> Any | None:
        """The trial run with the lowest finite ``trial_value`` (None when none has one)."""
        scored = [
            (float(v), i.status.get("trial", 0), n)
            for n, i in enumerate(self.trials)
            if isinstance(v := i.status.get("trial_value"), (int, float)) and math.isfinite(v)
        ]
        return self.trials[min(scored)[2]] if scored else None

    def line(self) -> str:
        """``study NAME: N trial runs, best trial K value V``."""
        n = len(self.trials)
        text = f"study {self.study}: {n} trial run{'s' if n != 1 else ''}"
        best = self.best()
        if best is not None:
            text += (
                f", best trial {best.status.get('trial')} value "
                f"{fmt_number(best.status.get('trial_value'), 6)} ({best.id})"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        best = self.best()
        return {
            "study": self.study,
            "trial_runs": [i.id for i in self.trials],
            "best_run": best.id if best is not None else None,
        }


def group_runs(infos: list[Any], *, show_all: bool = False) -> list[Any]:
    """The runs with every study's trial runs folded into a :class:`StudyGroup` placed where
    its first trial run was; with ``show_all`` the trial runs follow their group."""
    out: list[Any] = []
    groups: dict[str, StudyGroup] = {}
    for info in infos:
        study = info.status.get("study")
        if not study:
            out.append(info)
            continue
        if study not in groups:
            groups[study] = StudyGroup(str(study))
            out.append(groups[study])
        groups[study].trials.append(info)
    for g in groups.values():
        g.trials.sort(key=lambda i: (i.status.get("trial") is None, i.status.get("trial", 0)))
    if not show_all:
        return out
    expanded: list[Any] = []
    for item in out:
        expanded.append(item)
        if isinstance(item, StudyGroup):
            expanded.extend(item.trials)
    return expanded
