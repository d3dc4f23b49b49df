"""Checking values against their fields: type coercion, choices, pattern and bounds.

A preset's sections (:mod:`engine.config.checks`), one form field at a time
(:mod:`engine.config.fields`) and a loss term's parameters all check a single value the same
way, so the rule and its one-line refusal live here once: :func:`coerce_value` reads a value as
its annotation's type (``1e-3`` as text is a number; an int is a float where a float is
wanted), :func:`check_value` holds it to the field's declared choices, pattern and range,
:func:`unknown_key` words the "unknown key, did you mean ..." refusal, and
:func:`build_section` checks a section's mapping with them. Each refusal is a
:class:`~engine.config.schema.ConfigError` with the dotted key and a short reason; a message
quotes at most ~80 characters of a user's value (:func:`engine.config.yaml_io.short_repr`).

Import it as :mod:`engine.config` (which re-exports everything public). No torch import.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from engine.config.schema import ConfigError, keyed_error, public_fields
from engine.config.yaml_io import one_line, short_repr
from engine.registry import ParamSpec


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """A dataclass's resolved field types, once per class: ``typing.get_type_hints`` evaluates
    every annotation string each call (~23 ms a config, which a sweep pays per trial)."""
    return typing.get_type_hints(cls)


def unknown_key(key: str, valid: list[str], where: str, prefix: str) -> ConfigError:
    """An unknown key's refusal, naming the closest valid key (or listing them all)."""
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5) if len(key) <= 100 else []
    key = one_line(key)
    hint = (
        f" (did you mean '{prefix}{close[0]}'?)" if close else f"; valid keys: {', '.join(valid)}"
    )
    reason = "unknown key" + (f" (did you mean '{prefix}{close[0]}'?)" if close else "")
    return keyed_error(where, prefix + key, reason, f"unknown key '{prefix}{key}'{hint}")


_TYPE_NAMES = {
    float: ("a number", "must be a number"),
    int: ("an integer", "must be a whole number"),
    bool: ("true or false", "must be true or false"),
    str: ("a string", "must be a string"),
    dict: ("a mapping", "must be a mapping"),
}
"""How a type reads in a CLI message, and the short reason shown at a form field."""


NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
"""A plain number. YAML 1.1 (PyYAML) reads ``1e-3`` (no dot) as a string; we accept it."""


def int_or_float(text: str) -> int | float:
    """A number's text as an int when it is a whole number that fits, else a float."""
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2**63 else value


def coerce_value(value: Any, tp: Any, key: str, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (ints are accepted as floats)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce_value(value, inner[0], key, where)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise keyed_error(
                where, key, "must be a list", f"{key} must be a list, got {short_repr(value)}"
            )
        return [coerce_value(v, item_tp, f"{key}[{i}]", where) for i, v in enumerate(value)]
    if origin is dict:  # dict[str, Any]: a mapping of anything, checked by its own rules
        tp = dict
    name, reason = _TYPE_NAMES.get(tp, (str(tp).replace("typing.", ""), "has the wrong type"))
    bad = keyed_error(where, key, reason, f"{key} must be {name}, got {short_repr(value)}")
    if tp in (int, float) and isinstance(value, str) and NUMBER_RE.match(value.strip()):
        value = float(value) if tp is float else int_or_float(value)
    if tp is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) != (tp is bool):
        raise bad
    if tp is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, tp):
        raise bad
    if tp is float and not math.isfinite(value):
        raise keyed_error(
            where,
            key,
            "must be a finite number",
            f"{key} must be a finite number, got {short_repr(value)}",
        )
    return dict(value) if tp is dict else value


_LIMITS: tuple[tuple[str, str, Callable[[Any, Any], bool]], ...] = (
    ("min", ">=", lambda v, b: v >= b),
    ("max", "<=", lambda v, b: v <= b),
    ("gt", ">", lambda v, b: v > b),
    ("lt", "<", lambda v, b: v < b),
)


def choices_of(meta: Mapping[str, Any]) -> tuple[str, ...]:
    """A field's choices (a registry-backed field holds a function returning them)."""
    choices = meta.get("choices", ())
    return tuple(choices() if callable(choices) else choices)


def check_value(value: Any, meta: Mapping[str, Any], key: str, where: str) -> None:
    """Check a coerced value against a field's choices, pattern and bounds."""
    if value is None:
        return
    choices = choices_of(meta)
    if choices and value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise keyed_error(
            where,
            key,
            f"must be one of {', '.join(choices)}",
            f"{key} must be one of {', '.join(choices)}; got {short_repr(value)}{hint}",
        )
    if "pattern" in meta and not meta["pattern"].match(value):
        reason = "must be auto, cpu, cuda, cuda:N or mps"
        raise keyed_error(where, key, reason, f"{key} {reason}; got {short_repr(value)}")
    for name, sym, ok in _LIMITS:
        if name in meta and not ok(value, meta[name]):
            lo = next(
                (f"{'[' if n == 'min' else '('}{meta[n]}" for n in ("min", "gt") if n in meta),
                "(-inf",
            )
            hi = next(
                (f"{meta[n]}{']' if n == 'max' else ')'}" for n in ("max", "lt") if n in meta),
                "inf)",
            )
            raise keyed_error(
                where,
                key,
                f"must be {sym} {meta[name]:g}",
                f"{key} must be {sym} {meta[name]} (range {lo}, {hi}); got {short_repr(value)}",
            )


def _field_meta(cls: type, name: str) -> dict[str, Any]:
    """A dataclass field's declared checks (choices, pattern, bounds) as a plain dict."""
    return dict(next(f.metadata for f in public_fields(cls) if f.name == name))


def field_value(cls: type, name: str, value: Any, key: str, where: str) -> Any:
    """Coerce and range-check one field of ``cls``; ``key`` is its dotted name for messages."""
    value = coerce_value(value, _type_hints(cls)[name], key, where)
    check_value(value, _field_meta(cls, name), key, where)
    return value


def param_value(param: ParamSpec, value: Any, key: str, where: str) -> float:
    """A loss parameter from the registry: a finite number within its bounds."""
    number = float(coerce_value(value, float, key, where))
    check_value(number, param.bounds, key, where)
    return number


def build_section(cls: type, raw: Any, where: str, prefix: str) -> Any:
    """A section dataclass ``cls`` from its mapping ``raw``: every key known, every value
    checked; ``prefix`` (``optim.``) makes the dotted keys of messages."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        key = prefix.rstrip(".")
        raise keyed_error(
            where, key, "must be a mapping", f"{key} must be a mapping, got {short_repr(raw)}"
        )
    names = [f.name for f in public_fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        if key not in names:
            raise unknown_key(str(key), names, where, prefix)
        kwargs[key] = field_value(cls, key, value, prefix + key, where)
    return cls(**kwargs)
