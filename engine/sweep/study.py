"""The Optuna side of a sweep: the study's storage, samplers, taking the next trial and telling
results (reading the study back is :mod:`engine.sweep.study_table`).

- **Storage.** By default an SQLite file next to the runs (``RUNS/sweeps.db``); ``--storage``
  takes any Optuna RDB URL (``postgresql://…``, ``mysql+pymysql://…``), which is how workers on
  several machines share one study. SQLite is opened in WAL mode with ``synchronous=NORMAL``:
  worker processes read while one writes, and a report costs no fsync (a power cut may lose
  the last trial's bookkeeping, never corrupt the file; the runs themselves are fsynced).
- **Taking a trial.** Under a file lock (workers on this machine), a worker counts the study's
  trials that are done or still running and stops at the spec's total, so a grid is covered
  exactly once and a rerun only runs what is missing. Grid points, and the values of a trial a
  signal cancelled, are queued with ``study.enqueue_trial``; other trials come from the sampler.
- **Reproducible sampling.** Each trial gets a fresh sampler seeded from the spec's seed and
  the number of trials already counted, so a sequential sweep with a seed gives the same
  values every time, interrupted or not (parallel workers interleave, so they do not).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from engine.config import ConfigError
from engine.runs.store import pid_alive
from engine.sweep.spec import SweepSpec, base_settings
from engine.sweep.spec_params import Param
from engine.sweep.trial import TrialResult, owner_attrs

optuna.logging.set_verbosity(optuna.logging.WARNING)
SQLITE_NAME = "sweeps.db"
LOCK_NAME = ".sweeps.lock"
SQLITE_TIMEOUT_S = 60


def default_storage(runs_root: Path) -> str:
    """``sqlite:///RUNS/sweeps.db`` (absolute)."""
    runs_root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(runs_root / SQLITE_NAME).resolve()}"


_pragmas_installed = False


def _install_sqlite_pragmas() -> None:
    """WAL + synchronous=NORMAL on every SQLite connection this process opens."""
    global _pragmas_installed
    if _pragmas_installed:
        return
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        if isinstance(dbapi_conn, sqlite3.Connection):
            cur = dbapi_conn.cursor()
            with contextlib.suppress(sqlite3.OperationalError):  # another process holds it
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    _pragmas_installed = True


def preload_storage(url: str) -> None:
    """Import what opening ``url`` needs (SQLAlchemy, Optuna's RDB models) without opening it:
    done before a fork, the worker does not import it again."""
    if url.startswith("sqlite"):
        _install_sqlite_pragmas()
    import alembic.migration  # noqa: F401 - every open checks the schema's revision with it
    import optuna.storages._rdb.models  # noqa: F401 - the tables, SQLAlchemy's ORM with them


CREATE_ATTEMPTS = 5
"""How often opening a new database is tried when another process is creating its tables."""


def open_storage(url: str, *, checked: bool = False) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage for ``url``; a bad URL or an unreachable database is one line.

    ``checked``: this database was just opened (tables created, schema version checked) by the
    sweep's own process, so a worker skips both (two queries and Alembic's set-up per worker).
    """
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        _install_sqlite_pragmas()
        kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    attempt = 1
    while True:
        try:
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=kwargs,
                skip_compatibility_check=checked,
                skip_table_creation=checked,
            )
        except Exception as exc:  # noqa: BLE001 - sqlalchemy/driver errors of every kind
            if _lost_creation_race(exc) and attempt < CREATE_ATTEMPTS:
                time.sleep(0.1 * attempt)  # the other process is creating the tables
                attempt += 1
                continue
            from engine.runs.store import first_line

            raise ConfigError(
                f"--storage {url}: cannot open the study database ({first_line(exc, 120)})"
            ) from None


def _lost_creation_race(exc: Exception) -> bool:
    """Whether opening failed because another process (the dashboard watching a sweep it just
    started, a second worker) created the same new database's tables at the same moment:
    Alembic's version row or a table already there. Opening again finds them made."""
    text = str(exc)
    return "alembic_version" in text or "already exists" in text


def open_study(storage: Any, name: str, spec: SweepSpec) -> optuna.Study:
    """Create the study, or load it when it exists (a rerun continues it)."""
    return optuna.create_study(
        storage=storage,
        study_name=name,
        direction=spec.direction,
        pruner=make_pruner(spec),
        sampler=make_sampler(spec, spec.seed),
        load_if_exists=True,
    )


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    """The median pruner when the spec prunes, else none."""
    if spec.pruning:
        return optuna.pruners.MedianPruner(
            n_startup_trials=spec.startup_trials, n_warmup_steps=spec.warmup_epochs
        )
    return optuna.pruners.NopPruner()


def describe(study: optuna.Study, spec: SweepSpec, base: dict[str, Any] | None = None) -> None:
    """Write the metric, the searched keys, the total and the base settings (what every trial
    shares, :func:`engine.sweep.spec.base_settings`) into the study's user attributes
    (once), so a viewer that has only the database (the dashboard's sweep screen) can label
    them."""
    keys = [p.key for p in spec.params]
    attrs = study.user_attrs
    shared = base_settings(base, keys) if base is not None else None
    if shared is not None and attrs.get("base") != shared:
        study.set_user_attr("base", shared)
    if attrs.get("metric") != spec.metric:
        study.set_user_attr("metric", spec.metric)
    if attrs.get("params") != keys:
        study.set_user_attr("params", keys)
    if attrs.get("trials") != spec.trials:  # the total a viewer counts against ("3/20")
        study.set_user_attr("trials", spec.trials)


def make_sampler(spec: SweepSpec, seed: int) -> optuna.samplers.BaseSampler:
    """The spec's sampler (the grid's points are queued, so a grid trial never asks one)."""
    if spec.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def trial_seed(seed: int, k: int) -> int:
    """The sampler seed of the ``k``-th counted trial, hashed: Mersenne Twister streams of
    nearby seeds start out correlated (their first uniforms cluster)."""
    digest = hashlib.sha256(f"linreg-tui-sweep:{seed}:{k}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


@contextlib.contextmanager
def study_lock(runs_root: Path) -> Iterator[None]:
    """An exclusive lock among this machine's workers (no-op where ``fcntl`` is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not Linux/macOS
        yield
        return
    runs_root.mkdir(parents=True, exist_ok=True)
    with open(runs_root / LOCK_NAME, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------
# Which trials count


def trial_state(t: FrozenTrial) -> str:
    """A trial's state as the sweep shows it: complete, pruned, diverged, failed, cancelled,
    running or queued."""
    attr = t.user_attrs.get("state")
    if t.state == TrialState.COMPLETE:
        return attr if attr in ("complete", "diverged") else "complete"
    if t.state == TrialState.PRUNED:
        return "pruned"
    if t.state == TrialState.FAIL:
        return "failed" if attr == "failed" else "cancelled"
    if t.state == TrialState.WAITING:
        return "queued"
    return "running" if _alive(t) else "cancelled"


def _alive(t: FrozenTrial) -> bool:
    """A running trial of this host whose process is gone is dead; other hosts' are trusted."""
    if t.user_attrs.get("host") != socket.gethostname():
        return True
    return pid_alive(t.user_attrs.get("pid"))


def counts_toward_total(t: FrozenTrial) -> bool:
    """Done or in progress: everything except cancelled trials and queued ones."""
    return trial_state(t) not in ("cancelled", "queued")


def _params_of(t: FrozenTrial, spec: SweepSpec) -> dict[str, Any] | None:
    if len(t.params) == len(spec.params):
        return dict(t.params)
    fixed = t.system_attrs.get("fixed_params")
    return dict(fixed) if isinstance(fixed, dict) else None


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def reap_dead(study: optuna.Study, trials: list[FrozenTrial], spec: SweepSpec) -> int:
    """Trials left RUNNING by a killed worker of this host: mark them FAIL (cancelled) and
    queue their values again. Returns how many it found."""
    dead = [t for t in trials if t.state == TrialState.RUNNING and not _alive(t)]
    for t in dead:
        with contextlib.suppress(Exception):  # another worker got there first
            study.tell(t.number, state=TrialState.FAIL)
            queue_again(study, _params_of(t, spec))
    return len(dead)


def queue_again(study: optuna.Study, params: dict[str, Any] | None) -> None:
    """Queue a cancelled trial's values, so the next trial (here or on a rerun) redoes it."""
    if params:
        study.enqueue_trial(params, skip_if_exists=False)


requeue = queue_again  # the name it had before batch_store.py


def next_trial(study: optuna.Study, spec: SweepSpec, runs_root: Path) -> optuna.Trial | None:
    """The next trial to run with its values suggested, or None when the study has its total."""
    found = next_trials(study, spec, runs_root, 1)
    return found[0] if found else None


def next_trials(
    study: optuna.Study, spec: SweepSpec, runs_root: Path, k: int
) -> list[optuna.Trial]:
    """Up to ``k`` next trials with their values suggested (fewer when the study reaches its
    total): one lock and one read of the study for the lot, so a batch costs its asks only.
    The ``j``-th gets the sampler seeded as the ``j``-th counted trial, so a random sweep asks
    the same values in batches as one by one."""
    out: list[optuna.Trial] = []
    with study_lock(runs_root):
        trials = study.get_trials(deepcopy=False)
        if reap_dead(study, trials, spec):
            trials = study.get_trials(deepcopy=False)  # read again only when it changed
        counted = [t for t in trials if counts_toward_total(t)]
        waiting = sum(t.state == TrialState.WAITING for t in trials)
        done = {_key(p) for t in counted if (p := _params_of(t, spec)) is not None}
        owner = owner_attrs()
        while len(out) < k and len(counted) + len(out) < spec.trials:
            if spec.grid and not waiting:
                remaining = [p for p in spec.grid if _key(p) not in done]
                if not remaining:
                    break
                study.enqueue_trial(remaining[0])
                done.add(_key(remaining[0]))
            else:
                waiting = max(0, waiting - 1)
            study.sampler = make_sampler(spec, trial_seed(spec.seed, len(counted) + len(out)))
            trial = study.ask()
            for name, value in owner.items():
                trial.set_user_attr(name, value)
            for param in spec.params:
                suggest(trial, param)
            if spec.grid:
                done.add(_key(dict(trial.params)))
            out.append(trial)
    return out


def suggest(trial: optuna.Trial, p: Param) -> Any:
    """Ask the trial for ``p``'s value (a queued trial gets its fixed value back)."""
    if p.choices:
        return trial.suggest_categorical(p.key, list(p.choices))
    assert p.low is not None and p.high is not None  # a range (parse_spec checked it)
    if p.kind == "int":
        return trial.suggest_int(p.key, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
    return trial.suggest_float(p.key, float(p.low), float(p.high), step=p.step, log=p.log)


def tell(
    study: optuna.Study, trial: optuna.Trial, result: TrialResult, *, requeue: bool = True
) -> None:
    """Record ``result``: complete/diverged as COMPLETE (diverged with the worst value),
    pruned as PRUNED, failed and cancelled as FAIL (cancelled values queued again unless
    ``requeue`` is false: :mod:`engine.sweep.batch_store` queues them in the database)."""
    if result.state != "cancelled":
        trial.set_user_attr("state", result.state)
        trial.set_user_attr("epochs", result.epochs)
        if result.error:
            trial.set_user_attr("error", result.error[:300])
    if result.state in ("complete", "diverged"):
        study.tell(trial, result.value)
    elif result.state == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, state=TrialState.FAIL)
        if result.state == "cancelled" and requeue:
            queue_again(study, result.params)


# ---------------------------------------------------------------------------------------------
