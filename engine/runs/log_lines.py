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
    if isinstance(value, str):
        return _NON_FINITE.get(value, value)
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def _fits(value: Any, hint: Any) -> bool:
    """Whether a value read from JSON has the type ``hint`` names (a float may be an int)."""
    if hint is Any:
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if hint is type(None):
        return value is None
    if isinstance(value, bool) or hint is bool:
        return hint is bool and isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float))
    if hint in (int, str):
        return isinstance(value, hint)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple)) and all(_fits(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            isinstance(k, str) and _fits(v, args[1]) for k, v in value.items()
        )
    return True


_HINTS: dict[str, dict[str, Any]] = {}


def _hints(cls: type[Event]) -> dict[str, Any]:
    """The field types of an event class (resolved once)."""
    if cls.__name__ not in _HINTS:
        _HINTS[cls.__name__] = typing.get_type_hints(cls)
    return _HINTS[cls.__name__]


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
    hints = _hints(cls)
    kwargs = {k: (v if k in _TEXT_FIELDS else _numbers(v)) for k, v in data.items() if k != "type"}
    for key, value in kwargs.items():
        if key not in hints:
            raise ValueError(f"{data['type']} has no field '{key[:40]}'")
        hint = hints[key]
        if key == "data_shape":
            hint = list[int]
        if cls is EpochEnded and key in _THINNED and value is None:
            continue  # a thinned epoch (see thin): its weights are in a later event
        if not _fits(value, hint):
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
