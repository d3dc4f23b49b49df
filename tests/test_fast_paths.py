"""Every fast path gives the iterates of the plain autograd + ``torch.optim`` loop.

The reference is the textbook loop written out here: ``nn.Linear``, the objective of
:mod:`engine.losses.functions` through autograd, the ``torch.optim`` class the registry names,
the same initial weights and the same on-device permutation. The engine's step strategies
(:mod:`engine.training.steps`: closed-form minibatch, blocked full batch, sufficient statistics,
autograd) must end at the same weights and report the same per-epoch train losses: 1e-5
relative in float32, for every built-in loss, penalty, optimizer, bias on/off, full batch and
minibatch. The losses, their parameters and the optimizers come from the registries: a new
entry is tested here without a new line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import engine
from engine.core.control import Control
from engine.data.dataset import load_dataset
from engine.losses.derivatives import closed_form, derivative_of
from engine.losses.functions import build_objective
from engine.optimizer_registry import OPTIMIZERS
from engine.registry import LOSSES, ParamSpec, builtin_loss_names, resolve
from engine.training.epoch import STEPS_ENV, Clock, DeviceSplit, EpochRunner
from engine.training.optimizers import make_optimizer, make_update_rule
from engine.training.run_setup import make_model
from engine.training.steps import flatten_params
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 4
RTOL = 1e-5

TUNED = {"lr": 0.02, "momentum": 0.9}
"""A value other than the default for each optimizer hyperparameter (a registered optimizer
with a new one needs it here: ``test_every_registered_entry_has_its_code`` says so)."""


def optim_cases() -> dict[str, dict]:
    """Per registered optimizer: ``<name>`` (lr only, the hot path) and ``<name>_tuned`` (every
    hyperparameter it takes at a non-default value, and weight decay)."""
    cases = {}
    for name, spec in OPTIMIZERS.items():
        cases[name] = {"name": name, "lr": 0.05}
        cases[f"{name}_tuned"] = {
            "name": name,
            "weight_decay": 0.05,
            **{h: TUNED[h] for h in spec.hyperparams if h in TUNED},
        }
    return cases


OPTIMS = optim_cases()
PENALTIES = {"none": {}, "l1": {"l1": 0.01}, "l2": {"l2": 0.05}, "both": {"l1": 0.01, "l2": 0.05}}


def other_value(p: ParamSpec) -> float:
    """A value of ``p`` in its range but not its default (so a parameter that is not passed
    on shows)."""
    hi = p.bounds.get("lt", p.bounds.get("max"))
    for value in (p.default * 0.7, p.default + 0.5 if hi is None else (p.default + hi) / 2):
        if value != p.default and p.in_range(value):
            return value
    raise AssertionError(f"no test value for {p.name}")


def term_params(name: str) -> dict[str, float]:
    """Every parameter of the registered loss ``name`` at a non-default value, by name."""
    return {p.name: other_value(p) for p in LOSSES[name].params}


def config(loss: dict, optim: dict, *, bias: bool = True, batch: int | None = None):
    return make_config(
        seed=3,
        data={"n_samples": 300, "n_features": 4, "noise": 0.5, "val_fraction": 0.2},
        model={"bias": bias},
        loss=loss,
        optim={**optim, "batch_size": batch},
        train={"epochs": EPOCHS, "device": "cpu"},
        early_stopping={"enabled": False},
    )


def reference(cfg) -> tuple[torch.Tensor, list[float]]:
    """The plain loop: autograd and torch.optim; the weights and each epoch's train loss."""
    ds = load_dataset(cfg)
    x, y = ds.train.x, ds.train.y
    n = len(ds.train)
    model = make_model(x.shape[1], cfg, torch.device("cpu"))
    opt = make_optimizer(model, cfg)
    objective = build_objective(cfg.loss, cfg.base_dir)
    shuffle = torch.Generator().manual_seed(cfg.seed + 3)
    batch = cfg.optim.batch_size or n
    losses = []
    for _ in range(EPOCHS):
        perm = torch.randperm(n, generator=shuffle) if batch < n else torch.arange(n)
        total = 0.0
        for start in range(0, n, batch):
            idx = perm[start : start + batch]
            loss = objective(model(x[idx]).squeeze(-1), y[idx], model.weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / n)
    params = [model.weight.detach().reshape(-1)]
    if model.bias is not None:
        params.append(model.bias.detach())
    return torch.cat(params), losses


def engine_run(cfg, steps: str, monkeypatch) -> tuple[torch.Tensor, list[float], str]:
    """The engine's epoch runner with the given step strategy; weights, losses, strategy."""
    monkeypatch.setenv(STEPS_ENV, steps)
    ds = load_dataset(cfg)
    cpu = torch.device("cpu")
    model = make_model(ds.train.x.shape[1], cfg, cpu)
    rule = make_update_rule(flatten_params(model), model, cfg)
    runner = EpochRunner(
        model,
        rule,
        build_objective(cfg.loss, cfg.base_dir),
        DeviceSplit(ds.train, cpu),
        DeviceSplit(ds.val, cpu),
        batch_size=cfg.optim.batch_size,
        seed=cfg.seed + 3,
        y_std=1.0,
        control=Control(),
        clock=Clock(),
        closed=closed_form(cfg.loss),
        epochs=EPOCHS,
    )
    losses = [runner.read(runner.run()).train_loss for _ in range(EPOCHS)]
    return rule.theta.clone(), losses, type(runner.steps).__name__


def assert_same(cfg, steps: str, monkeypatch, expect: str) -> None:
    want_w, want_losses = reference(cfg)
    got_w, got_losses, used = engine_run(cfg, steps, monkeypatch)
    assert used == expect
    assert torch.linalg.vector_norm(got_w - want_w) <= RTOL * torch.linalg.vector_norm(want_w)
    assert got_losses == pytest.approx(want_losses, rel=RTOL)


def loss_section(name: str, penalty: str = "none") -> dict:
    """The ``loss`` section of the registered loss ``name`` with every parameter set at its
    own key (``loss.delta``, ``loss.params.scale``) to a non-default value."""
    section: dict = {"name": name, **PENALTIES[penalty]}
    for p, key in zip(LOSSES[name].params, LOSSES[name].form_keys()):
        if key.startswith("loss.params."):
            section.setdefault("params", {})[p.name] = other_value(p)
        else:
            section[key.removeprefix("loss.")] = other_value(p)
    return section


def test_every_registered_entry_has_its_code():
    """Each built-in loss names a closed-form derivative, each optimizer an update rule, and
    every pointer resolves; every hyperparameter has a test value, every optimizer cases."""
    for name in builtin_loss_names():
        assert LOSSES[name].derivative is not None, name
    for spec in LOSSES.values():
        assert callable(resolve(spec.fn))
        assert spec.derivative is None or derivative_of(spec.name) is resolve(spec.derivative)
    for spec in OPTIMIZERS.values():
        assert spec.rule is not None and callable(resolve(spec.rule)), spec.name
        assert set(spec.hyperparams) <= set(TUNED), spec.name
    assert {case["name"] for case in OPTIMS.values()} == set(OPTIMIZERS)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("batch", [None, 32], ids=["full", "minibatch"])
@pytest.mark.parametrize("name", builtin_loss_names())
def test_each_loss_closed_form_equals_autograd(name, batch, bias, monkeypatch):
    cfg = config(loss_section(name, "both"), OPTIMS["sgd"], bias=bias, batch=batch)
    assert_same(cfg, "closed_form", monkeypatch, "MinibatchSteps" if batch else "FullBatchSteps")


@pytest.mark.parametrize("batch", [None, 32], ids=["full", "minibatch"])
@pytest.mark.parametrize("penalty", list(PENALTIES))
@pytest.mark.parametrize("optim", list(OPTIMS))
@pytest.mark.parametrize("name", ["mse", "huber"])
def test_each_optimizer_and_penalty_equals_torch_optim(name, optim, penalty, batch, monkeypatch):
    cfg = config(loss_section(name, penalty), OPTIMS[optim], batch=batch)
    assert_same(cfg, "auto", monkeypatch, "MinibatchSteps" if batch else "FullBatchSteps")


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("penalty", list(PENALTIES))
@pytest.mark.parametrize("optim", list(OPTIMS))
def test_sufficient_statistics_equal_the_data_pass(optim, penalty, bias, monkeypatch):
    cfg = config(loss_section("mse", penalty), OPTIMS[optim], bias=bias)
    assert_same(cfg, "gram", monkeypatch, "GramSteps")


@pytest.mark.parametrize("optim", list(OPTIMS))
@pytest.mark.parametrize("batch", [None, 32], ids=["full", "minibatch"])
def test_the_autograd_path_equals_torch_optim(batch, optim, monkeypatch):
    """The path user losses take (here with a combined built-in loss) with the update rules."""
    loss = {
        "name": "combined",
        "terms": [{"name": "mse", "weight": 0.5}, {"name": "huber", "params": {"delta": 0.5}}],
        "l2": 0.01,
    }
    cfg = config(loss, OPTIMS[optim], batch=batch)
    assert_same(cfg, "autograd", monkeypatch, "AutogradSteps")
    assert_same(cfg, "auto", monkeypatch, "MinibatchSteps" if batch else "FullBatchSteps")


@pytest.mark.parametrize("batch", [None, 32], ids=["full", "minibatch"])
@pytest.mark.parametrize("name", builtin_loss_names())
def test_a_single_weighted_term_equals_autograd(name, batch, monkeypatch):
    """``combined`` with one term of weight 0.5 (a review found the full-batch bias gradient
    summing an unwritten buffer for mse)."""
    term = {"name": name, "weight": 0.5, "params": term_params(name)}
    cfg = config({"name": "combined", "terms": [term]}, OPTIMS["sgd"], batch=batch)
    assert_same(cfg, "closed_form", monkeypatch, "MinibatchSteps" if batch else "FullBatchSteps")


@pytest.mark.parametrize("batch", [None, 16], ids=["full", "minibatch"])
def test_fast_and_autograd_runs_emit_the_same_events(batch, monkeypatch):
    """Whole runs, early stopping and restore included: every event agrees."""
    cfg = config({"name": "mse", "l2": 0.01}, OPTIMS["sgd_tuned"], batch=batch)
    cfg.train.epochs = 30
    cfg.early_stopping.enabled, cfg.early_stopping.patience = True, 3
    runs = {}
    for steps in ("autograd", "auto"):
        monkeypatch.setenv(STEPS_ENV, steps)
        runs[steps] = engine.fit(cfg)
    slow, fast = runs["autograd"], runs["auto"]
    assert len(slow.epochs) == len(fast.epochs)
    for a, b in zip(slow.epochs, fast.epochs):
        assert b.train_loss == pytest.approx(a.train_loss, rel=RTOL)
        assert b.val_loss == pytest.approx(a.val_loss, rel=RTOL)
        assert b.weights == pytest.approx(a.weights, rel=RTOL, abs=1e-6)
        assert b.lr == a.lr
        for split in ("train", "val"):
            assert b.metrics[split] == pytest.approx(a.metrics[split], rel=1e-4)
    assert fast.finished.reason == slow.finished.reason
    assert fast.finished.weights == pytest.approx(slow.finished.weights, rel=RTOL, abs=1e-6)


def test_update_rule_state_round_trips_through_weights_only_load(tmp_path):
    cfg = config({"name": "mse"}, OPTIMS["adam_tuned"])
    model = make_model(4, cfg, torch.device("cpu"))
    rule = make_update_rule(flatten_params(model), model, cfg)
    rule.grad.fill_(0.3)
    rule.step()
    torch.save(rule.state_dict(), tmp_path / "opt.pt")
    other = make_update_rule(
        flatten_params(make_model(4, cfg, torch.device("cpu"))),
        make_model(4, cfg, torch.device("cpu")),
        cfg,
    )
    other.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    assert other.param_groups[0]["lr"] == OPTIMS["adam_tuned"]["lr"]
    for key in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(other.state[key], rule.state[key])


def test_training_never_imports_torch_dynamo():
    """``torch.optim``'s first optimizer imports torch._dynamo (seconds of start-up): the
    training path must not construct one."""
    code = (
        "import json, sys\n"
        "import engine\n"
        "from engine.config.presets import load_config\n"
        "from engine.optimizer_registry import OPTIMIZERS\n"
        "cfg = load_config('default')\n"
        "cfg.train.epochs = 3\n"
        "for batch in (None, 64):\n"
        "    cfg.optim.batch_size = batch\n"
        "    for name in OPTIMIZERS:\n"
        "        cfg.optim.name = name\n"
        "        engine.fit(cfg)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('torch._dynamo'))))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != STEPS_ENV}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_losses_without_a_closed_form_keep_autograd():
    assert closed_form(make_config(loss={"name": "mse"}).loss) is not None
    for name, spec in LOSSES.items():
        assert (closed_form(make_config(loss=loss_section(name)).loss) is None) == (
            spec.derivative is None
        )
