"""The run configuration's schema: its sections and fields, each with its documentation.

The names here are a public contract: presets, ``--set section.key=value`` overrides and the
``config`` field of JSON events all use them. Each field carries its documentation in
``metadata["doc"]`` (meaning, default, range) and its declarative checks (``choices``, ``min``,
``gt``, ``lt``, ``max``, ``pattern``); the README's preset reference, the dashboard's help and
the checks in :mod:`engine.config.checks` all read them from here. Loss and optimizer choices,
the parameters a loss accepts, and the docs and ranges of the fields that name or hold them
(``loss.name``, ``loss.delta``, ``optim.momentum``, ...) come from :mod:`engine.registry`, so a
registry entry is never restated here.

Import it as :mod:`engine.config` (which re-exports everything public). No torch import.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from engine.core.errors import ConfigError as ConfigError
from engine.core.errors import keyed_error as keyed_error
from engine.optimizer_registry import OPTIMIZERS, optimizer_names
from engine.registry import (
    CLASSIFICATION_LOSSES,
    LOSSES,
    TASKS,
    ParamSpec,
    builtin_loss_names,
    loss_names,
)

LOSS_NAMES = builtin_loss_names()
"""Built-in data losses (their declarations are in :mod:`engine.registry`)."""
SPECIAL_LOSSES = ("custom", "combined")
CLASSIFICATION_NAMES = tuple(CLASSIFICATION_LOSSES)
"""The classification losses (``model.task`` binary or multiclass)."""
LOSS_CHOICES = LOSS_NAMES + CLASSIFICATION_NAMES + SPECIAL_LOSSES
OPTIM_NAMES = optimizer_names()
DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def loss_choices() -> tuple[str, ...]:
    """Every ``loss.name`` value: the registered losses (toy ones too), the classification
    losses, custom and combined."""
    return loss_names() + tuple(CLASSIFICATION_LOSSES) + SPECIAL_LOSSES


def _f(default: Any, doc: str, **checks: Any) -> Any:
    """A dataclass field with its documentation and declarative checks in ``metadata``."""
    meta = {"doc": doc, **checks}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def _listed(names: tuple[str, ...] | list[str], last: str = "or") -> str:
    """``a, b or c`` (``a`` alone, ``a or b``)."""
    return f"{', '.join(names[:-1])} {last} {names[-1]}" if len(names) > 1 else "".join(names)


def _loss_param_field(name: str) -> Any:
    """A ``LossConfig`` field for the loss parameter ``name`` (one field serves every built-in
    that has it, as ``loss.delta`` serves huber and smooth_l1): default, doc and range from
    its :class:`~engine.registry.ParamSpec`."""
    owners = [(s.name, p) for s in LOSSES.values() for p in s.params if p.name == name]
    param: ParamSpec = owners[0][1]
    used_by = _listed([owner for owner, _ in owners], "and")
    return _f(param.default, f"{param.doc} Used by {used_by}.", **param.bounds)


def _optim_takers(name: str) -> str:
    """``optim.<name>``'s doc prefix: which optimizers read it, and which ignore it."""
    takers = [o.name for o in OPTIMIZERS.values() if name in o.hyperparams]
    others = [o.name for o in OPTIMIZERS.values() if name not in o.hyperparams]
    return f"{'/'.join(takers)} only" + (f" (ignored by {'/'.join(others)})" if others else "")


@dataclass
class DataConfig:
    """Where the data comes from and how it is split and preprocessed."""

    source: str = _f(
        "synthetic",
        "synthetic (drawn from the seed) or csv (read from data.path).",
        choices=("synthetic", "csv"),
    )
    n_samples: int = _f(1000, "Synthetic rows to draw. Default 1000; at least 3.", min=3)
    n_features: int = _f(3, "Synthetic feature columns. Default 3; at least 1.", min=1)
    noise: float = _f(
        0.5, "Std of the Gaussian noise added to the synthetic target. Default 0.5; >= 0.", min=0.0
    )
    outlier_fraction: float = _f(
        0.0,
        "Fraction of synthetic rows whose target gets a gross error (y += 10·std(y)). "
        "Default 0; in [0, 1).",
        min=0.0,
        lt=1.0,
    )
    path: str | None = _f(
        None,
        "CSV file for source csv; a relative path resolves from the preset's folder. Default null.",
    )
    target: str | None = _f(None, "CSV column to predict (required for source csv).")
    features: list[str] | None = _f(
        None, "CSV feature columns by name; null = every column but the target."
    )
    val_fraction: float = _f(
        0.2, "Fraction of rows held out for validation. Default 0.2; in [0, 1).", min=0.0, lt=1.0
    )
    test_fraction: float = _f(
        0.0, "Fraction of rows held out for a final test. Default 0; in [0, 1).", min=0.0, lt=1.0
    )
    standardize: bool = _f(
        True,
        "Scale features to zero mean, unit std using training-split statistics only. Default true.",
    )
    standardize_target: bool = _f(
        False, "Scale the target likewise (losses are then in target std units). Default false."
    )
    poly_degree: int = _f(
        1,
        "Add powers x^2..x^d of each feature (no cross terms). Default 1 (none); 1 to 6.",
        min=1,
        max=6,
    )
    outliers: str = _f(
        "none",
        "Training-split outlier handling: none, clip (winsorise the target "
        "to training quantiles) or drop (rows with robust z-score of the target "
        "above outlier_threshold). Default none.",
        choices=("none", "clip", "drop"),
    )
    clip_quantile: float = _f(
        0.01,
        "For outliers: clip, the lower quantile q (upper is 1-q). Default 0.01; in (0, 0.5).",
        gt=0.0,
        lt=0.5,
    )
    outlier_threshold: float = _f(
        3.5,
        "For outliers: drop, the robust z-score "
        "0.6745*|y-median|/MAD above which a row is dropped. "
        "Default 3.5; > 0.",
        gt=0.0,
    )


@dataclass
class ModelConfig:
    """The linear model ``ŷ = X·w + b`` (for classification, logits ``z = X·w + b``)."""

    bias: bool = _f(True, "Learn an intercept b. Default true.")
    task: str = _f(
        "regression",
        "regression, binary (two target values mapped to 0/1; one "
        "logit per row; loss log_loss, hinge or squared_hinge) or multiclass (K "
        "sorted target values as classes 0..K-1; K logits per row; loss "
        "cross_entropy). Custom losses fit any task. Default regression.",
        choices=TASKS,
    )


@dataclass
class LossConfig:
    """The objective: a data loss (or weighted terms) plus optional L1/L2 penalties on w."""

    name: str = _f(
        "mse",
        f"{', '.join(LOSS_NAMES)} (regression); "
        f"{', '.join(CLASSIFICATION_NAMES)} (classification, see model.task); "
        "custom (a user loss named by loss.callable) or combined (weighted "
        "loss.terms). Default mse.",
        choices=loss_choices,
    )
    delta: float = _loss_param_field("delta")
    quantile: float = _loss_param_field("quantile")
    l1: float = _f(
        0.0, "Weight of the L1 penalty l1·Σ|w| (bias not penalised). Default 0; >= 0.", min=0.0
    )
    l2: float = _f(
        0.0, "Weight of the L2 penalty l2·Σw² (bias not penalised). Default 0; >= 0.", min=0.0
    )
    terms: list[dict[str, Any]] | None = _f(
        None,
        "Combined loss: a list of {name, weight, params}; the "
        "loss is Σ weight·term. Setting it implies name: combined.",
    )
    callable: str | None = _f(
        None,
        "For name: custom, the user loss as 'package.module:obj' or "
        "'path/to/file.py:obj' (relative to the preset's folder).",
    )
    params: dict[str, Any] = _f(
        {},
        "Keyword arguments for the custom loss, or a registered loss's own "
        "parameters that are not keys here. Default {}.",
    )
    force: bool = _f(
        False,
        "Train a custom loss even when its pre-flight check fails "
        "(a warning is printed). Default false.",
    )


@dataclass
class OptimConfig:
    """The optimiser."""

    name: str = _f("sgd", f"{_listed(OPTIM_NAMES)}. Default sgd.", choices=optimizer_names)
    lr: float = _f(0.05, "Learning rate. Default 0.05; > 0.", gt=0.0)
    momentum: float = _f(
        0.0,
        f"Heavy-ball momentum, {_optim_takers('momentum')}. Default 0; in [0, 1).",
        min=0.0,
        lt=1.0,
    )
    weight_decay: float = _f(
        0.0,
        "Optimiser weight decay on w only (not the bias). For sgd/adam "
        "it adds weight_decay·w to the gradient; adamw decays decoupled. "
        "Default 0; >= 0.",
        min=0.0,
    )
    batch_size: int | None = _f(
        None, "Minibatch size; null = full batch. Default null; >= 1.", min=1
    )


@dataclass
class TrainConfig:
    """How long and where to train."""

    epochs: int = _f(500, "Maximum number of epochs. Default 500; >= 1.", min=1)
    device: str = _f(
        "auto",
        "auto (cuda if present, else mps, else cpu), cpu, cuda, cuda:N or mps. Default auto.",
        pattern=DEVICE_RE,
    )
    processes: int = _f(
        1,
        "Data-parallel processes (torchrun ranks on this machine, gloo on CPU, NCCL on CUDA); "
        "each trains on its share of the rows. Default 1; >= 1.",
        min=1,
        max=256,
    )


@dataclass
class EarlyStoppingConfig:
    """Stop when the monitored loss stops improving."""

    enabled: bool = _f(True, "Use early stopping. Default true.")
    monitor: str = _f(
        "val_loss",
        "val_loss, train_loss or val_accuracy (classification "
        "only; maximised). Default val_loss (val_* need data.val_fraction > 0).",
        choices=("val_loss", "train_loss", "val_accuracy"),
    )
    patience: int = _f(20, "Epochs without improvement before stopping. Default 20; >= 1.", min=1)
    min_delta: float = _f(
        1e-4,
        "An epoch improves when monitor < best - min_delta "
        "(val_accuracy: monitor > best + min_delta). Default 1e-4; >= 0.",
        min=0.0,
    )
    restore_best: bool = _f(
        True,
        "With early stopping enabled, put back the best weights "
        "however the run ends. Default true.",
    )


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
    seed: int = _f(
        0,
        "Seed for data, split, initial weights and shuffling. Default 0; 0 to 2^32-1.",
        min=0,
        max=2**32 - 1,
    )
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    base_dir: str | None = field(
        default=None,
        metadata={
            "doc": "Folder that relative paths resolve from (the preset's folder); "
            "not a preset key.",
            "internal": True,
        },
    )

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data (what a preset file holds), without internal fields."""
        out = dataclasses.asdict(self)
        out.pop("base_dir")
        return out


def public_fields(cls: type) -> list[dataclasses.Field[Any]]:
    """The fields of a config section a preset may set (``base_dir`` is internal)."""
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


def field_docs() -> list[tuple[str, Any, str]]:
    """``(dotted key, default, doc)`` for every public field, in declaration order."""
    rows: list[tuple[str, Any, str]] = []
    for f in public_fields(Config):
        if f.name in SECTIONS:
            for sf in public_fields(SECTIONS[f.name]):
                rows.append((f"{f.name}.{sf.name}", field_default(sf), sf.metadata["doc"]))
        else:
            rows.append((f.name, f.default, f.metadata["doc"]))
    return rows


def field_default(f: dataclasses.Field[Any]) -> Any:
    """A field's default value (a fresh one for list and dict fields)."""
    if f.default is not dataclasses.MISSING:
        return f.default
    factory: Any = f.default_factory  # every field here has a default or a factory
    return factory()
