"""A line of ``events.jsonl`` and the event it holds: the checks every reader of the log relies
on, kept apart from :class:`engine.runs.log.RunLog` (which reads and writes the file) so that
module stays small. :func:`decode` is the cheap check a reader of numbers needs (a summary's
rebuild reads a million lines), :func:`event_from_dict` checks every field, :func:`follows`
says whether an epoch follows on from the one before it. Torch-free.
"""

from __future__ import annotations

import json
import math
import types
import typing
from collections.abc import Callable
from typing import Any, NamedTuple

from engine.core.events import (
    CrossValidated,
    EpochEnded,
    Event,
    FoldFinished,
    RunFinished,
    RunStarted,
    SystemSampled,
)

EVENT_CLASSES: dict[str, type[Event]] = {
    c.__name__: c
    for c in (RunStarted, EpochEnded, RunFinished, FoldFinished, CrossValidated, SystemSampled)
}
_TEXT_FIELDS = frozenset(
    {
        "config",
        "message",
        "reason",
        "device",
        "device_name",
        "loss_formula",
        "feature_names",
        "warnings",
    }
)
_THINNED = frozenset({"weights", "weights_original"})
"""EpochEnded fields :func:`engine.runs.log.thin` writes as null past ``FULL_WEIGHT_EPOCHS``."""
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _numbers(value: Any) -> Any:
    """Undo ``to_dict``'s strings for non-finite floats (in number fields only)."""
    kind = type(value)
    if kind is str:
        return _NON_FINITE.get(value, value)
    if kind is list:
        if all(type(v) in _PLAIN for v in value):
            return value  # a list of numbers (weights): nothing to undo, nothing to copy
        return [_numbers(v) for v in value]
    if kind is dict:
        return {k: _numbers(v) for k, v in value.items()}
    return value


_PLAIN = (int, float)
_Check = Callable[[Any], bool]


def _check(hint: Any) -> _Check:
    """A function telling whether a value read from JSON has the type ``hint`` names (a float
    may be an int, a bool is never a number), built once per field: a dashboard following a
    fast run decodes thousands of events a second."""
    if hint is Any:
        return lambda v: True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        alternatives = tuple(_check(a) for a in args)
        return lambda v: any(c(v) for c in alternatives)
    if origin is typing.Literal:
        return lambda v: v in args
    if hint is type(None):
        return lambda v: v is None
    if hint is float:
        return lambda v: type(v) in _PLAIN
    if hint in (bool, int, str):
        return lambda v: type(v) is hint
    if origin in (list, tuple):
        if args[0] is float:  # weights: the common case, checked without a call per item
            return lambda v: type(v) in (list, tuple) and all(type(x) in _PLAIN for x in v)
        item = _check(args[0])
        return lambda v: type(v) in (list, tuple) and all(item(x) for x in v)
    if origin is dict:
        value = _check(args[1])
        return lambda v: type(v) is dict and all(type(k) is str and value(x) for k, x in v.items())
    return lambda v: True


_CHECKS: dict[type[Event], dict[str, tuple[Any, _Check]]] = {}


def _checks(cls: type[Event]) -> dict[str, tuple[Any, _Check]]:
    """Per field of an event class: its type and the check of a value for it (built once)."""
    if cls not in _CHECKS:
        hints = typing.get_type_hints(cls)
        hints["data_shape"] = list[int]  # a tuple, written as a JSON list
        _CHECKS[cls] = {
            k: (h, _check(h)) for k, h in hints.items() if k in cls.__dataclass_fields__
        }
    return _CHECKS[cls]


def _event_class(data: Any) -> type[Event]:
    """The event class a line's JSON names; ``ValueError`` for anything else."""
    if not isinstance(data, dict) or data.get("type") not in EVENT_CLASSES:
        kind = data.get("type") if isinstance(data, dict) else None
        raise ValueError(
            f"unknown event type {json.dumps(kind)[:30]}"
            if kind is not None
            else "not an event object"
        )
    return EVENT_CLASSES[data["type"]]


def event_from_dict(data: dict[str, Any]) -> Event:
    """The event a JSON line holds: ``event_from_dict(e.to_dict())`` equals ``e``. A line that
    is not one (unknown type, missing or unknown field, a value of the wrong type such as
    ``"train_loss": "abc"``) raises ``ValueError`` naming the field."""
    cls = _event_class(data)
    checks = _checks(cls)
    kwargs = {k: (v if k in _TEXT_FIELDS else _numbers(v)) for k, v in data.items() if k != "type"}
    for key, value in kwargs.items():
        if key not in checks:
            raise ValueError(f"{data['type']} has no field '{key[:40]}'")
        hint, fits = checks[key]
        if cls is EpochEnded and key in _THINNED and value is None:
            continue  # a thinned epoch (see thin): its weights are in a later event
        if not fits(value):
            raise ValueError(
                f"{data['type']}.{key} is {str(json.dumps(value))[:30]}, "
                f"not {str(hint).replace('typing.', '')[:40]}"
            )
    if "data_shape" in kwargs:
        kwargs["data_shape"] = tuple(kwargs["data_shape"])
    return cls(**kwargs)


class LogLine(NamedTuple):
    """One whole line of the log: where it starts and ends (byte offsets), as written, and its
    JSON object."""

    start: int
    end: int
    raw: bytes
    data: dict[str, Any]


def decode(line: bytes) -> dict[str, Any]:
    """A line's JSON object, checked as far as a reader of its numbers relies on: an object of
    a known event type, an ``EpochEnded`` with an integer ``epoch``. Anything else raises
    ``ValueError`` saying what (:func:`event_from_dict` checks every field)."""
    data: dict[str, Any] = json.loads(line)
    _event_class(data)  # an object of a known event type
    if data["type"] == "EpochEnded":
        epoch = data.get("epoch")
        if not isinstance(epoch, int) or isinstance(epoch, bool):
            raise ValueError(f"EpochEnded.epoch is {str(json.dumps(epoch))[:30]}, not int")
    return data


def follows(data: dict[str, Any], before: int | None) -> int | None:
    """The epoch the log is at after line ``data`` (``before``: at the line before it; None:
    unknown, or a ``RunStarted`` began a history). An epoch that does not follow on from the one
    before it is damage: losses are logged for every epoch (only weights are thinned) and a
    resume keeps the epochs it goes on from, so a gap is a line lost from the middle."""
    kind = data["type"]
    if kind == "RunStarted":
        return None
    if kind != "EpochEnded":
        return before
    epoch: int = data["epoch"]
    if before is not None and epoch != before + 1:
        raise ValueError(f"epoch {epoch} follows epoch {before}")
    return epoch
