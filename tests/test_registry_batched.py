"""The batched sweep's losses and optimizers are the registries' entries, each decided once.

:mod:`engine.sweep.batched_plan` batches every built-in loss and optimizer that is not listed in
``NOT_BATCHED_LOSSES`` / ``NOT_BATCHED_OPTIMIZERS`` with its reason, and
:data:`engine.sweep.batched_ops.LOSS_OPS` holds the column arithmetic by registry name. So a new
built-in loss fails here until it has that arithmetic (with its one parameter) or a line saying
why not; a new built-in optimizer fails the run-alone comparison (the program would step it as
another optimizer) until it has a column rule or a line saying why not. Every batched loss with
every batched optimizer is one trial of one program, and each must end where ``engine.fit`` of
its own config ends (the comparison of :mod:`tests.test_sweep_batched`).
"""

from __future__ import annotations

from itertools import product
from typing import Any

import pytest

from engine.optimizer_registry import OPTIMIZERS, builtin_optimizer_names
from engine.registry import LOSSES, builtin_loss_names, param_key
from engine.sweep import batched_plan
from engine.sweep.batched_ops import LOSS_OPS
from engine.sweep.batched_plan import (
    BATCHED_LOSSES,
    BATCHED_OPTIMIZERS,
    NOT_BATCHED_LOSSES,
    NOT_BATCHED_OPTIMIZERS,
    plan,
)
from tests.conftest import make_config
from tests.test_fast_paths import TUNED, other_value
from tests.test_sweep_batched import assert_equals_fit, batched


def test_each_builtin_loss_is_batched_with_its_arithmetic_or_says_why_not() -> None:
    builtins = builtin_loss_names()
    assert set(NOT_BATCHED_LOSSES) <= set(builtins), "NOT_BATCHED_LOSSES names no built-in loss"
    assert all(why.strip() for why in NOT_BATCHED_LOSSES.values())
    for name in builtins:  # batched, or not with its reason: never neither, never both
        assert (name in BATCHED_LOSSES) != (name in NOT_BATCHED_LOSSES), name
    missing = set(BATCHED_LOSSES) - set(LOSS_OPS)
    assert not missing, (
        f"built-in loss(es) {sorted(missing)} have no batched arithmetic: add them to "
        "engine.sweep.batched_ops.LOSS_OPS, or to batched_plan.NOT_BATCHED_LOSSES with the reason"
    )
    assert set(LOSS_OPS) == set(BATCHED_LOSSES), "LOSS_OPS names a loss that is not batched"
    for name in BATCHED_LOSSES:
        spec = LOSSES[name]
        assert spec.task == "regression", name
        # the column arithmetic carries exactly the loss's parameters (it has room for one)
        ops_param = LOSS_OPS[name].param
        assert {p.name for p in spec.params} == ({ops_param} if ops_param else set()), name


def test_each_builtin_optimizer_is_batched_or_says_why_not() -> None:
    builtins = builtin_optimizer_names()
    assert set(NOT_BATCHED_OPTIMIZERS) <= set(builtins)
    assert all(why.strip() for why in NOT_BATCHED_OPTIMIZERS.values())
    for name in builtins:
        assert (name in BATCHED_OPTIMIZERS) != (name in NOT_BATCHED_OPTIMIZERS), name
    assert set(BATCHED_OPTIMIZERS) <= set(builtins)
    assert {"sgd", "adam", "adamw"} <= set(BATCHED_OPTIMIZERS)


def trial(loss: str, optim: str) -> dict[str, Any]:
    """``loss`` with each of its parameters at a non-default value and ``optim`` with each of
    its hyperparameters tuned, and weight decay (so every per-column setting is exercised)."""
    values: dict[str, Any] = {"loss.name": loss, "optim.name": optim, "optim.lr": 0.05}
    for p in LOSSES[loss].params:
        values[param_key(loss, p.name)] = other_value(p)
    for h in OPTIMIZERS[optim].hyperparams:
        if h != "lr":
            values[f"optim.{h}"] = TUNED[h]
    values["optim.weight_decay"] = 0.02
    return values


def test_each_batched_loss_with_each_batched_optimizer_equals_its_run_alone() -> None:
    base = make_config(
        seed=5,
        data={"n_samples": 240, "n_features": 4, "noise": 0.3},
        train={"epochs": 12, "device": "cpu"},
    )
    trials = [trial(loss, optim) for loss, optim in product(BATCHED_LOSSES, BATCHED_OPTIMIZERS)]
    result = batched(base, trials)
    assert len(result.trials) == len(BATCHED_LOSSES) * len(BATCHED_OPTIMIZERS)
    for run in result.trials:
        assert_equals_fit(run)


def test_a_builtin_listed_as_not_batched_is_refused_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(batched_plan.NOT_BATCHED_LOSSES, "log_cosh", "its reason for the loss")
    monkeypatch.setitem(batched_plan.NOT_BATCHED_OPTIMIZERS, "adamw", "its reason for adamw")
    base = make_config(train={"epochs": 2, "device": "cpu"})
    planned, refused = plan(
        base, [{"loss.name": "log_cosh"}, {"optim.name": "adamw"}, {"loss.name": "huber"}]
    )
    assert [p.index for p in planned] == [2]
    why = {r.index: r.reason for r in refused}
    assert (
        why[0]
        == "loss 'log_cosh' has no batched derivative (its reason for the loss): run it alone"
    )
    assert why[1] == (
        "optimizer 'adamw' has no batched update rule (its reason for adamw): run it alone"
    )
