"""The landscape: every cell equals the engine's own objective at those weights, the vectorised
grid does not depend on how rows are chunked, MSE's lowest cell is the closed-form conditional
minimiser, and the descent path is the one a real run logged."""

from __future__ import annotations

import pytest
import torch

import engine
from engine.core.events import EpochEnded, RunStarted
from engine.lab.landscape import axis, descent_path, landscape, objective_grid
from engine.lab.shape import ResidualLoss
from engine.losses.functions import build_objective
from tests.conftest import make_config


def _data(n: int = 300, d: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = (
        x @ torch.tensor([1.5, -2.0, 0.5, 3.0][:d], dtype=torch.float64)
        + 0.7
        + torch.randn(n, generator=g, dtype=torch.float64)
    )
    y[:5] += 15.0  # a few outliers, so the robust losses differ from MSE
    return x, y


@pytest.mark.parametrize(
    "loss_section",
    [
        {"name": "mse"},
        {"name": "huber", "delta": 0.8, "l1": 0.05, "l2": 0.1},
        {"name": "quantile", "quantile": 0.7, "l2": 0.02},
        {"terms": [{"name": "mse", "weight": 0.5}, {"name": "mae", "weight": 1.0}], "l1": 0.1},
    ],
)
def test_every_cell_is_the_engine_objective(loss_section):
    cfg = make_config(loss=loss_section)
    x, y = _data()
    held, bias = [1.0, -1.0, 0.4, 2.5], 0.3
    wi = torch.linspace(-1.0, 3.0, 7, dtype=torch.float64)
    wj = torch.linspace(-3.0, 1.0, 5, dtype=torch.float64)
    grid = objective_grid(
        ResidualLoss.from_config(cfg.loss),
        x,
        y,
        held,
        bias,
        0,
        1,
        wi,
        wj,
        l1=cfg.loss.l1,
        l2=cfg.loss.l2,
    )
    assert grid.shape == (5, 7)
    objective = build_objective(cfg.loss)
    for a in range(5):
        for b in range(7):
            w = torch.tensor([float(wi[b]), float(wj[a]), *held[2:]], dtype=torch.float64)
            expected = objective(x @ w + bias, y, w)
            assert float(grid[a, b]) == pytest.approx(float(expected), rel=1e-12)


def test_chunking_rows_changes_nothing():
    x, y = _data(n=1000)
    loss = ResidualLoss.named("log_cosh")
    wi, wj = axis([0.0, 3.0], count=9), axis([-3.0, 0.0], count=11)
    whole = objective_grid(loss, x, y, [1.0, -2.0, 0.5, 3.0], 0.7, 0, 1, wi, wj, l2=0.1)
    chunked = objective_grid(
        loss, x, y, [1.0, -2.0, 0.5, 3.0], 0.7, 0, 1, wi, wj, l2=0.1, max_cells=500
    )  # 5 rows per block
    assert torch.allclose(whole, chunked, rtol=1e-12)


def test_mse_lowest_cell_is_the_conditional_least_squares_minimiser():
    x, y = _data()
    held, bias, i, j = [1.0, -1.0, 0.4, 2.5], 0.3, 2, 3
    # with the others fixed, (w_i, w_j) solves the 2x2 normal equation on the partial residual
    rest = torch.tensor(held, dtype=torch.float64)
    rest[[i, j]] = 0.0
    target = y - x @ rest - bias
    pair = x[:, [i, j]]
    best = torch.linalg.solve(pair.T @ pair, pair.T @ target)
    step = 0.05
    wi = best[0] + step * torch.arange(-10, 11, dtype=torch.float64)
    wj = best[1] + step * torch.arange(-10, 11, dtype=torch.float64)
    out = landscape(
        ResidualLoss.named("mse"), x, y, held, bias, i, j, wi=wi, wj=wj, names=["a", "b", "c", "d"]
    )
    assert out["lowest"]["wi"] == pytest.approx(float(best[0]), abs=1e-12)
    assert out["lowest"]["wj"] == pytest.approx(float(best[1]), abs=1e-12)
    assert out["names"] == ["c", "d"] and len(out["values"]) == 21
    assert out["values"][10][10] == out["lowest"]["value"]


def test_bad_indices_are_refused():
    x, y = _data()
    loss = ResidualLoss.named("mse")
    wi = axis([0.0])
    with pytest.raises(ValueError, match="two different weight indices"):
        objective_grid(loss, x, y, [0.0] * 4, 0.0, 1, 1, wi, wi)
    with pytest.raises(ValueError, match="two different weight indices"):
        objective_grid(loss, x, y, [0.0] * 4, 0.0, 0, 4, wi, wi)
    with pytest.raises(ValueError, match="expected 4 weights"):
        objective_grid(loss, x, y, [0.0] * 3, 0.0, 0, 1, wi, wi)


def test_descent_path_of_a_real_run_and_a_grid_around_it():
    cfg = engine.load_config(
        "default", ["train.epochs=15", "train.device=cpu", "early_stopping.enabled=false"]
    )
    result = engine.fit(cfg)
    path = descent_path(result.events, 0, 2)
    assert path["epochs"] == list(range(1, 16))
    assert path["wi"] == [e.weights[0] for e in result.epochs]
    assert path["wj"] == [e.weights[2] for e in result.epochs]
    assert path["optimum"] == [
        result.started.optimum["weights"][0],
        result.started.optimum["weights"][2],
    ]
    assert path["final"] == [result.finished.weights[0], result.finished.weights[2]]
    from engine.data.dataset import load_dataset

    ds = load_dataset(cfg)
    out = landscape(
        ResidualLoss.named("mse"),
        ds.train.x,
        ds.train.y,
        result.finished.weights,
        result.finished.bias,
        0,
        2,
        path=path,
        points=15,
    )
    for k, (a, b) in enumerate(zip(path["wi"], path["wj"], strict=True)):  # the grid holds it
        assert out["wi"][0] < a < out["wi"][-1] and out["wj"][0] < b < out["wj"][-1], k
    assert out["wi"][0] < path["optimum"][0] < out["wi"][-1]


def test_descent_path_skips_epochs_whose_weights_were_thinned():
    started = RunStarted(
        {}, "cpu", "cpu", 10, 0, 0, 2, ["a", "b"], 3, "mse", optimum={"weights": [1.0, 2.0]}
    )

    def epoch(k: int, weights: list[float] | None) -> EpochEnded:
        return EpochEnded(k, 3, 1.0, None, None, None, False, 0, 1, 0.1, weights, 0.0, 0.0, 0.0)

    path = descent_path([started, epoch(1, [0.1, 0.2]), epoch(2, None), epoch(3, [0.3, 0.4])], 1, 0)
    assert path == {
        "epochs": [1, 3],
        "wi": [0.2, 0.4],
        "wj": [0.1, 0.3],
        "optimum": [2.0, 1.0],
        "final": None,
    }
