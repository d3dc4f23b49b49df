"""The two rules that end a run early: early stopping (which owns the best weights) and the
divergence check.

Early stopping semantics (Keras, Lightning, skorch, scikit-learn agree): an epoch improves when
``value < best - min_delta`` (for a maximised monitor, ``val_accuracy``, when
``value > best + min_delta``, Keras' ``mode="max"``); NaN never improves; ``wait`` counts
epochs since the last improvement and the run should stop once ``wait >= patience``. Like
Keras' ``EarlyStopping`` with ``restore_best_weights``, the policy is one object: it
remembers the weights of its best epoch and puts them back at the end *however* the run
ended (early stop, divergence, a stop by the user, even in the middle of an epoch, or
running out of epochs; keras#12511 was a years-long bug about exactly that). Stopping is a
flag the loop reads, not an exception, so the end-of-run work always happens.

Divergence (Lightning's ``check_finite``): a non-finite loss or weight ends the run at once.

Pure Python: parameters are host numbers, and the restore writes through a callback.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Params = tuple[list[float], float | list[float] | None]
"""Weights and bias as host numbers (K biases for a multiclass model)."""

MAXIMISED = ("val_accuracy",)
"""Monitors that improve upwards: an epoch improves when ``value > best + min_delta``."""


@dataclass
class EarlyStopping:
    """Tracks the best monitored value and its weights; ``enabled=False`` tracks but never asks
    to stop and never restores.

    ``monitors_start``: the monitored value of an epoch was measured at the weights the epoch
    *started* from (full-batch training monitoring ``train_loss``: the step's own forward pass
    gives the loss), so the best weights are those, not the ones the epoch ended with.
    """

    patience: int
    min_delta: float = 0.0
    enabled: bool = True
    restore_best: bool = False
    monitors_start: bool = False
    monitor: str = "val_loss"
    best: float | None = None
    best_epoch: int | None = None
    wait: int = 0
    best_params: Params | None = None
    """The weights of the best epoch (what :meth:`restore` puts back)."""
    _last: Params | None = field(default=None, repr=False)
    _moved: bool = field(default=False, repr=False)

    @classmethod
    def from_config(cls, es: Any, *, monitors_start: bool = False) -> EarlyStopping:
        """From ``Config.early_stopping``; restoring happens only when early stopping is on."""
        return cls(
            es.patience,
            es.min_delta,
            es.enabled,
            es.enabled and es.restore_best,
            monitors_start,
            es.monitor,
        )

    def remember(self, params: Params) -> None:
        """Record the weights training starts from (the best ones if the first epoch, measured
        at them, turns out best)."""
        self._last = params

    def update(self, epoch: int, value: float, params: Params | None = None) -> bool:
        """Record ``value`` for ``epoch``, whose steps ended at ``params``; return whether it
        is an improvement."""
        improved = not math.isnan(value) and (
            self.best is None
            or (
                value > self.best + self.min_delta
                if self.maximised
                else value < self.best - self.min_delta
            )
        )
        if improved:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            self.best_params = self._last if self.monitors_start else params
        else:
            self.wait += 1
        self._last, self._moved = params, False
        return improved

    def state(self) -> dict[str, Any]:
        """Plain values for a checkpoint (see :meth:`load_state`)."""
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "best_params": _plain(self.best_params),
            "last": _plain(self._last),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` (a resumed run)."""
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.best_params, self._last = _params(state["best_params"]), _params(state["last"])

    def interrupted(self, *, partial: bool) -> None:
        """The run stopped before the epoch ended; ``partial``: some of its steps ran, so the
        model's weights are no longer the last epoch's."""
        self._moved = partial

    @property
    def maximised(self) -> bool:
        """Whether the monitor improves upwards (accuracy)."""
        return self.monitor in MAXIMISED

    @property
    def should_stop(self) -> bool:
        """Whether patience has run out (never when disabled)."""
        return self.enabled and self.wait >= self.patience

    def weights_to_restore(self) -> Params | None:
        """The best weights, when restoring is on and the model does not hold them already."""
        if not self.restore_best or self.best_params is None:
            return None
        if not self._moved and self.best_params == self._last:
            return None
        return self.best_params

    def restore(self, load: Callable[[Params], None]) -> int | None:
        """Put the best weights back through ``load``; return their epoch (None: nothing done)."""
        params = self.weights_to_restore()
        if params is None:
            return None
        load(params)
        return self.best_epoch


def _plain(params: Params | None) -> list[Any] | None:
    return None if params is None else [list(params[0]), params[1]]


def _params(value: list[Any] | None) -> Params | None:
    return None if value is None else (list(value[0]), value[1])


@dataclass
class DivergenceCheck:
    """Ends the run at the first non-finite loss or weight; ``detail`` says which."""

    detail: str | None = None

    def update(self, losses: Iterable[tuple[str, float | None]], weights: list[float]) -> bool:
        """Check one epoch's ``(name, loss)`` pairs (None: not measured) and weights."""
        bad = [(k, v) for k, v in losses if v is not None and not math.isfinite(v)]
        if bad:
            self.detail = f"{bad[0][0]} loss became {bad[0][1]}"
        elif not all(math.isfinite(w) for w in weights):
            self.detail = "weights became non-finite"
        return self.detail is not None

    @property
    def should_stop(self) -> bool:
        return self.detail is not None
