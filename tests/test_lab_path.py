"""The regularisation path against scikit-learn at every λ, with the README's scaling.

Ours, per λ (bias never penalised):  ridge ``mean((y-ŷ)²) + λ·Σw²``, lasso ``+ λ·Σ|w|``, elastic
net ``+ λ·(ρ·Σ|w| + (1-ρ)·Σw²)``. scikit-learn's ``Ridge`` sums the squared errors:
``|r|² + α|w|²`` is ``n`` times ours when ``α = n·λ``. ``Lasso`` halves the mean:
``|r|²/(2n) + α|w|₁`` is half of ours when ``α = λ/2``. ``ElasticNet``:
``|r|²/(2n) + αρ'|w|₁ + ½α(1-ρ')|w|²`` is half of ours when ``αρ' = l1/2`` and ``α(1-ρ') = l2``
with ``l1 = ρλ``, ``l2 = (1-ρ)λ``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import ElasticNet, Lasso, Ridge
from sklearn.metrics import mean_squared_error, r2_score

import engine
from engine.config import ConfigError
from engine.data.dataset import load_dataset
from engine.lab.coordinate import enet_fit
from engine.lab.path import coefficient_path, config_path, regularisation_path

TOL = 1e-5


def _sklearn(penalty: str, lam: float, n: int, rho: float, bias: bool = True):
    if penalty == "l2":
        return Ridge(alpha=n * lam, fit_intercept=bias, solver="cholesky")
    if penalty == "l1":
        return Lasso(alpha=lam / 2, fit_intercept=bias, tol=1e-14, max_iter=1_000_000)
    l1, l2 = rho * lam, (1 - rho) * lam
    alpha = l1 / 2 + l2
    return ElasticNet(
        alpha=alpha, l1_ratio=(l1 / 2) / alpha, fit_intercept=bias, tol=1e-14, max_iter=1_000_000
    )


def test_the_scalings_give_the_same_objective_up_to_a_constant_factor():
    g = np.random.default_rng(3)
    x, y, w, b = g.normal(size=(40, 3)), g.normal(size=40), g.normal(size=3), 0.3
    n, lam, rho = 40, 0.37, 0.3
    r = y - x @ w - b
    ours = {
        "l2": r @ r / n + lam * w @ w,
        "l1": r @ r / n + lam * np.abs(w).sum(),
        "elasticnet": r @ r / n + lam * (rho * np.abs(w).sum() + (1 - rho) * w @ w),
    }
    theirs_ridge = r @ r + n * lam * w @ w
    assert ours["l2"] == pytest.approx(theirs_ridge / n)
    lasso = _sklearn("l1", lam, n, rho)
    assert ours["l1"] == pytest.approx(2 * (r @ r / (2 * n) + lasso.alpha * np.abs(w).sum()))
    en = _sklearn("elasticnet", lam, n, rho)
    theirs_en = (
        r @ r / (2 * n)
        + en.alpha * en.l1_ratio * np.abs(w).sum()
        + 0.5 * en.alpha * (1 - en.l1_ratio) * w @ w
    )
    assert ours["elasticnet"] == pytest.approx(2 * theirs_en)


@pytest.fixture(scope="module", params=["default", "diabetes"])
def prepared(request):
    """A preset's prepared data (diabetes: ten correlated columns, a hard case for descent)."""
    return load_dataset(engine.load_config(request.param))


@pytest.mark.parametrize(
    "penalty,rho", [("l2", 0.0), ("l1", 1.0), ("elasticnet", 0.3), ("elasticnet", 0.8)]
)
def test_path_equals_scikit_learn_at_every_lambda(prepared, penalty, rho):
    path = regularisation_path(prepared, penalty, l1_ratio=rho, n_lambdas=30)
    x = prepared.train.x.double().numpy()
    y = prepared.train.y.double().numpy()
    assert path.converged and len(path.lambdas) == 30
    assert path.lambdas == sorted(path.lambdas, reverse=True)
    for lam, coefs, b in zip(path.lambdas, path.coefs, path.intercepts, strict=True):
        model = _sklearn(penalty, lam, len(y), rho).fit(x, y)
        np.testing.assert_allclose(coefs, model.coef_, rtol=0, atol=TOL, err_msg=f"λ={lam}")
        assert b == pytest.approx(model.intercept_, abs=TOL)
    if penalty != "l2":  # λ_max is the smallest λ with every coefficient 0
        assert path.nonzero[0] == 0 and path.nonzero[1] > 0
        assert path.nonzero[-1] == prepared.train.x.shape[1]


def test_validation_error_along_the_path_and_the_best_lambda(prepared):
    path = regularisation_path(prepared, "l1", n_lambdas=25)
    xv = prepared.val.x.double().numpy()
    yv = prepared.val.y.double().numpy()
    s = prepared.y_std
    for k in range(25):
        pred = xv @ np.array(path.coefs[k]) + path.intercepts[k]
        assert path.val_mse[k] == pytest.approx(mean_squared_error(yv * s, pred * s), rel=1e-9)
        assert path.val_r2[k] == pytest.approx(r2_score(yv, pred), rel=1e-9, abs=1e-12)
    assert path.best == int(np.argmin(path.val_mse))
    out = path.to_dict()
    assert out["best_lambda"] == path.lambdas[path.best]


def test_ridge_without_a_bias_and_given_lambdas_in_any_order():
    ds = load_dataset(engine.load_config("default", ["model.bias=false"]))
    lambdas = torch.tensor([0.01, 3.0, 0.2], dtype=torch.float64)
    for penalty in ("l2", "l1"):
        got, coefs, intercepts, ok = coefficient_path(
            ds.train.x, ds.train.y, penalty, lambdas=lambdas, bias=False
        )
        assert ok and got.tolist() == lambdas.tolist() and intercepts.tolist() == [0.0] * 3
        x, y = ds.train.x.double().numpy(), ds.train.y.double().numpy()
        for lam, row in zip(lambdas.tolist(), coefs.tolist(), strict=True):
            model = _sklearn(penalty, lam, len(y), 1.0, bias=False).fit(x, y)
            np.testing.assert_allclose(row, model.coef_, rtol=0, atol=TOL)


def test_config_path_uses_the_preset_data_and_bias():
    cfg = engine.load_config("ridge")
    path = config_path(cfg, "elasticnet", l1_ratio=0.5, n_lambdas=5)
    ds = load_dataset(cfg)
    assert path.n_train == len(ds.train) and path.n_val == len(ds.val)
    assert path.feature_names == ds.feature_names
    assert path.objective == "mean((y - Xw - b)²) + λ·(0.5·Σ|w| + 0.5·Σw²)"


def test_warm_start_reaches_the_same_minimiser_as_a_cold_start():
    ds = load_dataset(engine.load_config("diabetes"))
    x = ds.train.x.double() - ds.train.x.double().mean(0)
    y = ds.train.y.double() - ds.train.y.double().mean()
    a, c = x.T @ x / len(y), x.T @ y / len(y)
    cold, _, ok_cold = enet_fit(a, c, 0.01, 0.002)
    warm, _, ok_warm = enet_fit(a, c, 0.01, 0.002, w0=torch.linspace(-1, 1, 10))
    assert ok_cold and ok_warm
    assert torch.allclose(cold, warm, atol=1e-10)


def test_bad_penalty_or_ratio_is_a_config_error():
    ds = load_dataset(engine.load_config("default"))
    with pytest.raises(ConfigError, match="--penalty must be one of"):
        regularisation_path(ds, "l3")
    with pytest.raises(ConfigError, match=r"--l1-ratio must be in \(0, 1\]"):
        regularisation_path(ds, "elasticnet", l1_ratio=0.0)
    with pytest.raises(ConfigError, match="min_ratio"):
        regularisation_path(ds, "l1", min_ratio=2.0)
