"""Whether a setting applies to a config: the one rule the form, compare and the runs table use.

A setting that does not apply is one the run never reads: ``optim.momentum`` for adam,
``early_stopping.patience`` with early stopping off, ``loss.delta`` for mse, ``data.path`` for
synthetic data. The dashboard's form hides such a field (and a bad value there cannot block a
start); comparing runs never counts it as a difference, so the runs table's labels stay short.
Deciding it in one place keeps the three from drifting apart.

What applies comes from the registries where it is about a loss or an optimizer (each entry's
form keys: its parameters' keys, its ``optim.*`` hyperparameters), and from the data section's
own switches (``source``, ``outliers``) otherwise. A key missing from the config takes its
schema default, so a partial preset is judged as it will run. No torch import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.config.checks import CSV_ONLY_KEYS
from engine.config.schema import SECTIONS, field_default, public_fields
from engine.optimizer_registry import OPTIMIZERS
from engine.registry import LOSS_FIELD_PARAMS, LOSSES

SYNTHETIC_ONLY_KEYS = ("n_samples", "n_features", "noise", "outlier_fraction")
"""``data`` keys that only a synthetic source reads."""
OUTLIER_KEYS = {"clip_quantile": "clip", "outlier_threshold": "drop"}
"""``data`` keys read only under one ``data.outliers`` mode."""
CUSTOM_ONLY_KEYS = ("callable", "params")
"""``loss`` keys of a single custom loss (a registered loss's own ``loss.params.<p>`` aside)."""


def _value(config: Mapping[str, Any], section: str, name: str) -> Any:
    """``config[section][name]``, else the schema default (None for an unknown key)."""
    sect = config.get(section)
    if isinstance(sect, Mapping) and name in sect:
        return sect[name]
    f = next((f for f in public_fields(SECTIONS[section]) if f.name == name), None)
    return field_default(f) if f is not None else None


def _loss_name(config: Mapping[str, Any]) -> str:
    """The loss a config trains (``terms`` without a name means combined, as the config says)."""
    sect = config.get("loss")
    if isinstance(sect, Mapping) and "name" not in sect and sect.get("terms") is not None:
        return "combined"
    return str(_value(config, "loss", "name"))


def _terms(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    terms = _value(config, "loss", "terms")
    return [t for t in terms if isinstance(t, Mapping)] if isinstance(terms, list) else []


def _loss_param_applies(key: str, config: Mapping[str, Any]) -> bool:
    """A registered loss's parameter key (``loss.delta``, ``loss.params.scale``): the single
    loss has it; or, for a ``LossConfig`` field, a combined term of a loss that has it leaves
    it unset in its own params (the term then reads ``loss.delta``)."""
    loss = _loss_name(config)
    if loss in LOSSES:
        return key in LOSSES[loss].form_keys()
    if loss != "combined" or key.removeprefix("loss.") not in LOSS_FIELD_PARAMS:
        return False
    name = key.removeprefix("loss.")
    for term in _terms(config):
        spec = LOSSES.get(str(term.get("name")))
        given = term.get("params")
        params: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        param = spec.param(name) if spec is not None else None
        if param is not None and not any(n in params for n in (param.name, *param.aliases)):
            return True
    return False


def _loss_applies(name: str, key: str, config: Mapping[str, Any]) -> bool:
    loss = _loss_name(config)
    if key in _loss_param_keys():
        return _loss_param_applies(key, config)
    if name == "terms":
        return loss == "combined"
    if name in CUSTOM_ONLY_KEYS or key.startswith("loss.params."):
        return loss == "custom"
    if name == "force":  # the pre-flight check of user code: a custom loss or a custom term
        return loss == "custom" or (
            loss == "combined" and any(t.get("name") == "custom" for t in _terms(config))
        )
    return True


def _loss_param_keys() -> set[str]:
    """Every registered loss's parameter keys."""
    return {key for spec in LOSSES.values() for key in spec.form_keys()}


def _data_applies(name: str, config: Mapping[str, Any]) -> bool:
    csv: bool = _value(config, "data", "source") == "csv"
    if name in CSV_ONLY_KEYS:
        return csv
    if name in SYNTHETIC_ONLY_KEYS:
        return not csv
    if name in OUTLIER_KEYS:
        return bool(_value(config, "data", "outliers") == OUTLIER_KEYS[name])
    return True


def applies(key: str, config: Mapping[str, Any]) -> bool:
    """Whether the dotted ``key`` (``optim.momentum``, ``loss.params.scale``) matters for the
    nested ``config`` mapping (a preset's, a run's stored ``config.yaml``, or the form's values
    through :func:`nest`). Keys no rule covers (``optim.lr``, ``seed``) always apply."""
    section, _, name = key.partition(".")
    if not name or section not in SECTIONS:
        return True
    if section == "loss":
        return _loss_applies(name, key, config)
    if section == "optim":
        if any(key in o.form_keys() for o in OPTIMIZERS.values()):
            spec = OPTIMIZERS.get(str(_value(config, "optim", "name")))
            return spec is not None and key in spec.form_keys()
        return True
    if section == "early_stopping":
        return name == "enabled" or bool(_value(config, "early_stopping", "enabled"))
    if section == "data":
        return _data_applies(name, config)
    return True


def nest(values: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Flat dotted values (the form's ``{"optim.name": "sgd", ...}``) as a nested config
    mapping, for :func:`applies`. A deeper key (``loss.params.scale``) goes inside its parent's
    mapping (a copy; a parent that is not a mapping is replaced)."""
    out: dict[str, Any] = {}
    items = values.items() if isinstance(values, Mapping) else values
    for key, value in sorted(items, key=lambda kv: kv[0].count(".")):
        *parents, last = key.split(".")
        node = out
        for part in parents:
            child = node.get(part)
            node[part] = node = dict(child) if isinstance(child, Mapping) else {}
        node[last] = value
    return out
