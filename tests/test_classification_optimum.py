"""Classification optima against scikit-learn, on the bundled data as the engine prepares it.

Scaling (the README's): the engine minimises ``mean(loss_i) + l2·Σw²`` (bias not penalised).
scikit-learn's ``LogisticRegression`` and ``LinearSVC`` minimise ``½·Σw² + C·Σ loss_i``;
dividing the engine's objective by ``2·l2`` gives ``½·Σw² + Σ loss_i / (2·l2·n)``, so
``C = 1/(2·l2·n)`` for both.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

import engine
from engine.data.dataset import Dataset, load_dataset
from engine.losses.functions import build_objective
from engine.training.class_optimum import class_optimum

L2 = 0.01


def reference(preset: str, *overrides: str) -> tuple[Dataset, dict, list[str], engine.Config]:
    cfg = engine.load_config(preset, [f"loss.l2={L2}", *overrides])
    ds = load_dataset(cfg)
    warnings: list[str] = []
    opt = class_optimum(ds, cfg, build_objective(cfg.loss), lambda: False, warnings)
    assert opt is not None and opt["kind"] == "reference"
    return ds, opt, warnings, cfg


def c_of(ds: Dataset) -> float:
    return 1.0 / (2 * L2 * len(ds.train))


def test_log_loss_with_l2_is_logistic_regression() -> None:
    ds, opt, _, _ = reference("logistic")
    x, y = ds.train.x.double().numpy(), ds.train.y.numpy().astype(int)
    sk = LogisticRegression(C=c_of(ds), tol=1e-12, max_iter=100_000).fit(x, y)
    np.testing.assert_allclose(opt["weights"], sk.coef_[0], atol=1e-4)
    assert opt["bias"] == pytest.approx(float(sk.intercept_[0]), abs=1e-4)


def test_a_trained_logistic_run_comes_close_to_the_reference() -> None:
    cfg = engine.load_config(
        "logistic",
        [
            f"loss.l2={L2}",
            "early_stopping.monitor=train_loss",
            "early_stopping.patience=2000",
            "early_stopping.min_delta=0",
            "train.epochs=1500",
            "optim.lr=0.02",
            "train.device=cpu",
        ],
    )
    res = engine.fit(cfg)
    opt, fin = res.started.optimum, res.finished
    assert opt is not None and fin.train_loss is not None
    # float32 training against a float64 reference: within rounding of it, on either side
    assert abs(fin.train_loss - opt["loss"]) < 1e-5
    np.testing.assert_allclose(fin.weights, opt["weights"], atol=2e-3)


def hinge_objective(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    s = 2 * y - 1
    return float(np.maximum(0, 1 - s * (x @ w + b)).mean() + L2 * (w @ w))


def test_hinge_with_l2_is_a_linear_svm() -> None:
    """LinearSVC (liblinear, dual coordinate descent) penalises its intercept, as a weight on a
    constant feature ``intercept_scaling``: with a scaling of 100 that penalty is
    ``½·(b/100)²``, ~1e-5 of the objective here, so its solution is the unpenalised-bias one to
    the tolerance used. The hinge objective is not smooth and its minimiser is not strictly
    unique in every direction, so the objective values are compared tightly (1e-5, relative)
    and the weights loosely (5e-3): L-BFGS on a kinked function stops near, not at, a kink."""
    ds, opt, _, _ = reference("svm-hinge")
    x, y = ds.train.x.double().numpy(), ds.train.y.numpy().astype(int)
    sk = LinearSVC(
        loss="hinge", C=c_of(ds), intercept_scaling=100, tol=1e-10, max_iter=1_000_000, dual=True
    ).fit(x, y)
    ours = hinge_objective(x, y, np.array(opt["weights"]), opt["bias"])
    theirs = hinge_objective(x, y, sk.coef_[0], float(sk.intercept_[0]))
    assert ours == pytest.approx(opt["loss"], rel=1e-9)
    assert abs(ours - theirs) / theirs < 1e-5
    np.testing.assert_allclose(opt["weights"], sk.coef_[0], atol=5e-3)


def test_cross_entropy_with_l2_is_multinomial_logistic_regression() -> None:
    """Softmax is unchanged by adding a constant to every class's bias; the engine's L-BFGS
    starts from zero biases and keeps their sum 0 (the gradient's sum over classes is 0), and
    scikit-learn's symmetric parametrisation does the same; both are compared centred."""
    ds, opt, _, _ = reference("softmax")
    x, y = ds.train.x.double().numpy(), ds.train.y.numpy().astype(int)
    sk = LogisticRegression(C=c_of(ds), tol=1e-12, max_iter=100_000).fit(x, y)
    k, d = sk.coef_.shape
    np.testing.assert_allclose(np.array(opt["weights"]).reshape(k, d), sk.coef_, atol=1e-4)
    b = np.array(opt["bias"])
    np.testing.assert_allclose(b - b.mean(), sk.intercept_ - sk.intercept_.mean(), atol=1e-4)


def test_separable_classes_without_l2_warn_and_show_no_optimum() -> None:
    """Wine's three cultivars are linearly separable on the training split: cross-entropy then
    has no minimum without l2 (sklearn's unpenalised fit does not converge either)."""
    cfg = engine.load_config("softmax", ["loss.l2=0", "train.epochs=3", "train.device=cpu"])
    res = engine.fit(cfg)
    assert res.started.optimum is None
    assert any("separable" in w and "no minimum without l2" in w for w in res.started.warnings)
    # with l2 the optimum is finite, and the warning says the classes are separable only
    _ds, _opt, warnings, _ = reference("softmax")
    assert warnings == ["classes are separable on the training split"]


def test_overlapping_classes_are_not_called_separable(tmp_path) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 2, generator=g, dtype=torch.float64)
    y = (x[:, 0] + 1.5 * torch.randn(200, generator=g, dtype=torch.float64) > 0).long()
    rows = "\n".join(f"{a:.6f},{b:.6f},{int(c)}" for (a, b), c in zip(x.tolist(), y.tolist()))
    (tmp_path / "d.csv").write_text("a,b,label\n" + rows + "\n")
    cfg = engine.load_config(
        "logistic", [f"data.path={tmp_path / 'd.csv'}", "data.target=label", "loss.l2=0"]
    )
    ds = load_dataset(cfg)
    warnings: list[str] = []
    opt = class_optimum(ds, cfg, build_objective(cfg.loss), lambda: False, warnings)
    assert warnings == [] and opt is not None
    sk = LogisticRegression(C=np.inf, tol=1e-12, max_iter=100_000).fit(
        ds.train.x.double().numpy(), ds.train.y.numpy().astype(int)
    )
    np.testing.assert_allclose(opt["weights"], sk.coef_[0], atol=1e-4)
