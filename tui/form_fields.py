"""The settings form's fields, derived from the config schema and the registries.

Nothing is re-declared here: kinds, choices, ranges and defaults come from
``engine.config.field_info``; a loss's own parameter fields and an optimizer's hyperparameter
fields are the form keys of their registry entries (``LossSpec.form_keys``,
``OptimizerSpec.form_keys``), so a registered loss or optimizer gets its rows with no change
here. This module only says which other keys the form edits, in what order, and their labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from engine.config import Config, field_info, own_params
from engine.optimizer_registry import OPTIMIZERS
from engine.registry import LOSSES

Values = dict[str, Any]

LOSS_PARAMS_AT = "loss.params"
"""The registered losses' own parameter fields go right after this one."""
LOSS_KEYS = ("loss.name", "loss.terms", "loss.callable", LOSS_PARAMS_AT, "loss.l1", "loss.l2")
EVERY_OPTIMIZER_KEYS = ("optim.weight_decay", "optim.batch_size")
"""``optim.*`` keys every optimizer reads (after the registered optimizers' hyperparameters)."""
OTHER_KEYS = (
    "train.epochs",
    "data.val_fraction",
    "seed",
    "early_stopping.enabled",
    "early_stopping.monitor",
    "early_stopping.patience",
    "early_stopping.min_delta",
    "early_stopping.restore_best",
    "train.device",
    "train.processes",
)


def optimizer_keys() -> tuple[str, ...]:
    """``optim.name``, every registered optimizer's hyperparameter keys (in order of first
    appearance: ``optim.lr``, ``optim.momentum``), then the keys every optimizer reads."""
    keys = ["optim.name"]
    for spec in OPTIMIZERS.values():
        keys += [k for k in spec.form_keys() if k not in keys]
    return tuple(keys) + tuple(k for k in EVERY_OPTIMIZER_KEYS if k not in keys)


def form_keys() -> tuple[str, ...]:
    """The config keys the form edits, in screen order (the rest stay as the preset has them);
    the registered losses' parameter keys are added after :data:`LOSS_PARAMS_AT`."""
    return LOSS_KEYS + optimizer_keys() + OTHER_KEYS


FORM_KEYS = form_keys()
"""The keys :func:`form_keys` gives for the built-in registries (a form built later asks again,
so an optimizer registered meanwhile gets its rows)."""
LABELS = {"loss.name": "loss", "optim.name": "optimizer", "early_stopping.enabled": "early stop"}
"""Labels that are not the key's last part with spaces for underscores."""
PLACEHOLDERS = {
    "loss.terms": "[{name: mse, weight: 1}]",
    "loss.callable": "file.py:obj",
    "loss.params": "{} (none)",
    "optim.batch_size": "full batch",
}
DEVICE_KEY = "train.device"
"""Typed as text in a preset, offered as a choice of the machine's devices in the form."""
DEFAULT_DEVICES: tuple[tuple[str, str], ...] = (("auto", "auto"), ("cpu", "cpu"))
"""``(value, label)`` before the engine has said which devices exist (it imports torch)."""
EXAMPLE_TERMS: list[dict[str, Any]] = [
    {"name": "mse", "weight": 0.7},
    {"name": "mae", "weight": 0.3},
]
"""What the terms field is filled with when combined is chosen with no terms yet."""


@dataclass(frozen=True)
class FormField:
    """One row of the form: its config key, label, kind (``field_info``'s) and choices."""

    key: str
    label: str
    kind: str
    choices: tuple[str, ...] = ()
    placeholder: str = ""
    losses: tuple[str, ...] = ()
    """For a loss parameter: the losses that have it (see ``engine.config.applies`` for when
    it applies)."""

    @property
    def typed(self) -> bool:
        """Whether the user types its text (an input) rather than picks a value."""
        return self.kind not in ("choice", "bool")


def _label(key: str) -> str:
    return LABELS.get(key) or key.rsplit(".", 1)[-1].replace("_", " ")


def _field(key: str, **extra: Any) -> FormField:
    info = field_info(key)
    kind = "choice" if key == DEVICE_KEY else info.kind
    return FormField(
        key, extra.pop("label", _label(key)), kind, info.choices, PLACEHOLDERS.get(key, ""), **extra
    )


def _loss_param_fields() -> list[FormField]:
    """One field per distinct parameter key of the registered losses (delta serves huber and
    smooth_l1), labelled with the parameter's name and formula symbol (``delta δ``)."""
    owners: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    for spec in LOSSES.values():
        for p, key in zip(spec.params, spec.form_keys()):
            owners.setdefault(key, []).append(spec.name)
            labels.setdefault(key, p.name if p.symbol == p.name else f"{p.name} {p.symbol}")
    return [_field(key, label=labels[key], losses=tuple(names)) for key, names in owners.items()]


def form_fields() -> tuple[FormField, ...]:
    """Every field, from the schema and the registries as they are now (a loss registered at
    run time gets its parameter rows)."""
    out: list[FormField] = []
    for key in form_keys():
        out.append(_field(key))
        if key == LOSS_PARAMS_AT:
            out += _loss_param_fields()
    return tuple(out)


def fmt_value(value: Any) -> str:
    """A config value as the text a field shows (floats keep full precision)."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):  # params / terms: one line of YAML flow style
        if not value:
            return ""
        return yaml.safe_dump(
            value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=1 << 30
        ).strip()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def read_key(cfg: Config, key: str) -> Any:
    """A field's value in a config; a loss parameter the config's loss lacks is its default."""
    if key.startswith("loss.params."):
        name = key.removeprefix("loss.params.")
        if any(p.name == name for p in own_params(cfg.loss.name)):
            return cfg.loss.params.get(name, field_info(key).default)
        return field_info(key).default
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj
