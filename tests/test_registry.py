"""The registries drive everything: every loss end to end, every optimizer, and a toy loss.

Each registered loss is accepted by the config (its parameters at their defaults, refused out
of range), its formula renders, ``check-loss`` passes, and full-batch training reaches its
exact or reference optimum. A toy loss registered here shows that one registry entry is enough.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import engine
from engine.config import ConfigError, loss_choices, parse_config
from engine.data.dataset import load_dataset
from engine.losses.check import check_loss
from engine.losses.formulas import describe, formula, loss_values
from engine.losses.functions import build_objective
from engine.optimizer_registry import OPTIMIZERS, register_optimizer, unregister_optimizer
from engine.registry import LOSSES, builtin_loss_names, param_key, register_loss, unregister_loss
from engine.training.optimizers import make_optimizer
from engine.training.optimum import objective_value
from tests.conftest import make_config
from tests.toy_loss import TOY_LOSS, TOY_OPTIMIZER

BUILTINS = builtin_loss_names()


def loss_raw(name: str, key: str | None = None, value: float | None = None) -> dict:
    """A ``loss`` section for ``name`` with the dotted ``key`` (``loss.delta`` or
    ``loss.params.x``) set to ``value``."""
    section: dict = {"name": name}
    if key is not None:
        parts = key.split(".")[1:]
        if parts[0] == "params":
            section["params"] = {parts[1]: value}
        else:
            section[parts[0]] = value
    return section


def outside(bounds: dict[str, float]) -> list[float]:
    """A value just outside each bound."""
    return [{"gt": b, "min": b - 1, "lt": b, "max": b + 1}[k] for k, b in bounds.items()]


def check_config_accepts(name: str) -> None:
    spec = LOSSES[name]
    assert name in loss_choices()
    assert parse_config({"loss": {"name": name}}, where="t").loss.name == name
    for p in spec.params:
        key = param_key(name, p.name)
        cfg = parse_config({"loss": loss_raw(name, key, p.default)}, where="t")
        assert loss_values(name, cfg.loss.params, cfg.loss)[p.name] == p.default
        for bad in outside(p.bounds):
            with pytest.raises(ConfigError) as err:
                parse_config({"loss": loss_raw(name, key, bad)}, where="t")
            assert err.value.key == key and err.value.reason.startswith("must be")


@pytest.mark.parametrize("name", BUILTINS)
def test_config_accepts_each_loss_and_checks_its_params(name):
    check_config_accepts(name)


@pytest.mark.parametrize("name", BUILTINS)
def test_formula_renders_with_the_params(name):
    spec = LOSSES[name]
    text = formula(name)
    assert "{" not in text and text == describe(make_config(loss={"name": name}).loss)
    for p in spec.params:
        assert f"{p.symbol}=2.5" not in text
        cfg = make_config(loss=loss_raw(name, param_key(name, p.name), 0.25))
        assert f"{p.symbol}=0.25" in describe(cfg.loss)


@pytest.mark.parametrize("name", BUILTINS)
def test_check_loss_passes(name):
    report = check_loss(name)
    assert report.ok, report.summary
    assert report.formula == formula(name)
    assert report.symmetric  # at their defaults every built-in is symmetric (q = 0.5)


def train_to_optimum(loss: dict) -> None:
    """Full-batch Adam, best train-loss weights restored: the objective there is within 1e-4
    (relative) of the exact/reference optimum; the weights within 1e-3 for a smooth loss and
    0.05 (the quantile-regression tolerance of test_evaluation) for a non-smooth one."""
    cfg = make_config(
        data={"n_samples": 200, "n_features": 3, "noise": 0.5, "val_fraction": 0.0},
        loss=loss,
        optim={"name": "adam", "lr": 0.02},
        train={"epochs": 1000, "device": "cpu"},
        early_stopping={"monitor": "train_loss", "patience": 1000, "min_delta": 0.0},
    )
    res = engine.fit(cfg)
    fin, opt = res.finished, res.started.optimum
    assert opt is not None and opt["kind"] == ("exact" if loss["name"] == "mse" else "reference")
    ds = load_dataset(cfg)
    value = objective_value(
        build_objective(cfg.loss), ds.train.x, ds.train.y, torch.tensor(fin.weights), fin.bias
    )
    assert (value - opt["loss"]) / opt["loss"] < 1e-4
    tol = 1e-3 if LOSSES[loss["name"]].smooth else 0.05
    assert fin.weights == pytest.approx(opt["weights"], abs=tol)
    assert fin.bias == pytest.approx(opt["bias"], abs=tol)


@pytest.mark.parametrize("name", BUILTINS)
def test_each_loss_trains_to_its_optimum(name):
    train_to_optimum({"name": name})


# ---------------------------------------------------------------------------------------------
# Optimizers


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_optimizer_builds_its_torch_class_with_only_its_hyperparams(name):
    spec = OPTIMIZERS[name]
    cfg = make_config(optim={"name": name, "lr": 0.01, "momentum": 0.9, "weight_decay": 0.1})
    model = nn.Linear(3, 1)
    opt = make_optimizer(model, cfg)
    assert type(opt).__name__ == spec.torch_class.rsplit(".", 1)[1]
    assert type(opt) is getattr(torch.optim, type(opt).__name__)
    assert opt.defaults["lr"] == 0.01
    # momentum reaches sgd only; the others have no such setting
    assert opt.defaults.get("momentum") == (0.9 if "momentum" in spec.hyperparams else None)
    weight_group, bias_group = opt.param_groups
    assert weight_group["params"] == [model.weight] and weight_group["weight_decay"] == 0.1
    assert bias_group["params"] == [model.bias] and bias_group["weight_decay"] == 0.0


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_no_weight_decay_means_none_even_for_adamw(name):
    opt = make_optimizer(nn.Linear(3, 1), make_config(optim={"name": name}))
    assert [g["weight_decay"] for g in opt.param_groups] == [0.0]  # not AdamW's default 0.01


def test_an_unknown_optimizer_is_refused_not_replaced():
    with pytest.raises(ConfigError) as err:
        make_config(optim={"name": "rmsprop"})
    assert err.value.key == "optim.name" and "sgd, adam, adamw" in err.value.reason
    cfg = make_config()
    cfg.optim.name = "rmsprop"  # past validation: still an error, never a fall-through
    with pytest.raises(ConfigError, match="optim.name must be one of sgd, adam, adamw"):
        make_optimizer(nn.Linear(3, 1), cfg)


# ---------------------------------------------------------------------------------------------
# A toy loss: one registry entry, seen everywhere


TOY = TOY_LOSS  # declared once, in tests/toy_loss.py (with its derivative)


@pytest.fixture
def toy():
    register_loss(TOY)
    yield TOY
    unregister_loss("toy")


def test_a_registered_toy_loss_is_in_the_config_the_formula_and_check_loss(toy):
    assert param_key("toy", "scale") == "loss.params.scale"
    check_config_accepts("toy")
    cfg = make_config(loss={"name": "toy", "params": {"scale": 3}})
    assert cfg.loss.params == {"scale": 3.0}
    assert describe(cfg.loss) == "3·mean((y-ŷ)²)"
    with pytest.raises(ConfigError) as err:
        make_config(loss={"name": "toy", "params": {"scael": 3}})
    assert err.value.key == "loss.params.scael" and "loss.params.scale" in str(err.value)
    combined = make_config(loss={"terms": [{"name": "toy", "weight": 0.5, "params": {"scale": 2}}]})
    assert describe(combined.loss) == "0.5·2·mean((y-ŷ)²)"
    report = check_loss("toy", {"scale": 2.0})
    assert report.ok, report.summary
    assert report.formula == "2·mean((y-ŷ)²)" and report.symmetric
    assert check_loss(cfg).ok
    train_to_optimum({"name": "toy", "params": {"scale": 3}})


def test_unregistering_the_toy_loss_removes_it(toy):
    unregister_loss("toy")
    assert "toy" not in loss_choices()
    with pytest.raises(ConfigError, match="loss.name must be one of"):
        make_config(loss={"name": "toy"})
    register_loss(TOY)  # the fixture unregisters it again


def test_built_ins_cannot_be_replaced_or_removed():
    with pytest.raises(ValueError):
        register_loss(LOSSES["mse"])
    with pytest.raises(ValueError):
        unregister_loss("mse")
    with pytest.raises(ValueError):
        register_optimizer(OPTIMIZERS["sgd"])
    with pytest.raises(ValueError):
        unregister_optimizer("adam")
    register_optimizer(TOY_OPTIMIZER)
    try:
        with pytest.raises(ValueError):  # a second toy of the same name is refused too
            register_optimizer(TOY_OPTIMIZER)
    finally:
        unregister_optimizer(TOY_OPTIMIZER.name)
    assert TOY_OPTIMIZER.name not in OPTIMIZERS


def test_loss_params_on_a_builtin_without_own_params_keeps_its_message():
    with pytest.raises(
        ConfigError,
        match=r"loss.params applies only to custom losses "
        r"\(loss.name is 'huber'\)",
    ) as err:
        make_config(loss={"name": "huber", "params": {"delta": 2}})
    assert err.value.key == "loss.params"
