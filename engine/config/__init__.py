"""Typed, validated run configuration: the one import for the schema, its checks and its fields.

The names here are a public contract: presets, ``--set section.key=value`` overrides and the
``config`` field of JSON events all use them. This package of modules never imports torch, so
a dashboard can load and validate a preset and paint before torch (2-3 s to import) is loaded.

It is five modules, re-exported here so ``from engine.config import ...`` is all a caller
needs:

- :mod:`engine.config.schema`: the sections and fields, each with its doc and declarative
  checks, and :class:`ConfigError` (one line for the CLI, plus ``key``/``reason``/``where``/
  ``line`` for a form);
- :mod:`engine.config.value_checks`: one value against its field (type, choices, range);
- :mod:`engine.config.checks`: checking a preset (types, ranges, combinations) and applying
  ``--set`` overrides;
- :mod:`engine.config.fields`: one field at a time for the dashboard's form
  (:func:`field_info`, :func:`validate_field`) and :func:`key_line`;
- :mod:`engine.config.applies`: whether a setting applies to a config (:func:`applies`, and
  :func:`nest` for a form's flat dotted values): the one rule the form and run comparison use.
"""

from __future__ import annotations

from engine.config.applies import applies, nest
from engine.config.checks import (
    CSV_ONLY_KEYS,
    TERM_KEYS,
    apply_overrides,
    check_term,
    own_params,
    parse_config,
    parse_loss_section,
    parse_override,
)
from engine.config.fields import (
    SPEC_RE,
    YAML_KINDS,
    FieldInfo,
    field_info,
    key_line,
    validate_field,
)
from engine.config.schema import (
    DEVICE_RE,
    LOSS_CHOICES,
    LOSS_NAMES,
    OPTIM_NAMES,
    SECTIONS,
    SPECIAL_LOSSES,
    Config,
    ConfigError,
    DataConfig,
    EarlyStoppingConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    field_default,
    field_docs,
    keyed_error,
    loss_choices,
    public_fields,
)
from engine.config.value_checks import check_value, choices_of, coerce_value

__all__ = [
    "CSV_ONLY_KEYS",
    "DEVICE_RE",
    "LOSS_CHOICES",
    "LOSS_NAMES",
    "OPTIM_NAMES",
    "SECTIONS",
    "SPECIAL_LOSSES",
    "SPEC_RE",
    "TERM_KEYS",
    "YAML_KINDS",
    "Config",
    "ConfigError",
    "DataConfig",
    "EarlyStoppingConfig",
    "FieldInfo",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "applies",
    "apply_overrides",
    "check_term",
    "check_value",
    "choices_of",
    "coerce_value",
    "field_default",
    "field_docs",
    "field_info",
    "key_line",
    "keyed_error",
    "loss_choices",
    "nest",
    "own_params",
    "parse_config",
    "parse_loss_section",
    "parse_override",
    "public_fields",
    "validate_field",
]
