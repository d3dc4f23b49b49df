"""A batch of trials against the study: sampled and pruned in memory, recorded in the study's
database in two transactions per batch.

Why: through Optuna's ``study.ask``/``study.tell`` on SQLite a trial costs about 100 ms of
bookkeeping (each ask reads the whole study; each suggest, attribute and report is its own
transaction), more than a batched trial's training. Here:

- **Sampling and pruning** run on an in-memory Optuna study (:class:`BatchStudy`) that mirrors
  the database's finished trials (so TPE and the median pruner see the whole history, other
  workers' trials included, re-read at every batch). The sampler is still seeded per counted
  trial (:func:`engine.sweep.study.trial_seed`), so a random sweep asks the same values as
  one by one, interrupted or not.
- **The durable record** is the same Optuna RDB study (SQLite by default, any URL), written
  with bulk statements on Optuna's own tables: one transaction when a batch starts (its
  trials as RUNNING, with their values and owner, so other workers count them and the
  dashboard shows them) and one when it ends (states, values, reports, attributes; the
  values of cancelled trials queued again as WAITING trials, as ``study.enqueue_trial``
  leaves them). ``kill -9`` mid-batch therefore keeps every finished batch; the killed
  batch's RUNNING trials are found dead by the next sweep (:func:`engine.sweep.study.reap_dead`)
  and their values queued again, so ``--continue`` redoes exactly them.

Measured (``benchmarks/bench_sweep.py``): ask + tell through Optuna's API on SQLite ~100 ms a
trial; here well under 1 ms a trial.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import distribution_to_json
from optuna.trial import FrozenTrial, TrialState

from engine.sweep.spec import SweepSpec
from engine.sweep.study import (
    _key,
    _params_of,
    counts_toward_total,
    make_pruner,
    make_sampler,
    reap_dead,
    study_lock,
    suggest,
    trial_seed,
)
from engine.sweep.trial import TrialResult, owner_attrs


class BatchTrial:
    """One asked trial: the in-memory Optuna trial (what the sampler and the pruner see) under
    the number and id it has in the database. Quacks like ``optuna.Trial`` for
    :func:`engine.sweep.trial.run_trial` and the batched pruner."""

    def __init__(self, memory: optuna.Trial, number: int, trial_id: int) -> None:
        self.memory, self.number, self.trial_id = memory, number, trial_id

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.memory.params)

    def set_user_attr(self, key: str, value: Any) -> None:
        self.memory.set_user_attr(key, value)

    def report(self, value: float, step: int) -> None:
        self.memory.report(value, step)

    def should_prune(self) -> bool:
        return bool(self.memory.should_prune())


class BatchStudy:
    """The study of one batched (or exact) sweep process: :meth:`ask` a batch, :meth:`tell`
    its results."""

    def __init__(self, study: optuna.Study, spec: SweepSpec, runs_root: Path) -> None:
        self.durable, self.spec, self.runs_root = study, spec, runs_root
        storage = study._storage
        self.rdb: Any = getattr(storage, "_backend", storage)  # past Optuna's read cache
        self.study_id: int = study._study_id
        self.memory = optuna.create_study(
            direction=spec.direction, pruner=make_pruner(spec), sampler=make_sampler(spec, 0)
        )
        self.mirrored: set[int] = set()
        """Database trial ids already in :attr:`memory`."""

    def _mirror(self, trials: Sequence[FrozenTrial]) -> None:
        """Copy finished database trials the memory study has not seen into it."""
        for t in trials:
            if t._trial_id in self.mirrored or not t.state.is_finished():
                continue
            self.mirrored.add(t._trial_id)
            with contextlib.suppress(ValueError):  # a trial Optuna would not take as a template
                self.memory.add_trial(t)

    def ask(self, k: int) -> list[BatchTrial]:
        """Up to ``k`` trials (fewer when the study reaches its total), recorded as RUNNING."""
        spec = self.spec
        with study_lock(self.runs_root):
            trials = self.durable.get_trials(deepcopy=False)
            if reap_dead(self.durable, trials, spec):
                trials = self.durable.get_trials(deepcopy=False)
            self._mirror(trials)
            counted = [t for t in trials if counts_toward_total(t)]
            waiting = sorted(
                (t for t in trials if t.state == TrialState.WAITING), key=lambda t: t.number
            )
            done = {_key(p) for t in counted if (p := _params_of(t, spec)) is not None}
            asked: list[tuple[optuna.Trial, int | None]] = []
            while len(asked) < k and len(counted) + len(asked) < spec.trials:
                fixed, reuse = None, None
                if waiting:
                    reuse = waiting.pop(0)
                    fixed = _params_of(reuse, spec)
                elif spec.grid:
                    remaining = [p for p in spec.grid if _key(p) not in done]
                    if not remaining:
                        break
                    fixed = remaining[0]
                if fixed:
                    self.memory.enqueue_trial(fixed, skip_if_exists=False)
                seed = trial_seed(spec.seed, len(counted) + len(asked))
                self.memory.sampler = make_sampler(spec, seed)
                trial = self.memory.ask()
                for param in spec.params:
                    suggest(trial, param)
                done.add(_key(dict(trial.params)))
                asked.append((trial, reuse._trial_id if reuse is not None else None))
            if not asked:
                return []
            return self._start(asked)

    def _start(self, asked: list[tuple[optuna.Trial, int | None]]) -> list[BatchTrial]:
        """One transaction: the new trials as RUNNING (numbered as Optuna numbers them), the
        queued ones taken (WAITING → RUNNING), every trial's values and owner."""
        from optuna.storages._rdb import models as m
        from optuna.storages._rdb.storage import _create_scoped_session
        from sqlalchemy import func, insert, update

        now = datetime.now()
        owner = owner_attrs()
        for trial, _ in asked:
            for name, value in owner.items():
                trial.set_user_attr(name, value)
        with _create_scoped_session(self.rdb.scoped_session) as session:
            m.StudyModel.find_or_raise_by_id(self.study_id, session, for_update=True)
            fresh = [
                m.TrialModel(
                    study_id=self.study_id,
                    number=None,
                    state=TrialState.RUNNING,
                    datetime_start=now,
                )
                for _, reuse in asked
                if reuse is None
            ]
            session.add_all(fresh)
            session.flush()
            if fresh:
                first = min(t.trial_id for t in fresh)
                before = (
                    session.query(func.count(m.TrialModel.trial_id))
                    .filter(m.TrialModel.study_id == self.study_id)
                    .filter(m.TrialModel.trial_id < first)
                    .scalar()
                )
                for i, t in enumerate(sorted(fresh, key=lambda t: t.trial_id)):
                    t.number = before + i
            ids, numbers = [], []
            queue = iter(fresh)
            for _, reuse in asked:
                if reuse is None:
                    model = next(queue)
                    ids.append(model.trial_id)
                    numbers.append(model.number)
                    continue
                session.execute(
                    update(m.TrialModel)
                    .where(m.TrialModel.trial_id == reuse)
                    .values(state=TrialState.RUNNING, datetime_start=now)
                    .execution_options(synchronize_session=False)
                )
                ids.append(reuse)
                numbers.append(
                    session.query(m.TrialModel.number).filter_by(trial_id=reuse).scalar()
                )
            params = [
                {
                    "trial_id": tid,
                    "param_name": name,
                    "param_value": trial.distributions[name].to_internal_repr(value),
                    "distribution_json": distribution_to_json(trial.distributions[name]),
                }
                for (trial, _), tid in zip(asked, ids, strict=True)
                for name, value in trial.params.items()
            ]
            if params:
                session.execute(insert(m.TrialParamModel), params)
            session.execute(
                insert(m.TrialUserAttributeModel),
                [
                    {"trial_id": tid, "key": key, "value_json": json.dumps(value)}
                    for tid in ids
                    for key, value in owner.items()
                ],
            )
        self.mirrored.update(ids)
        return [
            BatchTrial(trial, number, tid)
            for (trial, _), number, tid in zip(asked, numbers, ids, strict=True)
        ]

    def tell(self, trials: Sequence[BatchTrial], results: Sequence[TrialResult]) -> None:
        """Tell the memory study, then record the batch in one transaction (cancelled trials'
        values queued again)."""
        from engine.sweep.study import tell as tell_one

        frozen = []
        requeue = []
        for t, r in zip(trials, results, strict=True):
            tell_one(self.memory, t.memory, r, requeue=False)
            frozen.append((t.trial_id, self.memory._storage.get_trial(t.memory._trial_id)))
            if r.state == "cancelled" and r.params:
                requeue.append(dict(r.params))
        self._finish(frozen, requeue)

    def _finish(self, frozen: list[tuple[int, FrozenTrial]], requeue: list[dict[str, Any]]) -> None:
        from optuna.storages._rdb import models as m
        from optuna.storages._rdb.storage import _create_scoped_session
        from sqlalchemy import func, insert, update

        values, reports, attrs = [], [], []
        owner = set(owner_attrs())
        with _create_scoped_session(self.rdb.scoped_session) as session:
            for tid, ft in frozen:
                session.execute(
                    update(m.TrialModel)
                    .where(m.TrialModel.trial_id == tid)
                    .values(state=ft.state, datetime_complete=ft.datetime_complete)
                    .execution_options(synchronize_session=False)
                )
                for objective, v in enumerate(ft.values or []):
                    stored, kind = m.TrialValueModel.value_to_stored_repr(v)
                    values.append(
                        {
                            "trial_id": tid,
                            "objective": objective,
                            "value": stored,
                            "value_type": kind,
                        }
                    )
                for step, v in ft.intermediate_values.items():
                    report, how = m.TrialIntermediateValueModel.intermediate_value_to_stored_repr(v)
                    reports.append(
                        {
                            "trial_id": tid,
                            "step": step,
                            "intermediate_value": report,
                            "intermediate_value_type": how,
                        }
                    )
                attrs += [
                    {"trial_id": tid, "key": key, "value_json": json.dumps(value)}
                    for key, value in ft.user_attrs.items()
                    if key not in owner
                ]
            for table, rows in (
                (m.TrialValueModel, values),
                (m.TrialIntermediateValueModel, reports),
                (m.TrialUserAttributeModel, attrs),
            ):
                if rows:
                    session.execute(insert(table), rows)
            if requeue:
                m.StudyModel.find_or_raise_by_id(self.study_id, session, for_update=True)
                count = (
                    session.query(func.count(m.TrialModel.trial_id))
                    .filter(m.TrialModel.study_id == self.study_id)
                    .scalar()
                )
                queued = [
                    m.TrialModel(
                        study_id=self.study_id,
                        number=count + i,
                        state=TrialState.WAITING,
                        datetime_start=None,
                    )
                    for i in range(len(requeue))
                ]
                session.add_all(queued)
                session.flush()
                session.execute(
                    insert(m.TrialSystemAttributeModel),
                    [
                        {"trial_id": q.trial_id, "key": "fixed_params", "value_json": json.dumps(p)}
                        for q, p in zip(queued, requeue, strict=True)
                    ],
                )

    def set_user_attr(self, number: int, key: str, value: Any) -> None:
        """Set a user attribute of the database trial ``number``, finished or not (Optuna's
        API refuses a finished trial; this is the sweep's own bookkeeping, e.g. ``run``)."""
        from optuna.storages._rdb import models as m
        from optuna.storages._rdb.storage import _create_scoped_session
        from sqlalchemy import delete, insert

        with _create_scoped_session(self.rdb.scoped_session) as session:
            tid = (
                session.query(m.TrialModel.trial_id)
                .filter_by(study_id=self.study_id, number=number)
                .scalar()
            )
            if tid is None:
                return
            session.execute(
                delete(m.TrialUserAttributeModel)
                .where(m.TrialUserAttributeModel.trial_id == tid)
                .where(m.TrialUserAttributeModel.key == key)
                .execution_options(synchronize_session=False)
            )
            session.execute(
                insert(m.TrialUserAttributeModel),
                [{"trial_id": tid, "key": key, "value_json": json.dumps(value)}],
            )
