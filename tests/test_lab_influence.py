"""Row influence: contributions sum to the loss the engine computes, the top shares and robust
z-scores match hand and numpy answers, and the top rows are the largest contributions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.lab.influence import contributions, robust_z, row_influence, top_share
from engine.lab.shape import ResidualLoss
from engine.losses.functions import loss_function
from engine.registry import LOSSES


def _data(n: int = 400, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets and predictions with a few gross outliers among normal residuals."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(n, generator=g, dtype=torch.float64) * 3
    r = torch.randn(n, generator=g, dtype=torch.float64) * 0.5
    r[:4] = torch.tensor([25.0, -30.0, 18.0, 40.0], dtype=torch.float64)
    return y, y - r


@pytest.mark.parametrize("name", list(LOSSES))
def test_contributions_sum_to_the_registered_loss(name):
    y, pred = _data()
    loss = ResidualLoss.named(name)
    c = contributions(loss, y - pred)
    fn = loss_function(LOSSES[name])
    assert float(c.sum()) == pytest.approx(float(fn(pred, y, **LOSSES[name].values())), rel=1e-12)
    assert bool((c >= 0).all())


def test_top_share_by_hand():
    c = torch.tensor([5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    assert top_share(c, 0.10) == pytest.approx(0.5)  # ⌈1⌉ row of 10: 5 of 10
    assert top_share(c, 0.01) == pytest.approx(0.5)  # at least one row
    assert top_share(c, 0.35) == pytest.approx(0.8)  # ⌈3.5⌉ = 4 rows: 5+1+1+1
    assert top_share(torch.zeros(5, dtype=torch.float64), 0.1) is None


def test_robust_z_matches_numpy_median_and_mad():
    y, pred = _data(301)
    r = (y - pred).numpy()
    med = np.median(r)
    mad = np.median(np.abs(r - med))
    expected = (r - med) / (1.4826 * mad)
    assert np.allclose(robust_z(torch.from_numpy(r)).numpy(), expected, rtol=1e-12)
    even = r[:300]  # an even count: numpy averages the two middle values, and so must we
    med, mad = np.median(even), np.median(np.abs(even - np.median(even)))
    assert np.allclose(
        robust_z(torch.from_numpy(even)).numpy(), (even - med) / (1.4826 * mad), rtol=1e-12
    )


def test_robust_z_with_zero_mad_is_infinite_off_the_median():
    r = torch.tensor([0.0, 0.0, 0.0, 0.0, 2.0], dtype=torch.float64)
    assert robust_z(r).tolist() == [0.0, 0.0, 0.0, 0.0, float("inf")]
    out = row_influence(ResidualLoss.named("mse"), r, torch.zeros(5, dtype=torch.float64), k=2)
    assert out["top"][0]["robust_z"] is None  # strict JSON has no inf
    json.dumps(out, allow_nan=False)


def test_row_influence_huber_beside_mse():
    y, pred = _data()
    rows = torch.arange(1000, 1400)
    out = row_influence(ResidualLoss.named("huber"), y, pred, rows=rows, k=5)
    r = (y - pred).numpy()
    huber = np.where(np.abs(r) <= 1, 0.5 * r**2, np.abs(r) - 0.5) / len(r)
    mse = r**2 / len(r)
    assert out["n"] == 400 and out["rows_from"] == "data"
    assert out["loss"]["total"] == pytest.approx(huber.sum())
    assert out["mse"]["total"] == pytest.approx(mse.sum())
    order = np.argsort(-huber)[:5]
    assert [t["row"] for t in out["top"]] == [1000 + i for i in order]
    assert [t["contribution"] for t in out["top"]] == pytest.approx(huber[order].tolist())
    assert [t["mse_contribution"] for t in out["top"]] == pytest.approx(mse[order].tolist())
    assert [t["residual"] for t in out["top"]] == pytest.approx(r[order].tolist())
    assert out["top"][0]["row"] == 1003 and out["top"][0]["residual"] == pytest.approx(40.0)
    # the 4 outliers are 1% of the rows: they carry most of MSE's loss, far less of Huber's
    assert out["mse"]["share_top"]["1%"] > 0.9
    assert out["loss"]["share_top"]["1%"] < out["mse"]["share_top"]["1%"]
    assert out["loss"]["share_top"]["1%"] == pytest.approx(np.sort(huber)[-4:].sum() / huber.sum())
    json.dumps(out, allow_nan=False)


def test_without_source_rows_a_row_is_its_index_in_the_split():
    y, pred = _data(50)
    out = row_influence(ResidualLoss.named("mae"), y, pred, k=3)
    assert out["rows_from"] == "split"
    assert [t["row"] for t in out["top"]] == [3, 1, 0]  # |r| = 40, 30, 25
