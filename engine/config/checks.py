"""Checking a preset against the schema: types, ranges, combinations, and ``--set`` overrides.

One value against its field (type, choices, range) is :mod:`engine.config.value_checks`; this
module checks a whole preset with it: its sections, the combinations of keys no single field
can judge (splits, early stopping, a loss and its task, combined-loss terms), and overrides.

Every refusal is a :class:`~engine.config.schema.ConfigError` whose text is one line for the CLI
(``where: key must be > 0 (range (0, inf)); got -1``) and which also carries the dotted key and
a short reason, so a form can show it at the right field. A message quotes at most ~80
characters of a user's value (:func:`engine.config.yaml_io.short_repr`): a value may be huge.
``--set`` values are parsed by the bounded loader of :mod:`engine.config.yaml_io`.

Import it as :mod:`engine.config` (which re-exports everything public). No torch import.
"""

from __future__ import annotations

from typing import Any

from engine.config.schema import (
    SECTIONS,
    Config,
    ConfigError,
    LossConfig,
    keyed_error,
    public_fields,
)
from engine.config.value_checks import (
    build_section,
    check_value,
    coerce_value,
    field_value,
    param_value,
    unknown_key,
)
from engine.config.yaml_io import is_syntax_error, load_yaml, one_line, short_repr
from engine.registry import LOSS_FIELD_PARAMS, LOSSES, ParamSpec, loss_names, task_of


def parse_loss_section(raw: Any, where: str = "loss") -> LossConfig:
    """Validate the ``loss`` section alone (the dashboard's formula line needs no other field)."""
    if isinstance(raw, dict) and raw.get("terms") is not None and "name" not in raw:
        raw = {**raw, "name": "combined"}
    section: LossConfig = build_section(LossConfig, raw, where, "loss.")
    return section


SECTION_OWNED_ELSEWHERE = ("sweep",)
"""Top-level preset sections that other commands read and check (``sweep``: the search space of
``linreg-tui sweep``, see :mod:`engine.sweep.spec`); a run's config ignores them."""


def parse_config(raw: Any, *, where: str = "config", base_dir: str | None = None) -> Config:
    """Validate a preset mapping into a :class:`Config`.

    Rejects unknown keys (suggesting the closest valid one), wrong types, out-of-range values and
    inconsistent combinations, each with one message naming ``where`` and the key.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where}: a preset must be a mapping of keys, got {type(raw).__name__}",
            reason="must be a mapping of keys",
            where=where,
        )
    top = [f.name for f in public_fields(Config)]
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key in SECTION_OWNED_ELSEWHERE:
            continue
        if key not in top:
            raise unknown_key(str(key), top, where, "")
        if key == "loss":
            kwargs[key] = parse_loss_section(value, where)
        elif key in SECTIONS:
            kwargs[key] = build_section(SECTIONS[key], value, where, key + ".")
        else:
            kwargs[key] = field_value(Config, key, value, key, where)
    cfg = Config(**kwargs, base_dir=base_dir)
    _cross_checks(cfg, where)
    return cfg


def _cross_checks(cfg: Config, where: str) -> None:
    d, es = cfg.data, cfg.early_stopping
    if d.val_fraction + d.test_fraction >= 1:
        raise keyed_error(
            where,
            "data.val_fraction",
            "val_fraction + test_fraction must be < 1",
            "data.val_fraction + data.test_fraction must be < 1 (rows are needed to "
            f"train); got {d.val_fraction} + {d.test_fraction}",
        )
    if es.enabled and es.monitor in ("val_loss", "val_accuracy") and d.val_fraction == 0:
        raise keyed_error(
            where,
            "early_stopping.monitor",
            f"{es.monitor} needs data.val_fraction > 0",
            f"early_stopping.monitor is {es.monitor} but data.val_fraction is 0: "
            "set data.val_fraction > 0 or early_stopping.monitor: train_loss",
        )
    if d.source == "csv":
        if not d.path:
            raise keyed_error(
                where,
                "data.path",
                "required when data.source is csv",
                "data.path is required when data.source is csv",
            )
        if not d.target:
            raise keyed_error(
                where,
                "data.target",
                "required when data.source is csv",
                "data.target (the column to predict) is required when data.source is csv",
            )
    else:  # a csv key with synthetic data would be silently ignored: say so instead
        for name in CSV_ONLY_KEYS:
            if getattr(d, name) is not None:
                raise keyed_error(
                    where,
                    f"data.{name}",
                    "applies only to data.source csv",
                    f"data.{name} applies only to data.source csv (data.source "
                    f"is {d.source}): remove it or set data.source: csv",
                )
    _loss_checks(cfg.loss, where)
    _task_checks(cfg, where)


CSV_ONLY_KEYS = ("path", "target", "features")
"""``data`` keys that only a CSV source reads."""


def _loss_checks(loss: LossConfig, where: str) -> None:
    if loss.params and loss.name != "custom":
        _check_own_params(loss, where)
    if loss.name == "custom" and not loss.callable:
        raise keyed_error(
            where,
            "loss.callable",
            "required",
            "loss.callable is required when loss.name is custom (e.g. 'my_losses.py:MyLoss')",
        )
    if loss.name == "combined":
        if not loss.terms:
            raise keyed_error(
                where,
                "loss.terms",
                "required for a combined loss",
                "loss.terms (a list of {name, weight, params}) is required when "
                "loss.name is combined",
            )
        for i, term in enumerate(loss.terms):
            check_term(term, f"loss.terms[{i}]", where)
    elif loss.terms is not None:
        raise keyed_error(
            where,
            "loss.terms",
            "needs loss.name: combined",
            f"loss.terms is set but loss.name is {short_repr(loss.name)}: use "
            "loss.name: combined (or leave name out)",
        )


def _task_checks(cfg: Config, where: str) -> None:
    """The loss must be one for ``model.task`` (custom losses fit any); a classification task
    has no target scaling or target outliers, and val_accuracy needs one."""
    task, loss = cfg.model.task, cfg.loss
    named = [loss.name] if loss.name != "combined" else [t.get("name") for t in loss.terms or []]
    for name in named:
        wanted = task_of(str(name))
        if wanted is not None and wanted != task:
            fix = (
                f"set model.task: {wanted}"
                if wanted != "regression"
                else "use log_loss, hinge or squared_hinge (binary) or cross_entropy (multiclass)"
            )
            raise keyed_error(
                where,
                "loss.name",
                f"is a {wanted} loss; model.task is {task}",
                f"loss.name {name} is a {wanted} loss but model.task is {task}: {fix}",
            )
    if task == "regression":
        if cfg.early_stopping.monitor == "val_accuracy":
            raise keyed_error(
                where,
                "early_stopping.monitor",
                "val_accuracy needs a classification task",
                "early_stopping.monitor val_accuracy needs model.task binary or "
                "multiclass (model.task is regression)",
            )
        return
    d = cfg.data
    for key, bad in (
        ("standardize_target", d.standardize_target),
        ("outliers", d.outliers != "none"),
    ):
        if bad:
            raise keyed_error(
                where,
                f"data.{key}",
                "applies only to regression",
                f"data.{key} applies only to regression (model.task is {task}): "
                "a class label is not scaled or clipped",
            )


def own_params(loss_name: str) -> tuple[ParamSpec, ...]:
    """A registered loss's parameters set under ``loss.params`` (those not ``LossConfig`` keys)."""
    spec = LOSSES.get(loss_name)
    return tuple(p for p in spec.params if p.name not in LOSS_FIELD_PARAMS) if spec else ()


def _check_own_params(loss: LossConfig, where: str) -> None:
    """``loss.params`` of a registered loss: only its own parameters, each in range."""
    own = {p.name: p for p in own_params(loss.name)}
    if not own:
        raise keyed_error(
            where,
            "loss.params",
            "applies only to custom losses",
            "loss.params applies only to custom losses (loss.name is "
            f"{short_repr(loss.name)}); use "
            f"{' / '.join(f'loss.{n}' for n in LOSS_FIELD_PARAMS)}, or "
            "params inside loss.terms",
        )
    for k, v in loss.params.items():
        if k not in own:
            raise unknown_key(str(k), list(own), where, "loss.params.")
        loss.params[k] = param_value(own[k], v, f"loss.params.{k}", where)


TERM_KEYS = ("name", "weight", "params")


def check_term(term: Any, key: str, where: str) -> None:
    """One ``loss.terms`` entry: a mapping {name, weight, params} of a known loss, in range."""
    if not isinstance(term, dict):
        raise keyed_error(
            where,
            key,
            "must be a mapping {name, weight, params}",
            f"{key} must be a mapping {{name, weight, params}}, got {short_repr(term)}",
        )
    for k in term:
        if k not in TERM_KEYS:
            raise unknown_key(str(k), list(TERM_KEYS), where, key + ".")
    name, names = term.get("name"), loss_names() + ("custom",)
    if name not in names:
        raise keyed_error(
            where,
            key + ".name",
            f"must be one of {', '.join(names)}",
            f"{key}.name must be one of {', '.join(names)}; got {short_repr(name)}",
        )
    weight = coerce_value(term.get("weight", 1.0), float, key + ".weight", where)
    check_value(weight, {"min": 0.0}, key + ".weight", where)
    params = coerce_value(term.get("params") or {}, dict, key + ".params", where)
    if name == "custom":
        if "callable" not in params:
            raise keyed_error(
                where,
                key + ".params.callable",
                "required for a custom term",
                f"{key}.params.callable is required for a custom term",
            )
        return
    spec = LOSSES[name]  # a built-in term's params: only its own, in range (no silent typos)
    for k, v in params.items():
        param = spec.param(str(k))
        if not spec.params:
            raise keyed_error(
                where,
                key + ".params",
                f"{name} takes no parameters",
                f"{key}.params: {name} takes no parameters; got {short_repr(k)}",
            )
        if param is None:
            valid = [n for p in spec.params for n in (p.name, *p.aliases)]
            raise unknown_key(str(k), valid, where, key + ".params.")
        param_value(param, v, f"{key}.params.{k}", where)


# ---------------------------------------------------------------------------------------------
# Overrides


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``section.key=value``; the value is parsed as YAML (``null``, ``1e-3``, ``[a, b]``)."""
    key, sep, raw_value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise keyed_error(
            f"--set {one_line(text)}",
            one_line(key),
            "expected section.key=value",
            "expected section.key=value",
        )
    try:
        value = (
            load_yaml(raw_value, f"--set {one_line(key)}", lines=False)
            if raw_value.strip()
            else None
        )
    except ConfigError as exc:  # plain bad syntax is text; aliases, nesting, duplicates are not
        if not is_syntax_error(exc):
            raise
        value = raw_value
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of the raw preset mapping with ``--set`` overrides applied.

    Unknown keys are caught here with the override named in the message.
    """
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for text in overrides:
        path, value = parse_override(text)
        where = f"--set {one_line(text)}"
        if len(path) == 1:
            if path[0] in SECTIONS:
                first = public_fields(SECTIONS[path[0]])[0].name
                raise keyed_error(
                    where,
                    path[0],
                    "is a section; set one of its keys",
                    f"{path[0]} is a section; set one of its keys, e.g. {path[0]}.{first}=...",
                )
            if path[0] not in {f.name for f in public_fields(Config)}:
                raise unknown_key(path[0], [f.name for f in public_fields(Config)], where, "")
            out[path[0]] = field_value(Config, path[0], value, path[0], where)
        elif len(path) == 2 or (len(path) == 3 and path[:2] == ["loss", "params"]):
            section, key = path[0], path[1]
            if section not in SECTIONS:
                raise unknown_key(section, list(SECTIONS), where, "")
            names = [f.name for f in public_fields(SECTIONS[section])]
            if key not in names:
                raise unknown_key(key, names, where, section + ".")
            if len(path) == 2 and key not in ("terms", "params"):
                value = field_value(SECTIONS[section], key, value, f"{section}.{key}", where)
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
            raise keyed_error(
                where,
                ".".join(path),
                "expected section.key (two levels)",
                "expected section.key=value (two levels, e.g. optim.lr)",
            )
    return out
