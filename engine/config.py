"""Typed, validated run configuration.

The names here are a public contract: presets, ``--set section.key=value`` overrides and the
``config`` field of JSON events all use them. This module never imports torch, so a dashboard can
load and validate a preset and paint before torch (2-3 s to import) is loaded.

Each field carries its documentation in ``metadata["doc"]`` (meaning, default, range); the README's
preset reference and the dashboard's help are written from the same text.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

LOSS_NAMES = ("mse", "mae", "huber", "smooth_l1", "log_cosh", "quantile")
"""Built-in data losses (see :mod:`engine.losses` for their formulas)."""
LOSS_CHOICES = LOSS_NAMES + ("custom", "combined")
OPTIM_NAMES = ("sgd", "adam", "adamw")
DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class ConfigError(ValueError):
    """A bad preset, override or value: the message names where and what was expected."""


def _f(default: Any, doc: str, **checks: Any) -> Any:
    """A dataclass field with its documentation and declarative checks in ``metadata``."""
    meta = {"doc": doc, **checks}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    """Where the data comes from and how it is split and preprocessed."""

    source: str = _f("synthetic", "synthetic (drawn from the seed) or csv (read from data.path).",
                     choices=("synthetic", "csv"))
    n_samples: int = _f(1000, "Synthetic rows to draw. Default 1000; at least 3.", min=3)
    n_features: int = _f(3, "Synthetic feature columns. Default 3; at least 1.", min=1)
    noise: float = _f(0.5, "Std of the Gaussian noise added to the synthetic target. Default 0.5; >= 0.",
                      min=0.0)
    outlier_fraction: float = _f(
        0.0, "Fraction of synthetic rows whose target gets a gross error (y += 10·std(y)). "
        "Default 0; in [0, 1).", min=0.0, lt=1.0)
    path: str | None = _f(None, "CSV file for source csv; a relative path resolves from the "
                          "preset's folder. Default null.")
    target: str | None = _f(None, "CSV column to predict (required for source csv).")
    features: list[str] | None = _f(None, "CSV feature columns by name; null = every column but "
                                    "the target.")
    val_fraction: float = _f(0.2, "Fraction of rows held out for validation. Default 0.2; "
                             "in [0, 1).", min=0.0, lt=1.0)
    test_fraction: float = _f(0.0, "Fraction of rows held out for a final test. Default 0; "
                              "in [0, 1).", min=0.0, lt=1.0)
    standardize: bool = _f(True, "Scale features to zero mean, unit std using training-split "
                           "statistics only. Default true.")
    standardize_target: bool = _f(False, "Scale the target likewise (losses are then in target "
                                  "std units). Default false.")
    poly_degree: int = _f(1, "Add powers x^2..x^d of each feature (no cross terms). Default 1 "
                          "(none); 1 to 6.", min=1, max=6)
    outliers: str = _f("none", "Training-split outlier handling: none, clip (winsorise the target "
                       "to training quantiles) or drop (rows with robust z-score of the target "
                       "above outlier_threshold). Default none.", choices=("none", "clip", "drop"))
    clip_quantile: float = _f(0.01, "For outliers: clip, the lower quantile q (upper is 1-q). "
                              "Default 0.01; in (0, 0.5).", gt=0.0, lt=0.5)
    outlier_threshold: float = _f(3.5, "For outliers: drop, the robust z-score "
                                  "0.6745*|y-median|/MAD above which a row is dropped. "
                                  "Default 3.5; > 0.", gt=0.0)


@dataclass
class ModelConfig:
    """The linear model ``ŷ = X·w + b``."""

    bias: bool = _f(True, "Learn an intercept b. Default true.")


@dataclass
class LossConfig:
    """The objective: a data loss (or weighted terms) plus optional L1/L2 penalties on w."""

    name: str = _f("mse", "mse, mae, huber, smooth_l1, log_cosh, quantile, custom (a user loss "
                   "named by loss.callable) or combined (weighted loss.terms). Default mse.",
                   choices=LOSS_CHOICES)
    delta: float = _f(1.0, "Huber / smooth_l1 threshold between the quadratic and linear parts. "
                      "Default 1.0; > 0.", gt=0.0)
    quantile: float = _f(0.5, "Quantile q of the pinball loss. Default 0.5; in (0, 1).",
                         gt=0.0, lt=1.0)
    l1: float = _f(0.0, "Weight of the L1 penalty l1·Σ|w| (bias not penalised). Default 0; >= 0.",
                   min=0.0)
    l2: float = _f(0.0, "Weight of the L2 penalty l2·Σw² (bias not penalised). Default 0; >= 0.",
                   min=0.0)
    terms: list[dict] | None = _f(None, "Combined loss: a list of {name, weight, params}; the "
                                  "loss is Σ weight·term. Setting it implies name: combined.")
    callable: str | None = _f(None, "For name: custom, the user loss as 'package.module:obj' or "
                              "'path/to/file.py:obj' (relative to the preset's folder).")
    params: dict = _f({}, "Keyword arguments for the custom loss (custom only). Default {}.")
    force: bool = _f(False, "Train a custom loss even when its pre-flight check fails "
                     "(a warning is printed). Default false.")


@dataclass
class OptimConfig:
    """The optimiser."""

    name: str = _f("sgd", "sgd, adam or adamw. Default sgd.", choices=OPTIM_NAMES)
    lr: float = _f(0.05, "Learning rate. Default 0.05; > 0.", gt=0.0)
    momentum: float = _f(0.0, "SGD momentum (ignored by adam/adamw). Default 0; in [0, 1).",
                         min=0.0, lt=1.0)
    weight_decay: float = _f(0.0, "Optimiser weight decay on w only (not the bias). For sgd/adam "
                             "it adds weight_decay·w to the gradient; adamw decays decoupled. "
                             "Default 0; >= 0.", min=0.0)
    batch_size: int | None = _f(None, "Minibatch size; null = full batch. Default null; >= 1.",
                                min=1)


@dataclass
class TrainConfig:
    """How long and where to train."""

    epochs: int = _f(500, "Maximum number of epochs. Default 500; >= 1.", min=1)
    device: str = _f("auto", "auto (cuda if present, else mps, else cpu), cpu, cuda, cuda:N or "
                     "mps. Default auto.", pattern=DEVICE_RE)


@dataclass
class EarlyStoppingConfig:
    """Stop when the monitored loss stops improving."""

    enabled: bool = _f(True, "Use early stopping. Default true.")
    monitor: str = _f("val_loss", "val_loss or train_loss. Default val_loss (needs "
                      "data.val_fraction > 0).", choices=("val_loss", "train_loss"))
    patience: int = _f(20, "Epochs without improvement before stopping. Default 20; >= 1.",
                       min=1)
    min_delta: float = _f(1e-4, "An epoch improves when monitor < best - min_delta. "
                          "Default 1e-4; >= 0.", min=0.0)
    restore_best: bool = _f(True, "With early stopping enabled, put back the best weights "
                            "however the run ends. Default true.")


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
    "train": TrainConfig,
    "early_stopping": EarlyStoppingConfig,
}


@dataclass
class Config:
    """A whole run: a preset after overrides, validated."""

    name: str = _f("unnamed", "Preset name, shown in the dashboard.")
    description: str = _f("", "One line saying what the preset shows.")
    seed: int = _f(0, "Seed for data, split, initial weights and shuffling. Default 0; "
                   "0 to 2^32-1.", min=0, max=2**32 - 1)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    base_dir: str | None = field(default=None, metadata={
        "doc": "Folder that relative paths resolve from (the preset's folder); not a preset key.",
        "internal": True})

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data (what a preset file holds), without internal fields."""
        out = dataclasses.asdict(self)
        out.pop("base_dir")
        return out

    @classmethod
    def from_dict(cls, raw: Any, *, where: str = "config", base_dir: str | None = None) -> Config:
        """Build and validate a config; raise :class:`ConfigError` naming ``where`` and the key."""
        return parse_config(raw, where=where, base_dir=base_dir)


# ---------------------------------------------------------------------------------------------
# Validation


def _public_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


def _unknown_key(key: str, valid: list[str], where: str, prefix: str) -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f" (did you mean '{prefix}{close[0]}'?)" if close else f"; valid keys: {', '.join(valid)}"
    return ConfigError(f"{where}: unknown key '{prefix}{key}'{hint}")


def _type_name(tp: Any) -> str:
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    if tp is dict:
        return "a mapping"
    return str(tp).replace("typing.", "")


_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
"""A plain number. YAML 1.1 (PyYAML) reads ``1e-3`` (no dot) as a string; we accept it."""


def _int_or_float(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2**63 else value


def _coerce(value: Any, tp: Any, key: str, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (ints are accepted as floats)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key, where)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {key} must be a list, got {value!r}")
        return [_coerce(v, item_tp, f"{key}[{i}]", where) for i, v in enumerate(value)]
    bad = ConfigError(f"{where}: {key} must be {_type_name(tp)}, got {value!r}")
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp in (int, float) and isinstance(value, str) and _NUMBER_RE.match(value.strip()):
        value = float(value) if tp is float else _int_or_float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {key} must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if tp is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    raise bad


def _check(value: Any, meta: dict, key: str, where: str) -> None:
    if value is None:
        return
    if "choices" in meta and value not in meta["choices"]:
        close = difflib.get_close_matches(str(value), meta["choices"], n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"{where}: {key} must be one of {', '.join(meta['choices'])}; "
                          f"got {value!r}{hint}")
    if "pattern" in meta and not meta["pattern"].match(value):
        raise ConfigError(f"{where}: {key} must be auto, cpu, cuda, cuda:N or mps; got {value!r}")
    limits = [("min", ">=", lambda v, b: v >= b), ("max", "<=", lambda v, b: v <= b),
              ("gt", ">", lambda v, b: v > b), ("lt", "<", lambda v, b: v < b)]
    for name, sym, ok in limits:
        if name in meta and not ok(value, meta[name]):
            lo = next((f"{'[' if n == 'min' else '('}{meta[n]}" for n in ("min", "gt") if n in meta),
                      "(-inf")
            hi = next((f"{meta[n]}{']' if n == 'max' else ')'}" for n in ("max", "lt") if n in meta),
                      "inf)")
            raise ConfigError(f"{where}: {key} must be {sym} {meta[name]} (range {lo}, {hi}); "
                              f"got {value!r}")


def _field_value(cls: type, name: str, value: Any, key: str, where: str) -> Any:
    """Coerce and range-check one field of ``cls``; ``key`` is its dotted name for messages."""
    meta = next(f.metadata for f in _public_fields(cls) if f.name == name)
    value = _coerce(value, typing.get_type_hints(cls)[name], key, where)
    _check(value, meta, key, where)
    return value


def _build_section(cls: type, raw: Any, where: str, prefix: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: {prefix.rstrip('.')} must be a mapping, got {raw!r}")
    names = [f.name for f in _public_fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        if key not in names:
            raise _unknown_key(str(key), names, where, prefix)
        kwargs[key] = _field_value(cls, key, value, prefix + key, where)
    return cls(**kwargs)


def parse_loss_section(raw: Any, where: str = "loss") -> LossConfig:
    """Validate the ``loss`` section alone (the dashboard's formula line needs no other field)."""
    if isinstance(raw, dict) and raw.get("terms") is not None and "name" not in raw:
        raw = {**raw, "name": "combined"}
    return _build_section(LossConfig, raw, where, "loss.")


def parse_config(raw: Any, *, where: str = "config", base_dir: str | None = None) -> Config:
    """Validate a preset mapping into a :class:`Config`.

    Rejects unknown keys (suggesting the closest valid one), wrong types, out-of-range values and
    inconsistent combinations, each with one message naming ``where`` and the key.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a preset must be a mapping of keys, got {type(raw).__name__}")
    top = [f.name for f in _public_fields(Config)]
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in top:
            raise _unknown_key(str(key), top, where, "")
        if key == "loss":
            kwargs[key] = parse_loss_section(value, where)
        elif key in SECTIONS:
            kwargs[key] = _build_section(SECTIONS[key], value, where, key + ".")
        else:
            kwargs[key] = _field_value(Config, key, value, key, where)
    cfg = Config(**kwargs, base_dir=base_dir)
    _cross_checks(cfg, where)
    return cfg


def _cross_checks(cfg: Config, where: str) -> None:
    d, es, loss = cfg.data, cfg.early_stopping, cfg.loss
    if d.val_fraction + d.test_fraction >= 1:
        raise ConfigError(f"{where}: data.val_fraction + data.test_fraction must be < 1 (rows "
                          f"are needed to train); got {d.val_fraction} + {d.test_fraction}")
    if es.enabled and es.monitor == "val_loss" and d.val_fraction == 0:
        raise ConfigError(f"{where}: early_stopping.monitor is val_loss but data.val_fraction is "
                          "0: set data.val_fraction > 0 or early_stopping.monitor: train_loss")
    if d.source == "csv":
        if not d.path:
            raise ConfigError(f"{where}: data.path is required when data.source is csv")
        if not d.target:
            raise ConfigError(f"{where}: data.target (the column to predict) is required when "
                              "data.source is csv")
    if loss.params and loss.name != "custom":
        raise ConfigError(f"{where}: loss.params applies only to custom losses (loss.name is "
                          f"{loss.name!r}); use loss.delta / loss.quantile, or params inside "
                          "loss.terms")
    if loss.name == "custom" and not loss.callable:
        raise ConfigError(f"{where}: loss.callable is required when loss.name is custom "
                          "(e.g. 'my_losses.py:MyLoss')")
    if loss.name == "combined":
        if not loss.terms:
            raise ConfigError(f"{where}: loss.terms (a list of {{name, weight, params}}) is "
                              "required when loss.name is combined")
        for i, term in enumerate(loss.terms):
            _check_term(term, f"loss.terms[{i}]", where)
    elif loss.terms is not None:
        raise ConfigError(f"{where}: loss.terms is set but loss.name is {loss.name!r}: use "
                          "loss.name: combined (or leave name out)")


TERM_KEYS = ("name", "weight", "params")


def _check_term(term: Any, key: str, where: str) -> None:
    if not isinstance(term, dict):
        raise ConfigError(f"{where}: {key} must be a mapping {{name, weight, params}}, "
                          f"got {term!r}")
    for k in term:
        if k not in TERM_KEYS:
            raise _unknown_key(str(k), list(TERM_KEYS), where, key + ".")
    name = term.get("name")
    if name not in LOSS_NAMES + ("custom",):
        raise ConfigError(f"{where}: {key}.name must be one of "
                          f"{', '.join(LOSS_NAMES + ('custom',))}; got {name!r}")
    weight = _coerce(term.get("weight", 1.0), float, key + ".weight", where)
    _check(weight, {"min": 0.0}, key + ".weight", where)
    params = _coerce(term.get("params") or {}, dict, key + ".params", where)
    if name == "custom" and "callable" not in params:
        raise ConfigError(f"{where}: {key}.params.callable is required for a custom term")
    if name != "custom":  # a built-in term's params: only its own, in range (no silent typos)
        allowed = TERM_PARAMS.get(name, {})
        for k, v in params.items():
            if not allowed:
                raise ConfigError(f"{where}: {key}.params: {name} takes no parameters; "
                                  f"got {k!r}")
            if k not in allowed:
                raise _unknown_key(str(k), list(allowed), where, key + ".params.")
            v = _coerce(v, float, f"{key}.params.{k}", where)
            _check(v, allowed[k], f"{key}.params.{k}", where)


TERM_PARAMS: dict[str, dict[str, dict]] = {
    "huber": {"delta": {"gt": 0.0}},
    "smooth_l1": {"delta": {"gt": 0.0}},
    "quantile": {"quantile": {"gt": 0.0, "lt": 1.0}, "q": {"gt": 0.0, "lt": 1.0}},
}
"""Parameters a built-in term of a combined loss accepts, with their ranges."""


# ---------------------------------------------------------------------------------------------
# Overrides


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``section.key=value``; the value is parsed as YAML (``null``, ``1e-3``, ``[a, b]``)."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected section.key=value")
    key, _, raw_value = text.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text}: expected section.key=value")
    try:
        value = yaml.safe_load(raw_value) if raw_value.strip() else None
    except yaml.YAMLError:
        value = raw_value
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of the raw preset mapping with ``--set`` overrides applied.

    Unknown keys are caught here with the override named in the message.
    """
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for text in overrides:
        path, value = parse_override(text)
        where = f"--set {text}"
        if len(path) == 1:
            if path[0] in SECTIONS:
                raise ConfigError(f"{where}: {path[0]} is a section; set one of its keys, "
                                  f"e.g. {path[0]}.{_public_fields(SECTIONS[path[0]])[0].name}=...")
            if path[0] not in {f.name for f in _public_fields(Config)}:
                raise _unknown_key(path[0], [f.name for f in _public_fields(Config)], where, "")
            out[path[0]] = _field_value(Config, path[0], value, path[0], where)
        elif len(path) == 2 or (len(path) == 3 and path[:2] == ["loss", "params"]):
            section, key = path[0], path[1]
            if section not in SECTIONS:
                raise _unknown_key(section, list(SECTIONS), where, "")
            names = [f.name for f in _public_fields(SECTIONS[section])]
            if key not in names:
                raise _unknown_key(key, names, where, section + ".")
            if len(path) == 2 and key not in ("terms", "params"):
                value = _field_value(SECTIONS[section], key, value, f"{section}.{key}", where)
            sect = out.get(section)
            sect = dict(sect) if isinstance(sect, dict) else {}
            if len(path) == 3:
                params = dict(sect.get("params") or {})
                params[path[2]] = value
                sect["params"] = params
            else:
                sect[key] = value
            out[section] = sect
        else:
            raise ConfigError(f"{where}: expected section.key=value (two levels, e.g. optim.lr)")
    return out


def field_docs() -> list[tuple[str, Any, str]]:
    """``(dotted key, default, doc)`` for every public field, in declaration order."""
    rows: list[tuple[str, Any, str]] = []
    for f in _public_fields(Config):
        if f.name in SECTIONS:
            for sf in _public_fields(SECTIONS[f.name]):
                default = sf.default if sf.default is not dataclasses.MISSING else sf.default_factory()
                rows.append((f"{f.name}.{sf.name}", default, sf.metadata["doc"]))
        else:
            rows.append((f.name, f.default, f.metadata["doc"]))
    return rows
