"""The sweep spec: which config keys to search, how, and what to optimise — parsed and checked.

A spec lives in a preset's ``sweep:`` section or in its own YAML file (``--sweep FILE``)::

    sweep:
      params:
        optim.lr: {low: 1.0e-4, high: 1, log: true}   # a float range (log-uniform)
        train.epochs: {low: 50, high: 500, step: 50}   # an int range with a step
        loss.delta: [0.5, 1, 2]                        # a list of choices
        optim.name: [sgd, adam]
      sampler: tpe          # grid | random | tpe (default tpe)
      trials: 20            # the study's total (default 20; grid: the grid's size)
      metric: val_loss      # default: early_stopping.monitor; or <split>.<mse|rmse|mae|r2>
      direction: minimize   # default minimize (maximize for an r2 metric)
      parallel: 4           # worker processes (default: the machine's cores)
      pruning: true         # or false, or {startup_trials: 5, warmup_epochs: 8}
      seed: 0               # sampler seed (default: the preset's seed)

Checked like a preset, each refusal one :class:`~engine.config.ConfigError` line: unknown keys
(with the closest name), a parameter that is not a config key, wrong or empty ranges, and every
range end and choice validated by building the preset's config with that value (so a loss that
does not accept a choice, or an lr of 0, is refused before any trial runs; the ``params:``
entries are :mod:`engine.sweep.spec_params`, this module the rest). No torch or Optuna
import: a bad spec fails in a fraction of a second.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.config import Config, ConfigError, apply_overrides, parse_config
from engine.config.yaml_io import one_line, read_yaml_file, short_repr
from engine.sweep.spec_params import Param, parse_params, unknown

SPEC_KEYS = ("params", "sampler", "trials", "metric", "direction", "parallel", "pruning", "seed")
PRUNING_KEYS = ("startup_trials", "warmup_epochs")
SAMPLERS = ("grid", "random", "tpe")
Direction = Literal["minimize", "maximize"]
DIRECTIONS: tuple[Direction, ...] = ("minimize", "maximize")
LOSS_METRICS = ("val_loss", "train_loss")
SPLIT_METRICS = tuple(
    f"{s}.{m}" for s in ("train", "val", "test") for m in ("mse", "rmse", "mae", "r2")
)
DEFAULT_TRIALS = 20
MAX_GRID = 10_000
"""The largest grid accepted (a typo like step: 1e-6 would otherwise enumerate millions)."""


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep spec (see the module docstring for each key's meaning and default)."""

    params: tuple[Param, ...]
    sampler: str = "tpe"
    trials: int = DEFAULT_TRIALS
    metric: str = "val_loss"
    direction: Direction = "minimize"
    parallel: int = 1
    pruning: bool = True
    startup_trials: int = 5
    """Trials that finish before the pruner starts judging (Optuna MedianPruner)."""
    warmup_epochs: int = 8
    """Epochs a trial runs before it can be pruned (epoch 1 is too noisy to judge)."""
    seed: int = 0
    grid: tuple[dict[str, Any], ...] = field(default=(), compare=False)
    """For the grid sampler: every point, in the order the spec lists them."""

    def identity(self) -> dict[str, Any]:
        """What makes a study this study: not ``trials`` or ``parallel`` (rerunning with more
        trials, or on more cores, continues the same study)."""
        out = asdict(self)
        for k in ("trials", "parallel", "grid"):
            out.pop(k)
        return out


# ---------------------------------------------------------------------------------------------
# Parsing


def _int(value: Any, where: str, key: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"{where}: {key} must be a whole number >= {minimum}, got {short_repr(value)}",
            key=key,
            reason=f"must be >= {minimum}",
        )
    return value


def _metric(value: Any, cfg: Config, where: str) -> str:
    if value is None:
        return cfg.early_stopping.monitor
    if not isinstance(value, str) or value not in LOSS_METRICS + SPLIT_METRICS:
        raise unknown(value, LOSS_METRICS + SPLIT_METRICS, where, "metric")
    split = value.split(".")[0].split("_")[0]
    need = {
        "val": ("val_fraction", cfg.data.val_fraction),
        "test": ("test_fraction", cfg.data.test_fraction),
    }.get(split)
    if need and need[1] == 0:
        raise ConfigError(
            f"{where}: metric {value} needs data.{need[0]} > 0 (it is 0 in the preset)",
            key="sweep.metric",
        )
    return value


def parse_spec(
    raw: Any, base: dict[str, Any], cfg: Config, *, where: str = "sweep", cores: int | None = None
) -> SweepSpec:
    """Check a sweep mapping against the preset mapping ``base`` (whose config is ``cfg``)."""
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where}: a sweep spec must be a mapping with params, got {short_repr(raw)}"
        )
    for k in raw:
        if k not in SPEC_KEYS:
            raise unknown(k, SPEC_KEYS, where, "sweep key")
    params_raw = raw.get("params")
    if not isinstance(params_raw, dict) or not params_raw:
        raise ConfigError(
            f"{where}: params must map config keys to ranges or choices, e.g. "
            "params: {optim.lr: {low: 1.0e-4, high: 1, log: true}}",
            key="sweep.params",
        )
    params = parse_params(params_raw, base, where)
    sampler = raw.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        raise unknown(sampler, SAMPLERS, where, "sampler")
    metric = _metric(raw.get("metric"), cfg, where)
    direction = raw.get("direction", "maximize" if metric.endswith(".r2") else "minimize")
    if direction not in DIRECTIONS:
        raise unknown(direction, DIRECTIONS, where, "direction")
    grid: tuple[dict[str, Any], ...] = ()
    if sampler == "grid":
        grid = _grid(params, where)
    default_trials = len(grid) if grid else DEFAULT_TRIALS
    trials = _int(raw.get("trials", default_trials), where, "trials", 1)
    if grid:
        trials = min(trials, len(grid))
    parallel = _int(raw.get("parallel", cores or os.cpu_count() or 1), where, "parallel", 1)
    pruning, startup, warmup = _pruning(raw.get("pruning", True), where)
    seed = raw.get("seed", cfg.seed)
    seed = _int(seed, where, "seed", 0)
    return SweepSpec(
        params, sampler, trials, metric, direction, parallel, pruning, startup, warmup, seed, grid
    )


def _pruning(value: Any, where: str) -> tuple[bool, int, int]:
    startup, warmup = SweepSpec.startup_trials, SweepSpec.warmup_epochs  # the defaults
    if isinstance(value, bool):
        return value, startup, warmup
    if not isinstance(value, dict):
        raise ConfigError(
            f"{where}: pruning must be true, false or {{startup_trials, "
            f"warmup_epochs}}, got {short_repr(value)}",
            key="sweep.pruning",
        )
    for k in value:
        if k not in PRUNING_KEYS:
            raise unknown(k, PRUNING_KEYS, f"{where}: pruning", "key")
    return (
        True,
        _int(value.get("startup_trials", startup), where, "pruning.startup_trials", 0),
        _int(value.get("warmup_epochs", warmup), where, "pruning.warmup_epochs", 0),
    )


def _grid(params: tuple[Param, ...], where: str) -> tuple[dict[str, Any], ...]:
    for p in params:
        if not p.choices and p.step is None:
            raise ConfigError(
                f"{where}: the grid sampler needs a list or {{low, high, step}} "
                f"for params.{p.key} (a continuous range has no grid)",
                key=f"sweep.params.{p.key}",
            )
    size = math.prod(p.grid_size() for p in params)
    if size > MAX_GRID:
        raise ConfigError(
            f"{where}: the grid has {size} points (at most {MAX_GRID}): use "
            "fewer values or sampler: random / tpe",
            key="sweep.params",
        )
    axes = [p.grid_values() for p in params]
    return tuple(dict(zip([p.key for p in params], point)) for point in itertools.product(*axes))


# ---------------------------------------------------------------------------------------------
# Loading a preset with its sweep


@dataclass(frozen=True)
class SweepSetup:
    """What a sweep starts from: the preset mapping (``sweep:`` removed, ``--set`` applied),
    its checked config, the spec, and the preset's folder (relative paths resolve from it)."""

    base: dict[str, Any]
    config: Config
    spec: SweepSpec
    base_dir: str

    @property
    def study_name(self) -> str:
        """``<preset>-<hash>``: the same preset, overrides and spec give the same study, so
        running the same command again continues it."""
        ident = {"config": self.config.to_dict(), "spec": self.spec.identity()}
        digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode())
        slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.config.name)[:40]
        return f"{slug or 'sweep'}-{digest.hexdigest()[:10]}"


def load_sweep(
    preset: str,
    sweep_file: str | None = None,
    overrides: list[str] | None = None,
    *,
    trials: int | None = None,
    parallel: int | None = None,
) -> SweepSetup:
    """Read ``preset``, take its ``sweep:`` section (or ``sweep_file``'s spec), apply the
    ``--set`` overrides to the rest and check both. ``trials``/``parallel`` override the spec's.
    """
    from engine.config.presets import load_raw

    raw, path = load_raw(preset)
    raw = dict(raw)
    section = raw.pop("sweep", None)  # not a config key: the sweep is read here
    raw.setdefault("name", path.stem)
    base = apply_overrides(raw, overrides or [])
    where = f"{path} with --set {' '.join(map(one_line, overrides))}" if overrides else str(path)
    cfg = parse_config(base, where=where, base_dir=str(path.parent))
    if sweep_file is not None:
        spec_path = Path(sweep_file).expanduser()
        if not spec_path.is_file():
            raise ConfigError(f"{sweep_file}: sweep file not found")
        section = read_yaml_file(spec_path)
        if isinstance(section, dict) and set(section) == {"sweep"}:
            section = section["sweep"]
        spec_where = str(spec_path)
    else:
        spec_where = f"{path} sweep"
        if section is None:
            raise ConfigError(
                f"{path}: no sweep: section in the preset; add one or pass "
                "--sweep FILE (see 'linreg-tui sweep --help')"
            )
    if trials is not None:
        section = {**section, "trials": trials} if isinstance(section, dict) else section
    if parallel is not None:
        section = {**section, "parallel": parallel} if isinstance(section, dict) else section
    return setup_from_raw(base, str(path.parent), section, spec_where=spec_where, cfg=cfg)


def setup_from_raw(
    base: dict[str, Any],
    base_dir: str,
    section: Any,
    *,
    spec_where: str = "sweep",
    where: str = "settings",
    cfg: Config | None = None,
) -> SweepSetup:
    """A sweep from a preset mapping already in hand (the dashboard's form) and a spec
    mapping: both checked, each refusal one ConfigError line. ``cfg``: ``base`` already parsed.
    """
    if cfg is None:
        cfg = parse_config(base, where=where, base_dir=base_dir)
    base_for_checks = {**base, "name": cfg.name}
    spec = parse_spec(section, base_for_checks, cfg, where=spec_where)
    return SweepSetup(base_for_checks, cfg, spec, base_dir)


__all__ = ["SweepSetup", "SweepSpec", "load_sweep", "parse_spec", "setup_from_raw"]


BASE_KEYS = (
    "loss.name",
    "optim.name",
    "optim.lr",
    "optim.momentum",
    "optim.weight_decay",
    "optim.batch_size",
    "train.epochs",
    "data.source",
    "data.n_samples",
    "data.path",
    "early_stopping.enabled",
    "early_stopping.patience",
)
"""The settings the sweep screen's base line shows (those a sweep is most often read by)."""


def base_settings(base: dict[str, Any], searched: list[str]) -> list[list[Any]]:
    """``[[dotted key, value], …]`` of :data:`BASE_KEYS` (and every ``loss.params``) that the
    preset sets and the sweep does not search (a JSON-able study attribute)."""
    out: list[list[Any]] = []
    params = base.get("loss", {}).get("params") if isinstance(base.get("loss"), dict) else None
    keys = [*BASE_KEYS, *(f"loss.params.{k}" for k in (params or {}))]
    for key in keys:
        if key in searched:
            continue
        node: Any = base
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None and not isinstance(node, (dict, list)):
            out.append([key, node])
    return out
