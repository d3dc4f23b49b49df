"""One config field at a time: what a form needs to show a key and check the text typed in it.

:func:`field_info` describes a dotted key (kind, choices, bounds, doc, default) from the schema
and the registries; :func:`validate_field` turns a field's text into a typed value with the
same coercion and range checks a preset gets (:mod:`engine.config.value_checks`), refusing
with a :class:`~engine.config.schema.ConfigError` that carries the key and a short reason.
:func:`key_line` finds a key's line in a preset's text, so a loader can point at it.

Import it as :mod:`engine.config` (which re-exports everything public). No torch import.
"""

from __future__ import annotations

import copy
import functools
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

import yaml

from engine.config.checks import check_term, own_params
from engine.config.schema import (
    DEVICE_RE,
    SECTIONS,
    Config,
    ConfigError,
    field_default,
    public_fields,
)
from engine.config.value_checks import (
    NUMBER_RE,
    check_value,
    choices_of,
    coerce_value,
    int_or_float,
)
from engine.config.yaml_io import LOADER_NAME, SYNTAX_ERROR, is_syntax_error, load_yaml
from engine.registry import LOSSES, loss_names

_KEY_PART = re.compile(r"[^.\[\]]+|\[(\d+)\]")


def key_line(text: str, key: str) -> int | None:
    """The 1-based line of a dotted key (``optim.lr``, ``loss.terms[1].weight``) in a preset's
    YAML text (or of its closest parent there; None if not even the first part is there), for
    a loader to set :attr:`ConfigError.line`."""
    try:  # only text the bounded loader has accepted gets here; compose expands no aliases
        node: Any = yaml.compose(text, Loader=getattr(yaml, LOADER_NAME))
    except (yaml.YAMLError, RecursionError):
        return None
    line = None
    for match in _KEY_PART.finditer(key):
        if isinstance(node, yaml.MappingNode) and match.group(1) is None:
            hit = next(((k, v) for k, v in node.value if k.value == match.group(0)), None)
        elif isinstance(node, yaml.SequenceNode) and match.group(1) is not None:
            i = int(match.group(1))
            hit = (node.value[i], node.value[i]) if i < len(node.value) else None
        else:
            hit = None
        if hit is None:
            return line
        line, node = hit[0].start_mark.line + 1, hit[1]
    return line


@dataclass(frozen=True)
class FieldInfo:
    """What a form needs to show and check one config key.

    ``kind`` is float, int, bool, choice, str, spec (a loss callable ``file.py:obj``), params (a
    YAML flow mapping), terms (a YAML flow list of ``{name, weight, params}``) or list (a YAML
    flow list of strings). ``bounds`` uses the keys gt / min / lt / max; ``optional`` fields
    accept empty text as null.
    """

    key: str
    kind: str
    choices: tuple[str, ...]
    bounds: dict[str, float]
    doc: str
    default: Any
    optional: bool


_IDENT = r"[A-Za-z_]\w*"
SPEC_RE = re.compile(rf"^(?:.+\.py|.*/.*|{_IDENT}(?:\.{_IDENT})*):{_IDENT}(?:\.{_IDENT})*$")
"""A loss callable as the engine loads it: ``path/to/file.py:obj`` or ``package.module:obj``."""
_KINDS = {float: "float", int: "int", bool: "bool", str: "str", dict: "params", list: "list"}
_SPECIAL_KINDS = {"loss.callable": "spec", "loss.terms": "terms"}
YAML_KINDS = {
    "params": "a mapping, e.g. {under: 3, over: 1}",
    "terms": "a list, e.g. [{name: mse, weight: 0.7}, {name: mae, weight: 0.3}]",
    "list": "a list, e.g. [x1, x2]",
}
"""The kinds typed as YAML flow collections, and what each expects."""
_BOUND_KEYS = ("gt", "min", "lt", "max")


def _unknown_field(key: str) -> ConfigError:
    return ConfigError(f"{key}: unknown key", key=key, reason="unknown key")


def field_info(key: str) -> FieldInfo:
    """Kind, choices, bounds, doc and default of a dotted key (``loss.params.<p>`` included)."""
    if key.startswith("loss.params."):
        name = key.removeprefix("loss.params.")
        p = next(
            (p for spec in LOSSES.values() for p in own_params(spec.name) if p.name == name), None
        )
        if p is None:
            raise _unknown_field(key)
        return FieldInfo(key, "float", (), dict(p.bounds), p.doc, p.default, False)
    section, _, name = key.rpartition(".")
    cls = SECTIONS.get(section) if section else Config
    f = next((f for f in public_fields(cls) if f.name == name), None) if cls else None
    if f is None or (cls is Config and name in SECTIONS):
        raise _unknown_field(key)
    tp = typing.get_type_hints(cls)[name]
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else ()
    inner = next((a for a in args if a is not type(None)), tp)
    meta, choices = dict(f.metadata), choices_of(f.metadata)
    kind = _SPECIAL_KINDS.get(key) or (
        "choice" if choices else _KINDS[typing.get_origin(inner) or inner]
    )
    return FieldInfo(
        key,
        kind,
        choices,
        {k: meta[k] for k in _BOUND_KEYS if k in meta},
        meta["doc"],
        field_default(f),
        type(None) in args,
    )


def validate_field(key: str, text: str) -> Any:
    """The typed value of the text typed in the form field for ``key``.

    Empty text is null for an optional field (``{}`` for params); booleans are true/false;
    params, terms and lists are YAML flow collections checked as a preset's would be. Raises
    :class:`ConfigError` with ``key`` and a short ``reason`` (``must be > 0``).
    """
    info = field_info(key)
    checks: dict[str, Any] = {"choices": info.choices, **info.bounds}
    if key == "train.device":
        checks["pattern"] = DEVICE_RE
    try:
        value = _typed(info, text.strip())
        check_value(value, checks, key, "field")
    except ConfigError as exc:
        reason = exc.reason or str(exc)
        raise ConfigError(f"{key}: {reason}", key=key, reason=reason) from None
    return value


def _refuse(reason: str) -> ConfigError:
    return ConfigError(reason, reason=reason)


def _typed(info: FieldInfo, text: str) -> Any:
    """A field's text as a value of its kind (no range check); refusals carry a reason."""
    if info.kind in YAML_KINDS:
        value, reason = _yaml_field(info.key, info.kind, text, loss_names())
        if reason is not None:
            raise _refuse(reason)
        return copy.deepcopy(value)  # the cached value is never handed out to be changed
    if not text:
        if info.optional:
            return None
        raise _refuse("required")
    if info.kind == "spec" and not SPEC_RE.match(text):
        raise _refuse("expected file.py:obj or package.module:obj")
    if info.kind == "bool":
        if text.lower() not in ("true", "false"):
            raise _refuse("must be true or false")
        return text.lower() == "true"
    if info.kind == "int":
        value = int_or_float(text) if NUMBER_RE.match(text) else None
        if not isinstance(value, int):
            raise _refuse("must be a whole number")
        return value
    if info.kind == "float":
        try:
            value = float(text)
        except ValueError:
            raise _refuse("must be a number") from None
        if not math.isfinite(value):
            raise _refuse("must be a finite number")
        return value
    return text


@functools.lru_cache(maxsize=64)
def _yaml_field(key: str, kind: str, text: str, _losses: tuple[str, ...]) -> tuple[Any, str | None]:
    """``(value, None)`` or ``(None, reason)`` for a YAML field; cached (a form re-reads its
    fields at every redraw). ``_losses`` keys the cache on the registered losses."""
    if not text:
        return ({} if kind == "params" else None), None
    try:
        value = load_yaml(text, key, lines=False)
    except ConfigError as exc:  # keep the "not valid YAML: ..." wording a form shows
        reason = exc.reason or "not valid YAML"
        if is_syntax_error(exc):
            reason = reason.replace(SYNTAX_ERROR, "not valid YAML", 1)
        return None, reason
    if kind == "params" and value is None:
        return {}, None
    if not isinstance(value, dict if kind == "params" else list):
        return None, f"expected {YAML_KINDS[kind]}"
    try:
        if kind == "terms":
            for i, term in enumerate(value):
                check_term(term, f"loss.terms[{i}]", "field")
        elif kind == "list":
            coerce_value(value, list[str], key, "field")
    except ConfigError as exc:
        return None, str(exc).removeprefix("field: ")
    return value, None
