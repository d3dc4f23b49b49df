"""Which trials can train together as one batched program, and why the others cannot.

Batched trials (:mod:`engine.sweep.batched`) share one dataset, one initial model and one row
order, and differ only in what the program keeps per column: ``optim.lr``, ``optim.momentum``,
``optim.weight_decay``, ``optim.name`` (:data:`BATCHED_OPTIMIZERS`), ``loss.name``
(:data:`BATCHED_LOSSES`), ``loss.l1``, ``loss.l2``, ``loss.delta``, ``loss.quantile``,
``train.epochs`` and the ``early_stopping`` section. A trial that changes anything else (the
seed, a ``data.*`` or ``model.*`` key, the device, the minibatch size) or whose loss has no
closed form here (custom, combined, a registered loss without batched arithmetic) is refused
with the reason, so a caller trains it alone; so is a classification trial (``model.task``),
one monitoring something other than a loss, and one whose values do not make a valid config.
No torch import.

Which losses and optimizers are batched is read from the registries: every built-in entry is,
unless :data:`NOT_BATCHED_LOSSES` / :data:`NOT_BATCHED_OPTIMIZERS` says why not. So a new
built-in is a decision in one visible place: its column arithmetic
(:data:`engine.sweep.batched_ops.LOSS_OPS`, the update rules there) or a line here with the
reason; ``tests/test_registry_batched.py`` fails until one is made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.config import Config, ConfigError, parse_config
from engine.optimizer_registry import builtin_optimizer_names
from engine.registry import LOSSES, builtin_loss_names
from engine.sweep.spec_params import with_values

NOT_BATCHED_LOSSES: dict[str, str] = {}
"""Built-in regression losses the batched program has no arithmetic for, each with the reason a
trial using one is refused (it then trains alone). Empty: every built-in loss is batched."""
BATCHED_LOSSES = tuple(n for n in builtin_loss_names() if n not in NOT_BATCHED_LOSSES)
"""The built-in losses with batched arithmetic, in registry order: each has its entry in
:data:`engine.sweep.batched_ops.LOSS_OPS`, by its registry name. A loss registered at run time
(:func:`engine.registry.register_loss`) is never batched."""
NOT_BATCHED_OPTIMIZERS: dict[str, str] = {}
"""Built-in optimizers without a batched update rule, each with the reason (as
:data:`NOT_BATCHED_LOSSES`). Empty: every built-in optimizer is batched."""
BATCHED_OPTIMIZERS = tuple(n for n in builtin_optimizer_names() if n not in NOT_BATCHED_OPTIMIZERS)
"""The built-in optimizers the batched program steps (:class:`engine.sweep.batched_ops.ColumnSGD`
for sgd, :class:`~engine.sweep.batched_ops.ColumnAdam` for every other). A new built-in is
stepped as adam until it gets its own column rule or a line in :data:`NOT_BATCHED_OPTIMIZERS`:
``tests/test_registry_batched.py`` compares each batched optimizer with its run alone."""
MONITORS = ("val_loss", "train_loss")
"""Early-stopping monitors the batched program tracks (a loss, minimised)."""
SHARED_SECTIONS = ("data", "model")
"""Config sections every trial of a batch must share whole (with ``seed``, ``train.device``
and the minibatch size)."""


@dataclass(frozen=True)
class Planned:
    """A trial the batched program can train: its position, searched values and config."""

    index: int
    values: dict[str, Any]
    config: Config


@dataclass(frozen=True)
class Refused:
    """A trial the batched program cannot train, and why (a caller trains it alone)."""

    index: int
    values: dict[str, Any]
    reason: str


def trial_config(base: Config, values: Mapping[str, Any], index: int) -> Config:
    """The config of a trial: ``base`` with the dotted ``values`` set, checked (as a sweep
    builds it with :func:`engine.sweep.spec_params.with_values`)."""
    raw = with_values(base.to_dict(), dict(values))
    return parse_config(raw, where=f"trial {index}", base_dir=base.base_dir)


def _flat(section: Any, prefix: str) -> dict[str, Any]:
    return {f"{prefix}.{k}": v for k, v in vars(section).items()}


def shared_settings(cfg: Config, n_train: int | None = None) -> dict[str, Any]:
    """What every trial of one batch must have in common, by dotted key."""
    out: dict[str, Any] = {"seed": cfg.seed, "train.device": cfg.train.device}
    for name in SHARED_SECTIONS:
        out.update(_flat(getattr(cfg, name), name))
    batch = cfg.optim.batch_size
    if n_train is not None and (batch is None or batch >= n_train):
        batch = None  # any size that covers the training rows is the full batch
    out["optim.batch_size"] = batch
    return out


def refusal(cfg: Config, shared: Mapping[str, Any], n_train: int | None = None) -> str | None:
    """Why ``cfg`` cannot join a batch whose shared settings are ``shared`` (None: it can)."""
    loss = cfg.loss.name
    task = getattr(cfg.model, "task", "regression")
    if task != "regression":
        return f"model.task {task} has no batched program (regression only): run it alone"
    if cfg.early_stopping.monitor not in MONITORS:
        return (
            f"early_stopping.monitor {cfg.early_stopping.monitor} is not batched "
            f"({' or '.join(MONITORS)}): run it alone"
        )
    if loss == "custom":
        return "a custom loss trains through autograd: run it alone"
    if loss == "combined" or cfg.loss.terms:
        return "a combined loss has no batched derivative: run it alone"
    if loss in NOT_BATCHED_LOSSES:
        return f"loss {loss!r} has no batched derivative ({NOT_BATCHED_LOSSES[loss]}): run it alone"
    if loss not in BATCHED_LOSSES or loss not in LOSSES:
        return f"loss {loss!r} has no batched derivative: run it alone"
    optim = cfg.optim.name
    if optim in NOT_BATCHED_OPTIMIZERS:
        return (
            f"optimizer {optim!r} has no batched update rule ({NOT_BATCHED_OPTIMIZERS[optim]}): "
            "run it alone"
        )
    if optim not in BATCHED_OPTIMIZERS:
        return f"optimizer {optim!r} has no batched update rule: run it alone"
    own = shared_settings(cfg, n_train)
    differ = [k for k, v in own.items() if shared.get(k) != v]
    if differ:
        return (
            f"{', '.join(differ)} differ{'s' if len(differ) == 1 else ''} from the batch's "
            "(a batch shares its data, model, split, seed, device and batch size): "
            "run it alone"
        )
    return None


def plan(
    base: Config, trials: Sequence[Mapping[str, Any]], n_train: int | None = None
) -> tuple[list[Planned], list[Refused]]:
    """Split ``trials`` (dotted key → value, as a sweep spec produces) into those that train
    together on ``base``'s data and those refused, each with its reason. ``n_train`` (the
    training rows, once known) lets a minibatch size that covers them count as full batch."""
    shared = shared_settings(base, n_train)
    planned: list[Planned] = []
    refused: list[Refused] = []
    for i, values in enumerate(trials):
        try:
            cfg = trial_config(base, values, i)
        except ConfigError as exc:
            refused.append(Refused(i, dict(values), str(exc)))
            continue
        why = refusal(cfg, shared, n_train)
        if why is None:
            planned.append(Planned(i, dict(values), cfg))
        else:
            refused.append(Refused(i, dict(values), why))
    return planned, refused
