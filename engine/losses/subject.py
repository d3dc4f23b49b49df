"""The loss under test, whatever named it: a spec, a built-in name, a preset's loss section or a
callable, turned into one :class:`Subject` the checks of :mod:`engine.losses.probes` call as the
trainer would (``pred``, ``target`` and the model's weights).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from engine.config import Config, LossConfig
from engine.config.yaml_io import short_repr
from engine.losses.user_code import guarded
from engine.losses.user_loss import UserLoss, load_user_loss, wrap_loss
from engine.losses.user_spec import UserLossError
from engine.registry import CLASSIFICATION_LOSSES, LOSSES


@dataclass
class Subject:
    """A loss as the trainer calls it: ``call(pred, target, weights)``.

    Every call is :func:`~engine.losses.user_code.guarded`: a ``sys.exit`` or ``KeyboardInterrupt``
    in the loss becomes an ordinary exception the checks report as the loss's fault.
    """

    fn: Callable[[Tensor, Tensor, Tensor], Any]
    label: str
    formula: str
    takes_weights: bool
    """Whether the loss itself reads the weights (then their gradient must reach them)."""

    def call(self, pred: Tensor, target: Tensor, weights: Tensor) -> Any:
        """The loss's value (or whatever it returns) for one batch."""
        return guarded(self.fn, pred, target, weights)


def _from_user(user: UserLoss, label: str) -> Subject:
    fn = user.fn
    if user.takes_weights:
        return Subject(lambda p, t, w: fn(p, t, w), label, user.formula, True)
    return Subject(lambda p, t, w: fn(p, t), label, user.formula, False)


def _builtin_subject(name: str, params: dict[str, Any]) -> Subject:
    """A registered loss with its parameters checked against the registry's ranges."""
    from engine.losses.functions import builtin

    spec = LOSSES.get(name) or CLASSIFICATION_LOSSES[name]
    accepts = [n for p in spec.params for n in (p.name, *p.aliases)]
    for key, value in params.items():
        if key not in accepts:
            raise UserLossError(
                f"built-in loss {name!r}: unknown parameter {key!r} "
                f"(it accepts: {', '.join(accepts) or 'none'})"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserLossError(
                f"built-in loss {name!r}: parameter {key} must be a number, got {short_repr(value)}"
            )
    values = spec.values(params)
    for p in spec.params:
        if not p.in_range(values[p.name]):
            raise UserLossError(
                f"built-in loss {name!r}: {p.name} must be {p.range_phrase()}, "
                f"got {values[p.name]:g}"
            )
    fn = builtin(name, **values)
    return Subject(lambda p, t, w: fn(p, t), name, spec.render(values), False)


def _config_subject(cfg: LossConfig, base_dir: str | None) -> Subject:
    """The whole objective of a ``loss`` section (penalties included), as it trains."""
    from engine.losses.functions import build_objective

    if cfg.name == "custom":
        user = load_user_loss(cfg.callable or "", dict(cfg.params), base_dir)
        label = cfg.callable or "custom"
        sub = _from_user(user, label)
        if cfg.l1 or cfg.l2:
            objective = build_objective(cfg, base_dir)
            return Subject(objective, label, objective.formula, sub.takes_weights)
        return sub
    objective = build_objective(cfg, base_dir)
    label = cfg.name if cfg.name != "combined" else "combined loss"
    # Only a user term that reads the weights must pass them a gradient; built-in terms don't.
    reads_w = objective.takes_weights and cfg.name != "combined"
    return Subject(objective, label, objective.formula, reads_w)


def subject_of(target: Any, params: dict[str, Any] | None, base_dir: str | None) -> Subject:
    """The loss ``target`` names (a spec, a built-in name, a Config / LossConfig or a
    callable) as a :class:`Subject`; a bad one raises :class:`UserLossError`."""
    params = dict(params or {})
    if isinstance(target, Config):
        return _config_subject(target.loss, base_dir or target.base_dir)
    if isinstance(target, LossConfig):
        return _config_subject(target, base_dir)
    if isinstance(target, str):
        if target in LOSSES or target in CLASSIFICATION_LOSSES:
            return _builtin_subject(target, params)
        if ":" not in target:
            close = difflib.get_close_matches(target, list(LOSSES), n=1, cutoff=0.6)
            if close:
                raise UserLossError(
                    f"loss spec {target!r}: unknown built-in loss (did you mean {close[0]!r}?)"
                )
            raise UserLossError(
                f"loss spec {target!r}: expected a built-in loss "
                f"({', '.join(LOSSES)}), 'path/to/file.py:obj' or "
                "'package.module:obj'"
            )
        return _from_user(load_user_loss(target, params, base_dir), target)
    if callable(target):
        user = wrap_loss(target, params)
        return _from_user(user, getattr(target, "__qualname__", type(target).__name__))
    raise UserLossError(
        f"cannot check {short_repr(target)}: give a loss spec, a LossConfig or a callable"
    )
