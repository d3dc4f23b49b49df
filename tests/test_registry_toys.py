"""One registry entry is enough: a toy loss and a toy optimizer, each declared once
(:mod:`tests.toy_loss`), are seen by the config, the settings form, the "does this setting
apply" rule, run comparison, check-loss, the optimum, the fast path and a training run.

The toy loss is ``s·mean((y-ŷ)²)``: its minimiser is the least-squares fit whatever ``s`` is,
so the reference optimum has an exact answer to meet (``torch.linalg.lstsq``). The toy
optimizer is heavy-ball gradient descent, whose iterates ``torch.optim.SGD`` gives.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

import engine
from engine.config import ConfigError, applies, field_info, loss_choices, nest, validate_field
from engine.config.presets import load_raw
from engine.data.dataset import load_dataset
from engine.losses.check import check_loss
from engine.losses.derivatives import closed_form
from engine.losses.formulas import describe
from engine.optimizer_registry import OPTIMIZERS, OptimizerSpec
from engine.registry import LOSSES, LossSpec
from engine.runs.compare import run_labels
from engine.training.optimizers import make_update_rule
from engine.training.run_setup import make_model
from engine.training.steps import flatten_params
from tests.test_fast_paths import OPTIMS, PENALTIES, assert_same, config
from tests.toy_loss import (
    TOY_LOSS,
    TOY_OPTIMIZER,
    HeavyBall,
    registered_toys,
    scaled_mse_derivative,
)
from tui.form import SettingsForm
from tui.form_fields import form_keys

Toys = tuple[LossSpec, OptimizerSpec]


@pytest.fixture
def toys() -> Iterator[Toys]:
    with registered_toys() as both:
        yield both


def form() -> SettingsForm:
    raw, path = load_raw("default")
    return SettingsForm(raw, str(path.parent))


# ---------------------------------------------------------------------------------------------
# Config


def test_the_config_accepts_the_toy_loss_and_checks_its_parameter(toys: Toys) -> None:
    assert "toy" in loss_choices()
    cfg = engine.load_config("default", ["loss.name=toy", "loss.params.scale=3"])
    assert (cfg.loss.name, cfg.loss.params) == ("toy", {"scale": 3.0})
    assert describe(cfg.loss) == "3·mean((y-ŷ)²)"
    assert engine.load_config("default", ["loss.name=toy"]).loss.params == {}
    for bad in ("0", "-1"):
        with pytest.raises(ConfigError) as err:
            engine.load_config("default", ["loss.name=toy", f"loss.params.scale={bad}"])
        assert (err.value.key, err.value.reason) == ("loss.params.scale", "must be > 0")
    with pytest.raises(ConfigError) as err:
        engine.load_config("default", ["loss.name=toy", "loss.params.sclae=2"])
    assert err.value.key == "loss.params.sclae" and "loss.params.scale" in str(err.value)
    info = field_info("loss.params.scale")
    assert (info.kind, info.bounds, info.default) == ("float", {"gt": 0.0}, 1.0)
    assert validate_field("loss.params.scale", "2.5") == 2.5


def test_the_config_accepts_the_toy_optimizer(toys: Toys) -> None:
    assert "toy_heavy_ball" in field_info("optim.name").choices
    cfg = engine.load_config("default", ["optim.name=toy_heavy_ball", "optim.momentum=0.5"])
    assert (cfg.optim.name, cfg.optim.momentum) == ("toy_heavy_ball", 0.5)


def test_unregistered_toys_are_refused_again() -> None:
    with registered_toys():
        pass
    assert "toy" not in LOSSES and "toy_heavy_ball" not in OPTIMIZERS
    for override, key in (
        ("loss.name=toy", "loss.name"),
        ("optim.name=toy_heavy_ball", "optim.name"),
    ):
        with pytest.raises(ConfigError) as err:
            engine.load_config("default", [override])
        assert err.value.key == key and err.value.reason.startswith("must be one of")


# ---------------------------------------------------------------------------------------------
# The form, the applies rule and run comparison


def test_the_form_shows_the_toy_loss_parameter_only_for_it(toys: Toys) -> None:
    f = form()
    assert "toy" in f.field("loss.name").choices
    assert f.field("loss.params.scale").label == "scale s"
    param_rows = {x.key for x in f.fields if x.losses}
    assert not any(f.applies(k) for k in param_rows)  # mse has no parameter
    f.edit("loss.name", "toy")
    assert {k for k in param_rows if f.applies(k)} == {"loss.params.scale"}
    assert f.loss_formula() == "1·mean((y-ŷ)²)"
    f.edit("loss.params.scale", "0")
    assert f.errors == {"loss.params.scale": "must be > 0"}
    f.edit("loss.params.scale", "2")
    cfg = f.build_config()
    assert (cfg.loss.name, cfg.loss.params) == ("toy", {"scale": 2.0})
    for other in ("huber", "custom", "combined"):
        f.edit("loss.name", other)
        assert not f.applies("loss.params.scale"), other


def test_the_form_keys_and_what_applies_follow_the_toy_optimizer(toys: Toys) -> None:
    keys = form_keys()
    assert set(TOY_OPTIMIZER.form_keys()) <= set(keys)
    f = form()
    assert "toy_heavy_ball" in f.field("optim.name").choices
    f.edit("optim.name", "toy_heavy_ball")
    assert all(f.applies(k) for k in TOY_OPTIMIZER.form_keys())
    f.edit("optim.momentum", "0.5")
    assert f.build_config().optim.momentum == 0.5
    f.edit("optim.name", "adam")
    assert not f.applies("optim.momentum")


def test_the_applies_rule_and_comparison_know_the_toys(toys: Toys) -> None:
    toy = {"loss": {"name": "toy", "params": {"scale": 3.0}}}
    assert applies("loss.params.scale", toy)
    assert not applies("loss.params.scale", {"loss": {"name": "mse"}})
    assert not applies("loss.delta", toy)
    heavy = {"optim": {"name": "toy_heavy_ball"}}
    assert applies("optim.momentum", heavy) and applies("optim.lr", heavy)
    assert applies("optim.momentum", nest({"optim.name": "toy_heavy_ball"}))
    a = engine.load_config(
        "default", ["loss.name=toy", "loss.params.scale=3", "optim.name=toy_heavy_ball"]
    ).to_dict()
    b = engine.load_config("default", ["loss.name=toy", "optim.name=toy_heavy_ball"]).to_dict()
    assert run_labels([a, b], ["x-ab0000", "x-ab0001"]) == ["toy s=3", "toy s=1"]


# ---------------------------------------------------------------------------------------------
# check-loss, the optimum, the fast path and training


def test_check_loss_passes_the_toy_loss(toys: Toys) -> None:
    report = check_loss("toy", {"scale": 2.0})
    assert report.ok, report.summary
    assert report.formula == "2·mean((y-ŷ)²)" and report.symmetric


def test_the_reference_optimum_of_the_toy_loss_is_least_squares(toys: Toys) -> None:
    cfg = engine.load_config(
        "default",
        [
            "loss.name=toy",
            "loss.params.scale=3",
            "optim.name=toy_heavy_ball",
            "optim.momentum=0.5",
            "train.epochs=5",
            "train.device=cpu",
            "data.n_samples=200",
        ],
    )
    run = engine.fit(cfg)
    opt = run.started.optimum
    assert opt is not None and (opt["kind"], opt["method"]) == (
        "reference",
        "L-BFGS (float64, full batch)",
    )
    ds = load_dataset(cfg)
    x = torch.cat([ds.train.x.double(), torch.ones(len(ds.train), 1, dtype=torch.float64)], 1)
    exact = torch.linalg.lstsq(x, ds.train.y.double().unsqueeze(1)).solution.squeeze(1)
    assert opt["weights"] == pytest.approx(exact[:-1].tolist(), abs=1e-6)
    assert opt["bias"] == pytest.approx(float(exact[-1]), abs=1e-6)
    mse = float(torch.mean((x @ exact - ds.train.y.double()) ** 2))
    assert opt["loss"] == pytest.approx(3 * mse, rel=1e-9)
    assert run.finished.reason and len(run.epochs) == 5  # the toy optimizer trained it


@pytest.mark.parametrize("batch", [None, 32], ids=["full", "minibatch"])
def test_the_toy_loss_takes_the_fast_path_and_equals_autograd(
    toys: Toys, batch: int | None, monkeypatch
) -> None:
    loss = {"name": "toy", "params": {"scale": 2.5}, **PENALTIES["both"]}
    cfg = config(loss, OPTIMS["sgd_tuned"], batch=batch)
    closed = closed_form(cfg.loss)
    assert closed is not None and not closed.is_mse
    (term,) = closed.terms
    assert term.derivative is scaled_mse_derivative and term.params == {"scale": 2.5}
    assert_same(cfg, "closed_form", monkeypatch, "MinibatchSteps" if batch else "FullBatchSteps")


@pytest.mark.parametrize("batch", [None, 32], ids=["full", "minibatch"])
def test_the_toy_optimizer_is_its_update_rule_and_equals_torch_sgd(
    toys: Toys, batch: int | None, monkeypatch
) -> None:
    optim = {"name": "toy_heavy_ball", "lr": 0.02, "momentum": 0.9, "weight_decay": 0.05}
    cfg = config({"name": "huber", "delta": 0.7}, optim, batch=batch)
    model = make_model(4, cfg, torch.device("cpu"))
    rule = make_update_rule(flatten_params(model), model, cfg)
    assert type(rule) is HeavyBall and rule.param_groups[0]["momentum"] == 0.9
    assert_same(cfg, "auto", monkeypatch, "MinibatchSteps" if batch else "FullBatchSteps")
    assert_same(cfg, "autograd", monkeypatch, "AutogradSteps")


def test_the_toy_entries_are_the_ones_declared_once(toys: Toys) -> None:
    assert LOSSES["toy"] is TOY_LOSS and OPTIMIZERS["toy_heavy_ball"] is TOY_OPTIMIZER
    assert TOY_LOSS.form_keys() == ("loss.params.scale",)
    assert TOY_LOSS.symbolic() == "s·mean((y-ŷ)²)"  # an inline parameter reads as its symbol
    assert TOY_OPTIMIZER.form_keys() == ("optim.lr", "optim.momentum")
