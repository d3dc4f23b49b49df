"""Event builders for tests: a plausible run's events, overriding only what a test is about.

    from tests.builders import epoch, finished, optimum, run_events, started

    started(["x1", "x2"], settings={"data.standardize_target": True}, true_weights=[1, 2])
    epoch(3, val_loss=0.5, weights=[1.0, 2.0])
    finished("early_stopped", best_epoch=2)

Every keyword a builder does not name is a field of the event and replaces its default, so a
test states the numbers it checks and nothing else. ``started`` carries the default preset's
full config (``engine.config.Config().to_dict()``, torch-free), so views that read a config key
see what a real run sends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.config import Config
from engine.core.events import EpochEnded, Reason, RunFinished, RunStarted


def config_dict(settings: Mapping[str, Any] | None = None, name: str = "test") -> dict[str, Any]:
    """The default config as a run reports it, with dotted ``settings`` applied
    (``{"model.bias": False}``), unvalidated: a test may describe any run."""
    cfg = Config().to_dict()
    cfg["name"] = name
    for key, value in (settings or {}).items():
        *sections, last = key.split(".")
        node = cfg
        for section in sections:
            node = node.setdefault(section, {})
        node[last] = value
    return cfg


def optimum(
    weights: Sequence[float],
    bias: float | None = 0.0,
    *,
    kind: str = "exact",
    loss: float = 0.0,
    weights_original: Sequence[float] | None = None,
    bias_original: float | None = None,
    method: str = "lstsq",
) -> dict[str, Any]:
    """A ``RunStarted.optimum`` dict (raw-unit pair None: nothing standardised)."""
    return {
        "kind": kind,
        "method": method,
        "loss": loss,
        "weights": list(weights),
        "bias": bias,
        "weights_original": (list(weights_original) if weights_original is not None else None),
        "bias_original": bias_original,
    }


def started(
    features: Sequence[str] = ("x1",), *, settings: Mapping[str, Any] | None = None, **fields: Any
) -> RunStarted:
    """``RunStarted`` of a small CPU run on ``features`` (800/200/0 rows, 10 epochs)."""
    values: dict[str, Any] = dict(
        config=config_dict(settings),
        device="cpu",
        device_name="cpu",
        n_train=800,
        n_val=200,
        n_test=0,
        n_features=len(features),
        feature_names=list(features),
        epochs=10,
        loss_formula="mean((y - ŷ)²)",
    )
    values.update(fields)
    return RunStarted(**values)


def epoch(i: int = 1, **fields: Any) -> EpochEnded:
    """``EpochEnded`` number ``i`` of 10: improving, one weight 1.0, bias 0.0."""
    values: dict[str, Any] = dict(
        epoch=i,
        epochs=10,
        train_loss=1.0,
        val_loss=1.2,
        best_epoch=i,
        best_monitor=1.2,
        improved=True,
        wait=0,
        patience=5,
        lr=0.1,
        weights=[1.0],
        bias=0.0,
        elapsed_s=i / 10,
        samples_per_s=8000.0,
    )
    values.update(fields)
    if "best_monitor" not in fields and values["best_epoch"] == i:
        values["best_monitor"] = values["val_loss"]
    return EpochEnded(**values)


MESSAGES: dict[str, str] = {
    "completed": "completed {n} epochs",
    "early_stopped": "early stopped at epoch {n}",
    "diverged": "diverged at epoch {n}",
    "cancelled": "stopped by you at epoch {n}",
}
"""A plausible ``RunFinished.message`` per reason (the trainer's exact wording is its own)."""


def finished(reason: Reason = "completed", **fields: Any) -> RunFinished:
    """``RunFinished`` after 3 epochs, best at the last, one weight 1.0, bias 0.0."""
    values: dict[str, Any] = dict(
        reason=reason,
        epochs_run=3,
        best_epoch=3,
        best_monitor=1.2,
        weights=[1.0],
        bias=0.0,
        elapsed_s=0.3,
    )
    values.update(fields)
    values.setdefault("message", MESSAGES[reason].format(n=values["epochs_run"]))
    return RunFinished(**values)


def run_events(
    n: int = 3, features: Sequence[str] = ("x1",), reason: Reason = "completed"
) -> list[RunStarted | EpochEnded | RunFinished]:
    """A whole run: ``started``, ``n`` improving epochs with falling losses, ``finished``."""
    width = len(features)
    epochs = [
        epoch(i, epochs=n, train_loss=1.0 / i, val_loss=1.2 / i, weights=[1.0] * width)
        for i in range(1, n + 1)
    ]
    return [
        started(features, epochs=n),
        *epochs,
        finished(reason, epochs_run=n, best_epoch=n, best_monitor=1.2 / n, weights=[1.0] * width),
    ]
