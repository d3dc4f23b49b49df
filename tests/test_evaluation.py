"""Evaluation against references: metrics, exact optima, gap, features, outliers, CV, real data."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression, QuantileRegressor, Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

import engine
from engine.cli.main import main
from engine.config import ConfigError
from engine.data.dataset import fold_indices, load_dataset, split_indices
from engine.data.raw_source import read_source
from engine.losses.functions import build_objective
from engine.training.metrics import evaluate
from engine.training.optimum import objective_value, optimum_info
from tests.conftest import make_config


def np64(t: torch.Tensor) -> np.ndarray:
    return t.double().numpy()


def test_metrics_equal_scikit_learn():
    g = torch.Generator().manual_seed(0)
    y, pred = torch.randn(500, generator=g), torch.randn(500, generator=g)
    m = evaluate(pred, y)
    assert m["mse"] == pytest.approx(mean_squared_error(np64(y), np64(pred)), rel=1e-6)
    assert m["rmse"] == pytest.approx(np.sqrt(mean_squared_error(np64(y), np64(pred))), rel=1e-6)
    assert m["mae"] == pytest.approx(mean_absolute_error(np64(y), np64(pred)), rel=1e-6)
    assert m["r2"] == pytest.approx(r2_score(np64(y), np64(pred)), rel=1e-5)


def test_run_metrics_equal_scikit_learn_on_the_runs_own_predictions():
    cfg = make_config(
        data={"n_samples": 300, "test_fraction": 0.2, "standardize_target": True},
        train={"epochs": 50},
    )
    res = engine.fit(cfg)
    ds = load_dataset(cfg)
    fin = res.finished
    for name, split in (("train", ds.train), ("val", ds.val), ("test", ds.test)):
        pred = (split.x @ torch.tensor(fin.weights) + fin.bias) * ds.y_std + ds.y_mean
        y = split.y * ds.y_std + ds.y_mean
        assert fin.metrics[name]["mse"] == pytest.approx(
            mean_squared_error(np64(y), np64(pred)), rel=1e-4
        )
        assert fin.metrics[name]["mae"] == pytest.approx(
            mean_absolute_error(np64(y), np64(pred)), rel=1e-4
        )
        assert fin.metrics[name]["r2"] == pytest.approx(r2_score(np64(y), np64(pred)), abs=1e-5)
    # per-epoch validation metrics are at the epoch's final weights: the last epoch's equal the
    # final ones when nothing was restored
    if fin.restored_epoch is None:
        assert res.epochs[-1].metrics["val"]["mse"] == pytest.approx(
            fin.metrics["val"]["mse"], rel=1e-5
        )


@pytest.mark.parametrize("bias", [True, False])
def test_mse_optimum_equals_lstsq_and_linear_regression(bias):
    cfg = make_config(
        data={"n_samples": 300, "n_features": 5, "standardize": False}, model={"bias": bias}
    )
    ds = load_dataset(cfg)
    opt, cond = optimum_info(ds, cfg, build_objective(cfg.loss))
    assert opt["kind"] == "exact" and cond >= 1
    x, y = np64(ds.train.x), np64(ds.train.y)
    ref = LinearRegression(fit_intercept=bias).fit(x, y)
    assert opt["weights"] == pytest.approx(ref.coef_.tolist(), abs=1e-8)
    a = torch.tensor(np.hstack([x, np.ones((len(x), 1))]) if bias else x)
    sol = torch.linalg.lstsq(a, torch.tensor(y).unsqueeze(1)).solution.squeeze(1)
    assert opt["weights"] == pytest.approx(sol[:5].tolist(), abs=1e-8)
    if bias:
        assert opt["bias"] == pytest.approx(float(ref.intercept_), abs=1e-8)
    else:
        assert opt["bias"] is None
    assert opt["loss"] == pytest.approx(mean_squared_error(y, ref.predict(x)), rel=1e-10)


def test_mse_plus_l2_optimum_equals_ridge_with_converted_scaling():
    l2 = 0.3
    cfg = make_config(data={"n_samples": 200, "n_features": 6}, loss={"l2": l2})
    ds = load_dataset(cfg)
    opt, _ = optimum_info(ds, cfg, build_objective(cfg.loss))
    n = len(ds.train)
    ref = Ridge(alpha=n * l2).fit(np64(ds.train.x), np64(ds.train.y))  # alpha = n·l2
    assert opt["weights"] == pytest.approx(ref.coef_.tolist(), abs=1e-9)
    assert opt["bias"] == pytest.approx(float(ref.intercept_), abs=1e-9)


def test_gradient_descent_gap_shrinks_to_zero():
    cfg = make_config(
        data={"n_samples": 400, "n_features": 4},
        optim={"lr": 0.2},
        train={"epochs": 200},
        early_stopping={"enabled": False},
    )
    res = engine.fit(cfg)
    gaps = [e.gap for e in res.epochs]
    assert res.started.optimum["kind"] == "exact"
    assert all(g >= -1e-6 for g in gaps)  # full batch: never below the optimum
    assert all(b <= a + 1e-7 for a, b in itertools.pairwise(gaps))  # GD on a quadratic: monotone
    assert gaps[0] > 1.0 and gaps[-1] < 1e-5 * res.started.optimum["loss"]


def test_quantile_reference_matches_quantile_regressor():
    cfg = make_config(
        data={"n_samples": 400, "n_features": 2, "noise": 2.0},
        loss={"name": "quantile", "quantile": 0.9},
    )
    ds = load_dataset(cfg)
    obj = build_objective(cfg.loss)
    opt, _ = optimum_info(ds, cfg, obj)
    assert opt["kind"] == "reference"
    ref = QuantileRegressor(quantile=0.9, alpha=0, solver="highs").fit(
        np64(ds.train.x), np64(ds.train.y)
    )
    ref_loss = objective_value(
        obj, ds.train.x, ds.train.y, torch.tensor(ref.coef_), float(ref.intercept_)
    )
    assert opt["loss"] == pytest.approx(ref_loss, rel=1e-5)
    assert opt["weights"] == pytest.approx(ref.coef_.tolist(), abs=0.05)
    assert opt["bias"] == pytest.approx(float(ref.intercept_), abs=0.05)


def test_huber_reference_is_a_minimum():
    cfg = make_config(data={"n_samples": 300, "outlier_fraction": 0.1}, loss={"name": "huber"})
    ds = load_dataset(cfg)
    obj = build_objective(cfg.loss)
    opt, _ = optimum_info(ds, cfg, obj)
    w, b = torch.tensor(opt["weights"]), opt["bias"]
    for j in range(3):  # nudging any coefficient makes the objective worse
        for eps in (1e-3, -1e-3):
            w2 = w.clone()
            w2[j] += eps
            assert objective_value(obj, ds.train.x, ds.train.y, w2, b) > opt["loss"]


def test_polynomial_features_add_exactly_the_powers():
    base = load_dataset(make_config(data={"n_samples": 50, "standardize": False}))
    poly = load_dataset(make_config(data={"n_samples": 50, "standardize": False, "poly_degree": 3}))
    assert poly.feature_names == ["x1", "x2", "x3", "x1^2", "x2^2", "x3^2", "x1^3", "x2^3", "x3^3"]
    assert torch.equal(poly.train.x[:, :3], base.train.x)
    assert torch.allclose(poly.train.x[:, 3:6], base.train.x**2)
    assert torch.allclose(poly.train.x[:, 6:], base.train.x**3)
    assert torch.equal(poly.train.y, base.train.y)


def outlier_cfg(mode: str, **extra):
    return make_config(
        data={
            "n_samples": 500,
            "outlier_fraction": 0.1,
            "outliers": mode,
            "standardize": False,
            **extra,
        }
    )


def test_clip_winsorises_only_training_targets_to_training_quantiles():
    plain, clipped = load_dataset(outlier_cfg("none")), load_dataset(outlier_cfg("clip"))
    y = plain.train.y.double()
    lo, hi = np.quantile(y.numpy(), [0.01, 0.99])
    expected = np.clip(y.numpy(), lo, hi)
    assert np.allclose(clipped.train.y.double().numpy(), expected, atol=1e-5)
    assert clipped.outlier_rows == int(((y < lo) | (y > hi)).sum())
    assert torch.equal(clipped.val.y, plain.val.y) and torch.equal(clipped.train.x, plain.train.x)


def test_drop_removes_exactly_the_robust_z_outliers():
    plain, dropped = load_dataset(outlier_cfg("none")), load_dataset(outlier_cfg("drop"))
    y = plain.train.y.double().numpy()
    med = np.median(y)
    z = 0.6745 * np.abs(y - med) / np.median(np.abs(y - med))
    keep = z <= 3.5
    assert dropped.outlier_rows == int((~keep).sum()) > 0
    assert np.allclose(dropped.train.y.double().numpy(), y[keep], atol=1e-6)
    assert len(dropped.val) == len(plain.val)


def test_drop_makes_mse_robust_to_synthetic_outliers():
    def bias_error(mode):
        res = engine.fit(outlier_cfg(mode, standardize=True))
        return abs(res.finished.bias_original - res.started.true_bias)

    assert bias_error("drop") < 0.2 < bias_error("none")


def test_cv_folds_partition_the_non_test_rows():
    cfg = make_config(data={"n_samples": 103, "test_fraction": 0.1})
    raw = read_source(cfg)
    _, _, test = split_indices(103, cfg)
    rest = torch.tensor(sorted(set(range(103)) - set(test.tolist())))
    folds = fold_indices(rest, 5, cfg.seed)
    joined = torch.cat(folds)
    assert sorted(joined.tolist()) == rest.tolist()  # disjoint and complete
    assert {len(f) for f in folds} <= {18, 19}
    assert [f.tolist() for f in fold_indices(rest, 5, cfg.seed)] == [f.tolist() for f in folds]
    assert raw.x.shape[0] == 103
    with pytest.raises(ConfigError, match="--folds"):
        fold_indices(rest, 1, 0)


def test_cv_cli_reports_each_fold_and_mean_std(capsys):
    code = main(
        ["cv", "--folds", "3", "--json", "--set", "data.n_samples=150", "--set", "train.epochs=30"]
    )
    assert code == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    folds = [x for x in lines if x["type"] == "FoldFinished"]
    assert [f["fold"] for f in folds] == [1, 2, 3]
    assert sum(f["n_val"] for f in folds) == 150
    last = lines[-1]
    assert last["type"] == "CrossValidated"
    r2 = [f["metrics"]["r2"] for f in folds]
    assert last["mean"]["r2"] == pytest.approx(np.mean(r2))
    assert last["std"]["r2"] == pytest.approx(np.std(r2))


def test_ill_conditioned_and_constant_features_are_warned(tmp_path):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, generator=g)
    b = a + 1e-4 * torch.randn(200, generator=g)
    rows = "a,b,k,y\n" + "".join(f"{x},{z},3,{2 * x}\n" for x, z in zip(a.tolist(), b.tolist()))
    (tmp_path / "d.csv").write_text(rows)
    cfg = make_config(
        data={"source": "csv", "path": str(tmp_path / "d.csv"), "target": "y"}, train={"epochs": 2}
    )
    started = engine.fit(cfg).started
    assert "feature 'k' is constant on the training split" in started.warnings
    assert any("ill-conditioned" in w for w in started.warnings)
    assert started.condition_number > 1e3


def test_bundled_diabetes_reaches_linear_regression_r2():
    cfg = engine.load_config("diabetes")
    fin = engine.fit(cfg).finished
    ds = load_dataset(cfg)
    ref = LinearRegression().fit(np64(ds.train.x), np64(ds.train.y))
    ref_r2 = r2_score(np64(ds.test.y), ref.predict(np64(ds.test.x)))
    assert fin.metrics["test"]["r2"] == pytest.approx(ref_r2, abs=0.01)
    assert ds.shape == (442, 10)


def test_the_gap_to_an_exact_optimum_is_never_negative_but_to_a_reference_it_may_be():
    from engine.training.trainer import optimality_gap

    assert optimality_gap(0.5 - 3e-9, {"kind": "exact", "loss": 0.5}) == 0.0
    assert optimality_gap(0.75, {"kind": "exact", "loss": 0.5}) == 0.25
    assert optimality_gap(0.5 - 1e-3, {"kind": "reference", "loss": 0.5}) == pytest.approx(-1e-3)
    assert optimality_gap(0.5, None) is None
    # a converged full-batch MSE run: every reported gap is >= 0
    fin = engine.fit(
        engine.load_config(
            "default",
            [
                "train.epochs=400",
                "train.device=cpu",
                "early_stopping.enabled=false",
                "optim.lr=0.5",
            ],
        )
    )
    assert all(e.gap >= 0 for e in fin.epochs) and min(e.gap for e in fin.epochs) < 1e-6
