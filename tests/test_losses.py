"""Every built-in loss against its formula on hand-computed tensors."""

from __future__ import annotations

import math

import pytest
import torch

from engine.config import LossConfig
from engine.losses import functions as losses
from engine.losses.functions import build_objective

PRED = torch.tensor([0.0, 1.0, 2.0, 4.0])
Y = torch.tensor([0.5, 1.0, -1.0, 1.0])
# residuals r = y - ŷ = [0.5, 0, -3, -3]


def test_mse():
    assert losses.mse(PRED, Y).item() == pytest.approx((0.25 + 0 + 9 + 9) / 4)


def test_mae():
    assert losses.mae(PRED, Y).item() == pytest.approx((0.5 + 0 + 3 + 3) / 4)


def test_huber_quadratic_inside_linear_outside():
    # δ = 1: 0.5·0.25, 0, 1·(3 - 0.5), 1·(3 - 0.5)
    assert losses.huber(PRED, Y, 1.0).item() == pytest.approx((0.125 + 0 + 2.5 + 2.5) / 4)
    # δ = 4: every residual inside → ½r²
    assert losses.huber(PRED, Y, 4.0).item() == pytest.approx((0.125 + 0 + 4.5 + 4.5) / 4)


def test_smooth_l1_is_huber_over_delta():
    # δ = 2: 0.25/4, 0, 3 - 1, 3 - 1
    assert losses.smooth_l1(PRED, Y, 2.0).item() == pytest.approx((0.0625 + 0 + 2 + 2) / 4)
    assert losses.smooth_l1(PRED, Y, 2.0).item() == pytest.approx(
        losses.huber(PRED, Y, 2.0).item() / 2.0
    )


def test_log_cosh_matches_definition_and_is_stable():
    expected = sum(math.log(math.cosh(r)) for r in (0.5, 0, -3, -3)) / 4
    assert losses.log_cosh(PRED, Y).item() == pytest.approx(expected, rel=1e-6)
    big = losses.log_cosh(torch.tensor([0.0]), torch.tensor([1000.0])).item()
    assert big == pytest.approx(1000 - math.log(2), rel=1e-6)  # cosh(1000) overflows float


@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
def test_quantile_pinball(q):
    r = [0.5, 0.0, -3.0, -3.0]
    expected = sum(max(q * x, (q - 1) * x) for x in r) / 4
    assert losses.quantile(PRED, Y, q).item() == pytest.approx(expected)


def test_quantile_half_is_half_mae():
    assert losses.quantile(PRED, Y, 0.5).item() == pytest.approx(losses.mae(PRED, Y).item() / 2)


def test_penalties_skip_bias_and_add_to_any_loss():
    w = torch.tensor([[1.0, -2.0]])
    obj = build_objective(LossConfig(name="mae", l1=0.5, l2=0.1))
    expected = losses.mae(PRED, Y).item() + 0.5 * 3.0 + 0.1 * 5.0
    assert obj(PRED, Y, w).item() == pytest.approx(expected)
    assert obj.formula == "mean(|y-ŷ|) + 0.1·Σw² + 0.5·Σ|w|"


def test_builtin_binds_parameters():
    fn = losses.builtin("quantile", q=0.9)
    assert fn(PRED, Y).item() == pytest.approx(losses.quantile(PRED, Y, 0.9).item())
