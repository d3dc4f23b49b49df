"""Classification metrics against ``sklearn.metrics``, labels, config refusals, early stopping
on val_accuracy and ``check-loss`` for a user loss given logits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

import engine
from engine.config import ConfigError
from engine.data.raw_source import class_labels
from engine.losses.check import check_loss
from engine.training.classify import class_sums, evaluate_classes, from_class_sums
from engine.training.early_stopping import EarlyStopping
from tests.conftest import make_config


def _binary(n: int = 300, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=g) < 0.4).double()
    z = (2 * y - 1) * 0.8 + torch.randn(n, generator=g, dtype=torch.float64)
    z[:40] = torch.round(z[:40])  # ties, which the AUC counts half
    return z, y


def test_binary_metrics_equal_sklearn() -> None:
    z, y = _binary()
    got, cm = evaluate_classes(z, y, 2)
    p, yt = torch.sigmoid(z).numpy(), y.numpy().astype(int)
    pred = (z > 0).long().numpy()
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(yt, pred), abs=1e-12)
    assert got["log_loss"] == pytest.approx(skm.log_loss(yt, p), rel=1e-9)
    assert got["f1"] == pytest.approx(skm.f1_score(yt, pred), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(yt, z.numpy()), abs=1e-12)
    assert cm == skm.confusion_matrix(yt, pred).tolist()


def test_multiclass_metrics_equal_sklearn() -> None:
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 4, (250,), generator=g).double()
    z = torch.randn(250, 4, generator=g, dtype=torch.float64)
    z[torch.arange(250), y.long()] += 0.7
    got, cm = evaluate_classes(z, y, 4)
    p, yt = torch.softmax(z, 1).numpy(), y.numpy().astype(int)
    pred = z.argmax(1).numpy()
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(yt, pred), abs=1e-12)
    assert got["log_loss"] == pytest.approx(skm.log_loss(yt, p), rel=1e-9)
    assert got["f1"] == pytest.approx(skm.f1_score(yt, pred, average="macro"), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(yt, p, multi_class="ovr"), abs=1e-12)
    assert cm == skm.confusion_matrix(yt, pred).tolist()


def test_a_class_never_predicted_scores_f1_zero_as_sklearn() -> None:
    y = torch.tensor([0.0, 1.0, 2.0, 2.0])
    z = torch.tensor([[2.0, 0, 0], [2.0, 0, 0], [0, 0, 2.0], [0, 0, 2.0]])
    sums = class_sums(z, y, 3).tolist()
    got = from_class_sums(sums, 4, 3)
    assert got["f1"] == pytest.approx(
        skm.f1_score([0, 1, 2, 2], [0, 0, 2, 2], average="macro", zero_division=0)
    )


def test_a_run_reports_the_metrics_of_its_weights_as_sklearn_does() -> None:
    cfg = engine.load_config("logistic", ["train.epochs=30", "train.device=cpu"])
    res = engine.fit(cfg)
    from engine.data.dataset import load_dataset

    ds, fin = load_dataset(cfg), res.finished
    w, b = np.array(fin.weights), float(fin.bias)  # type: ignore[arg-type]
    z = ds.test.x.double().numpy() @ w + b
    yt = ds.test.y.numpy().astype(int)
    m = fin.metrics["test"]
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(yt, z > 0), abs=1e-12)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(yt, z), abs=1e-6)
    assert m["log_loss"] == pytest.approx(skm.log_loss(yt, 1 / (1 + np.exp(-z))), rel=1e-4)
    assert fin.confusion is not None
    assert fin.confusion["test"] == skm.confusion_matrix(yt, z > 0).tolist()
    assert set(res.epochs[-1].metrics["val"]) == {"accuracy", "log_loss", "f1"}
    assert res.started.task == "binary" and res.started.classes == [0.0, 1.0]


def test_binary_targets_are_mapped_with_a_message() -> None:
    labels, classes, message = class_labels(torch.tensor([4.0, 2.0, 2.0, 4.0]), "binary")
    assert labels.tolist() == [1.0, 0.0, 0.0, 1.0] and classes == [2.0, 4.0]
    assert message == "binary target: classes mapped 2 → 0, 4 → 1"
    assert class_labels(torch.tensor([0.0, 1.0]), "binary")[2] is None
    with pytest.raises(ConfigError) as err:
        class_labels(torch.tensor([0.0, 1.0, 2.0]), "binary")
    assert err.value.key == "data.target" and "multiclass" in str(err.value)


def test_a_csv_target_with_other_values_says_how_it_was_mapped(tmp_path) -> None:
    rows = "\n".join(f"{i % 7},{i % 5},{2 + 2 * (i % 2)}" for i in range(40))
    (tmp_path / "d.csv").write_text("a,b,label\n" + rows + "\n")
    cfg = engine.load_config(
        "logistic", [f"data.path={tmp_path / 'd.csv'}", "data.target=label", "train.epochs=2"]
    )
    res = engine.fit(cfg)
    assert "binary target: classes mapped 2 → 0, 4 → 1" in res.started.warnings
    assert res.started.classes == [2.0, 4.0]


@pytest.mark.parametrize(
    ("task", "loss", "wanted"),
    [
        ("binary", "mse", "regression"),
        ("regression", "log_loss", "binary"),
        ("multiclass", "hinge", "binary"),
        ("binary", "cross_entropy", "multiclass"),
    ],
)
def test_a_loss_of_another_task_is_refused_in_one_line(task: str, loss: str, wanted: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_config(model={"task": task}, loss={"name": loss})
    assert err.value.key == "loss.name" and "\n" not in str(err.value)
    assert f"is a {wanted} loss but model.task is {task}" in str(err.value)


def test_classification_refuses_target_scaling_and_regression_refuses_val_accuracy() -> None:
    with pytest.raises(ConfigError) as err:
        make_config(
            model={"task": "binary"}, loss={"name": "log_loss"}, data={"standardize_target": True}
        )
    assert err.value.key == "data.standardize_target"
    with pytest.raises(ConfigError) as err:
        make_config(early_stopping={"monitor": "val_accuracy"})
    assert err.value.key == "early_stopping.monitor"
    make_config(
        model={"task": "multiclass"},
        loss={"name": "cross_entropy"},
        early_stopping={"monitor": "val_accuracy"},
    )


def test_early_stopping_maximises_val_accuracy() -> None:
    es = EarlyStopping(patience=2, min_delta=0.01, monitor="val_accuracy")
    assert es.update(1, 0.80) and es.best == 0.80
    assert not es.update(2, 0.805)  # not above best + min_delta
    assert es.update(3, 0.90) and es.best_epoch == 3
    assert not es.update(4, 0.5) and not es.update(5, math.nan)
    assert es.should_stop and es.best == 0.90


def test_a_run_stops_on_val_accuracy_and_restores_its_best_epoch() -> None:
    cfg = make_config(
        model={"task": "binary"},
        loss={"name": "log_loss"},
        data={"n_samples": 300, "n_features": 3},
        optim={"name": "adam", "lr": 0.05},
        train={"epochs": 400, "device": "cpu"},
        early_stopping={"monitor": "val_accuracy", "patience": 15, "min_delta": 0.0},
    )
    res = engine.fit(cfg)
    fin, epochs = res.finished, res.epochs
    accs = [e.metrics["val"]["accuracy"] for e in epochs]
    best = max(accs)
    assert fin.reason == "early_stopped" and fin.best_monitor == best
    assert fin.best_epoch == accs.index(best) + 1  # the first epoch reaching the maximum
    assert fin.metrics["val"]["accuracy"] == pytest.approx(best)
    assert "no val_accuracy improvement" in fin.message


def test_softmax_trains_with_k_outputs() -> None:
    cfg = engine.load_config("softmax", ["train.epochs=20", "train.device=cpu"])
    res = engine.fit(cfg)
    d = res.started.n_features
    assert len(res.finished.weights) == 3 * d and len(res.finished.bias) == 3  # type: ignore
    assert res.finished.metrics["train"]["accuracy"] > 0.9


USER = """
import torch.nn.functional as F


def my_log_loss(z, y):
    return F.binary_cross_entropy_with_logits(z, y)


def swapped(z, y):
    return F.binary_cross_entropy_with_logits(-z, y)
"""


def test_check_loss_judges_a_user_loss_given_logits(tmp_path) -> None:
    (tmp_path / "cl.py").write_text(USER)
    good = check_loss(f"{tmp_path / 'cl.py'}:my_log_loss", task="binary")
    assert good.ok, good.summary
    assert [p.name for p in good.properties][-1] == "margin"
    bad = check_loss(f"{tmp_path / 'cl.py'}:swapped", task="binary")
    assert not bad.ok and "margin" in bad.summary
    # the same user loss trains a binary run (its pre-flight check uses the logits)
    cfg = make_config(
        model={"task": "binary"},
        loss={"name": "custom", "callable": f"{tmp_path / 'cl.py'}:my_log_loss"},
        data={"n_samples": 200},
        train={"epochs": 5, "device": "cpu"},
    )
    assert engine.fit(cfg).finished.reason == "completed"
