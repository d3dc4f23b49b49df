"""The loss lab's shape: ``L(r)`` is the registered function itself, ``ψ(r) = ∂L/∂r`` equals
autograd, the registry's closed-form derivative (with the sign flip ``e = -r``) and a finite
difference, for every registered loss, a combined loss and a loss registered at test time."""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch

from engine.config import ConfigError
from engine.lab.shape import ResidualLoss, histogram, loss_shape
from engine.losses.functions import build_objective, loss_function
from engine.registry import LOSSES, builtin_loss_names, register_loss, resolve, unregister_loss
from tests.conftest import make_config
from tests.toy_loss import TOY_LOSS

PARAMS = {"huber": {"delta": 0.7}, "smooth_l1": {"delta": 1.5}, "quantile": {"quantile": 0.8}}
"""Non-default parameters, so a parameter that failed to reach the function would show."""
R = torch.tensor([-3.1, -1.5, -0.7, -0.2, 0.0, 0.3, 0.69, 1.2, 2.6, 5.0], dtype=torch.float64)


@pytest.fixture
def toy_registered():
    """The toy loss (``scale·mean((y-ŷ)²)``, derivative ``2s·e``) in the registry."""
    register_loss(TOY_LOSS)
    try:
        yield TOY_LOSS
    finally:
        unregister_loss(TOY_LOSS.name)


def _names() -> list[str]:
    return list(LOSSES)


def _one_by_one(name: str, params: dict[str, float], r: torch.Tensor) -> torch.Tensor:
    """``fn(ŷ = 0, y = r_i)`` called once per residual: the registered function, no batching."""
    fn = loss_function(LOSSES[name])
    full = LOSSES[name].values(params)
    return torch.stack(
        [fn(torch.zeros(1, dtype=r.dtype), r[i : i + 1], **full) for i in range(len(r))]
    )


@pytest.mark.parametrize("name", _names())
def test_values_are_the_registered_function_row_by_row(name):
    params = PARAMS.get(name, {})
    loss = ResidualLoss.named(name, params)
    assert torch.allclose(loss.values(R), _one_by_one(name, params, R), rtol=0, atol=1e-14)
    # and their mean is the loss the engine trains: fn(ŷ, y) over a whole vector
    y = torch.linspace(-2, 3, 10, dtype=torch.float64)
    pred = y - R
    fn = loss_function(LOSSES[name])
    assert float(loss.values(y - pred).mean()) == pytest.approx(
        float(fn(pred, y, **LOSSES[name].values(params))), rel=1e-12
    )


@pytest.mark.parametrize("name", _names())
def test_psi_equals_autograd_closed_form_and_finite_difference(name):
    params = PARAMS.get(name, {})
    loss = ResidualLoss.named(name, params)
    psi = loss.psi(R)
    # autograd through the registered function, one residual at a time
    fn = loss_function(LOSSES[name])
    full = LOSSES[name].values(params)
    for i in range(len(R)):
        r = R[i : i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(torch.zeros(1, dtype=R.dtype), r, **full), r)
        assert float(psi[i]) == pytest.approx(float(g), abs=1e-12)
    # the registry's closed form is φ'(e) of e = ŷ - y = -r, so ψ(r) = -φ'(-r)
    pointer = LOSSES[name].derivative
    assert pointer is not None or name not in builtin_loss_names()  # every built-in has one
    if pointer is not None:
        e = -R
        t, c = resolve(pointer)(e, torch.empty_like(e), full)
        assert torch.allclose(psi, -c * t, rtol=0, atol=1e-12)
    # a central difference, away from the kinks (|r| = δ, r = 0)
    h = 1e-6
    smooth = (R.abs() > 1e-3) & ((R.abs() - full.get("delta", -1.0)).abs() > 1e-3)
    fd = (loss.values(R + h) - loss.values(R - h)) / (2 * h)
    assert torch.allclose(psi[smooth], fd[smooth], atol=1e-6)


def test_sign_convention_on_known_values():
    r = torch.tensor([-2.0, 0.5, 3.0], dtype=torch.float64)
    assert ResidualLoss.named("mse").psi(r).tolist() == [-4.0, 1.0, 6.0]  # ψ = 2r, not 2e
    huber = ResidualLoss.named("huber", {"delta": 1.0})
    assert huber.values(r).tolist() == [1.5, 0.125, 2.5]  # δ(|r| - δ/2) beyond δ, r²/2 inside
    assert huber.psi(r).tolist() == [-1.0, 0.5, 1.0]
    q = ResidualLoss.named("quantile", {"q": 0.9})  # under-prediction (r > 0) costs q per unit
    assert q.psi(r).tolist() == pytest.approx([-0.1, 0.9, 0.9])
    assert q.psi(torch.zeros(1, dtype=torch.float64)).tolist() == pytest.approx([0.4])  # q - ½


def test_a_loss_registered_at_run_time_has_a_shape(toy_registered):
    loss = ResidualLoss.named("toy", {"scale": 3.0})
    assert loss.values(R).tolist() == pytest.approx((3.0 * R**2).tolist())
    assert loss.psi(R).tolist() == pytest.approx((6.0 * R).tolist())
    t, c = resolve(toy_registered.derivative)(-R, torch.empty_like(R), {"scale": 3.0})
    assert torch.allclose(loss.psi(R), -c * t)


def test_combined_loss_is_the_weighted_sum_the_engine_trains():
    cfg = make_config(
        loss={
            "terms": [
                {"name": "mse", "weight": 0.7},
                {"name": "huber", "weight": 0.5, "params": {"delta": 2.0}},
                {"name": "quantile", "weight": 0.3, "params": {"q": 0.2}},
            ]
        }
    )
    loss = ResidualLoss.from_config(cfg.loss)
    assert loss.name == "combined" and len(loss.terms) == 3
    expected = (
        0.7 * ResidualLoss.named("mse").values(R)
        + 0.5 * ResidualLoss.named("huber", {"delta": 2.0}).values(R)
        + 0.3 * ResidualLoss.named("quantile", {"q": 0.2}).values(R)
    )
    assert torch.allclose(loss.values(R), expected, atol=1e-14)
    # the mean over rows is the data loss of the engine's own objective
    y = torch.linspace(-1, 1, len(R), dtype=torch.float64)
    objective = build_objective(cfg.loss)
    engine_value = objective(y - R, y, torch.zeros(3, dtype=torch.float64))
    assert float(loss.values(R).mean()) == pytest.approx(float(engine_value), rel=1e-12)
    assert "0.7·mean((y-ŷ)²)" in loss.formula and "δ=2" in loss.formula


def test_loss_section_parameters_reach_the_shape():
    cfg = make_config(loss={"name": "huber", "delta": 0.25})
    loss = ResidualLoss.from_config(cfg.loss)
    assert loss.terms[0].params == {"delta": 0.25}
    assert loss.psi(torch.tensor([5.0], dtype=torch.float64)).tolist() == [0.25]


def test_a_custom_loss_or_unknown_name_is_refused_with_the_key():
    cfg = make_config(loss={"name": "custom", "callable": "torch.nn:MSELoss"})
    with pytest.raises(ConfigError) as err:
        ResidualLoss.from_config(cfg.loss)
    assert err.value.key == "loss.name" and "custom" in str(err.value)
    with pytest.raises(ConfigError, match="unknown loss 'nope'"):
        ResidualLoss.named("nope")
    with pytest.raises(ConfigError, match="delta must be > 0"):
        ResidualLoss.named("huber", {"delta": -1})


def test_shape_grid_covers_the_residuals_and_the_histogram_counts_them():
    g = torch.Generator().manual_seed(0)
    train = torch.randn(500, generator=g, dtype=torch.float64) * 2
    val = torch.randn(120, generator=g, dtype=torch.float64)
    shape = loss_shape(
        ResidualLoss.named("huber"),
        {"train": train, "val": val},
        compare=ResidualLoss.named("mse"),
        points=101,
        bins=20,
    )
    top = float(torch.cat([train, val]).abs().max())
    assert shape["r"][0] == pytest.approx(-top) and shape["r"][-1] == pytest.approx(top)
    assert shape["r"][50] == 0.0 and len(shape["L"]) == len(shape["psi"]) == 101
    assert sum(shape["histogram"]["train"]["counts"]) == 500
    assert sum(shape["histogram"]["val"]["counts"]) == 120
    edges = torch.tensor(shape["histogram"]["edges"])
    counts = [int(((train >= lo) & (train < hi)).sum()) for lo, hi in pairwise(edges)]
    counts[-1] += int((train == edges[-1]).sum())
    assert shape["histogram"]["train"]["counts"] == counts
    assert shape["compare"]["psi"] == pytest.approx([2 * r for r in shape["r"]])
    centres = torch.tensor(shape["histogram"]["centres"], dtype=torch.float64)
    assert shape["histogram"]["L"] == ResidualLoss.named("huber").values(centres).tolist()


def test_histogram_with_a_narrower_range_counts_what_falls_outside():
    r = torch.tensor([-5.0, -1.0, 0.0, 0.5, 1.0, 7.0], dtype=torch.float64)
    h = histogram(r, torch.linspace(-1, 1, 3, dtype=torch.float64))
    assert h == {"counts": [1, 3], "below": 1, "above": 1}
    shape = loss_shape(ResidualLoss.named("mae"), {"train": r}, limit=1.0, bins=2, points=3)
    assert shape["r"] == [-1.0, 0.0, 1.0] and shape["psi"] == [-1.0, 0.0, 1.0]
