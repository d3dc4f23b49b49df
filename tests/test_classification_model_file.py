"""A classifier's model.pt keeps its task, classes and K×d weights; predict gives its
probabilities and classes (checked against scikit-learn in tests/test_predict_classifier.py)."""

from __future__ import annotations

import pytest
import torch

import engine
from engine.core.errors import RunError


def test_a_softmax_model_file_keeps_its_classes_and_shapes(tmp_path):
    cfg = engine.load_config("softmax", ["train.epochs=5"])
    run = engine.record(cfg, runs_dir=tmp_path)
    model = engine.load_model(run)
    started = engine.fit(cfg).started
    assert model.task == "multiclass" and model.classes == started.classes
    assert model.weight.shape == (len(started.classes), len(model.feature_names))
    assert model.bias is not None and model.bias.shape == (len(started.classes),)
    prob, classes = model.predict(torch.zeros(1, len(model.raw_features)))
    assert prob.shape == (1, len(started.classes)) and float(prob.sum()) == pytest.approx(1)
    assert classes.tolist()[0] in started.classes
    with pytest.raises(RunError, match="multiclass classifier"):
        model.regress(torch.zeros(1, len(model.raw_features)))


def test_a_regression_model_file_still_predicts(tmp_path):
    run = engine.record(engine.load_config("default", ["train.epochs=5"]), runs_dir=tmp_path)
    model = engine.load_model(run)
    assert model.task == "regression" and model.weight.shape[0] == 1
    assert model.predict(torch.zeros(3, len(model.raw_features))).shape == (3,)
