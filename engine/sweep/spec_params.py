"""The searched parameters of a sweep spec: what a ``params:`` entry may be, and checking it.

Each entry of a spec's ``params:`` maps a dotted config key to a range (``{low, high}``, with
``log: true`` or a ``step``) or a list of choices, and becomes one :class:`Param`. The entry is
checked against the config itself, not a copy of its rules: every range end and every choice
is set into the preset mapping (:func:`with_values`) and the config is built with it, so a
value the preset would refuse (an lr of 0, a choice a loss does not accept) is refused here,
with the key named, before any trial runs. :mod:`engine.sweep.spec` checks the rest of the
spec (sampler, metric, pruning, the grid) around these. No torch or Optuna import.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import math
from dataclasses import dataclass
from typing import Any

from engine.config import Config, ConfigError, field_docs, field_info, own_params, parse_config
from engine.config.yaml_io import short_repr
from engine.registry import LOSSES

RANGE_KEYS = ("low", "high", "log", "step")
UNSEARCHABLE_KINDS = ("params", "terms", "list")
"""Config fields that are YAML collections: search their parts (``loss.params.<p>``) instead."""


@dataclass(frozen=True)
class Param:
    """One searched config key: a range (``low``..``high``, optionally ``log`` or ``step``) or
    a list of ``choices``. ``kind`` is float, int or choice."""

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def grid_size(self) -> int:
        """How many values :meth:`grid_values` has (counted, not enumerated)."""
        if self.choices:
            return len(self.choices)
        assert self.low is not None and self.high is not None and self.step is not None
        return math.floor((self.high - self.low) / self.step + 1e-9) + 1

    def grid_values(self) -> list[Any]:
        """Every value of a list or a stepped range (the grid sampler's axis)."""
        if self.choices:
            return list(self.choices)
        assert self.low is not None and self.step is not None
        if self.kind == "int":
            return [int(self.low + i * self.step) for i in range(self.grid_size())]
        return [round(self.low + i * self.step, 12) for i in range(self.grid_size())]


def with_values(raw: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of the preset mapping ``raw`` with dotted ``values`` set (``optim.lr``,
    ``seed``, ``loss.params.under``)."""
    out = copy.deepcopy(raw)
    for key, value in values.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return out


def searchable_keys() -> list[str]:
    """Every config key a sweep may search (for "did you mean")."""
    keys = [k for k, _, _ in field_docs() if k not in ("name", "description")]
    keys += sorted(
        {f"loss.params.{p.name}" for spec in LOSSES.values() for p in own_params(spec.name)}
    )
    return keys


def unknown(key: str, valid: tuple[str, ...] | list[str], where: str, what: str) -> ConfigError:
    """An unknown name's refusal (``what``: "sampler", "range key"), with the closest valid one."""
    close = difflib.get_close_matches(str(key), list(valid), n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else f"; valid: {', '.join(valid)}"
    return ConfigError(
        f"{where}: unknown {what} {short_repr(key)}{hint}", key=str(key), reason="unknown key"
    )


def _number(value: Any, where: str, key: str) -> float:
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(
            f"{where}: {key} must be a finite number, got {short_repr(value)}",
            key=key,
            reason="must be a number",
        )
    return value


class _Checker:
    """Validates values of searched keys by building the base config with each one."""

    def __init__(self, base: dict[str, Any], where: str) -> None:
        self.base, self.where = base, where

    def check(self, key: str, value: Any, what: str) -> Any:
        """``value`` for ``key`` as the config types it; one ConfigError line otherwise."""
        try:
            cfg = parse_config(with_values(self.base, {key: value}), where="sweep")
        except ConfigError as exc:
            reason = str(exc).removeprefix("sweep: ")
            raise ConfigError(
                f"{self.where}: params.{key} {what} {short_repr(value)}: {reason}",
                key=f"sweep.params.{key}",
                reason=exc.reason,
            ) from None
        return _get(cfg, key)


def _get(cfg: Config, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else getattr(node, part)
    return node


def _param(key: Any, value: Any, checker: _Checker, where: str) -> Param:
    if not isinstance(key, str):
        raise ConfigError(
            f"{where}: params keys must be config keys like optim.lr, got {short_repr(key)}"
        )
    try:
        info = field_info(key)
    except ConfigError:
        raise unknown(key, searchable_keys(), where, "config key in params") from None
    if key in ("name", "description") or info.kind in UNSEARCHABLE_KINDS:
        raise ConfigError(
            f"{where}: params.{key} cannot be searched (search a number or a "
            "choice, e.g. loss.params.<name> for a loss parameter)",
            key=key,
        )
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"{where}: params.{key} is an empty list (give the choices)", key=key)
        choices = tuple(checker.check(key, v, "choice") for v in value)
        if len(set(map(repr, choices))) != len(choices):
            raise ConfigError(
                f"{where}: params.{key} lists a choice twice: {short_repr(value)}", key=key
            )
        return Param(key, "choice", choices=choices)
    if not isinstance(value, dict):
        raise ConfigError(
            f"{where}: params.{key} must be a list of choices or a range "
            f"{{low, high, log}} / {{low, high, step}}, got {short_repr(value)}",
            key=key,
        )
    if info.kind not in ("float", "int"):
        shown = f" of {', '.join(info.choices)}" if info.choices else ""
        raise ConfigError(
            f"{where}: params.{key} is a choice{shown}: give a list, e.g. "
            f"{key}: [a, b] (a range needs a number key)",
            key=key,
        )
    for k in value:
        if k not in RANGE_KEYS:
            raise unknown(k, RANGE_KEYS, f"{where}: params.{key}", "range key")
    for k in ("low", "high"):
        if k not in value:
            raise ConfigError(
                f"{where}: params.{key} needs {k} (a range is "
                "{low, high} with optional log: true or step)",
                key=key,
            )
    low, high = (_number(value[k], where, f"params.{key}.{k}") for k in ("low", "high"))
    log = value.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(
            f"{where}: params.{key}.log must be true or false, got {short_repr(log)}", key=key
        )
    step = (
        None if value.get("step") is None else _number(value["step"], where, f"params.{key}.step")
    )
    if not low < high:
        raise ConfigError(
            f"{where}: params.{key} needs low < high, got low {low:g}, high {high:g}",
            key=key,
            reason="low must be < high",
        )
    if log and step is not None:
        raise ConfigError(
            f"{where}: params.{key}: log and step cannot be combined (Optuna "
            "samples a log range continuously)",
            key=key,
        )
    if log and low <= 0:
        raise ConfigError(
            f"{where}: params.{key}: a log range needs low > 0, got {low:g}",
            key=key,
            reason="log range needs low > 0",
        )
    if step is not None and step <= 0:
        raise ConfigError(f"{where}: params.{key}.step must be > 0, got {step:g}", key=key)
    if info.kind == "int" and not all(float(v).is_integer() for v in (low, high, step or 1)):
        raise ConfigError(
            f"{where}: params.{key} is a whole number: low, high and step must be whole numbers",
            key=key,
        )
    low, high = checker.check(key, low, "low"), checker.check(key, high, "high")
    if info.kind == "int":
        return Param(key, "int", int(low), int(high), log, int(step) if step else None)
    return Param(key, "float", float(low), float(high), log, step)


def parse_params(raw: dict[Any, Any], base: dict[str, Any], where: str) -> tuple[Param, ...]:
    """The spec's ``params:`` mapping, one :class:`Param` per key, each value checked by
    building the preset mapping ``base`` with it."""
    checker = _Checker(base, where)
    return tuple(_param(k, v, checker, where) for k, v in raw.items())


__all__ = ["Param", "parse_params", "searchable_keys", "unknown", "with_values"]
