"""``predict`` for classifiers, ``load_model().predict`` on numpy arrays and lists, and
``predict --keep`` / integers written as integers.

Real answers: a classifier's probabilities equal scikit-learn's ``LogisticRegression.
predict_proba`` given the same weights (binary) and a softmax computed here with numpy
(multiclass), its classes the argmax in the training data's own values; the CLI's columns equal
the model's answers; kept columns are the input's bytes.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

import engine
from engine.core.errors import RunError
from engine.runs.model_file import LinearModel
from engine.runs.predictions import ClassPrediction
from tests.runs_helpers import ROOT, run

DATA = ROOT / "presets" / "data"


def _relabelled(src: Path, dest: Path, target: str, mapping: dict[str, str]) -> Path:
    """``src`` with its target column's values renamed (classes that are not 0..K-1)."""
    rows = list(csv.reader(src.read_text().splitlines()))
    j = rows[0].index(target)
    for row in rows[1:]:
        row[j] = mapping[row[j]]
    dest.write_text("\n".join(",".join(r) for r in rows) + "\n")
    return dest


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A binary run with classes 3 / 7, a multiclass one with 10 / 20 / 35, a regression run."""
    folder = tmp_path_factory.mktemp("runs")
    cancer = _relabelled(
        DATA / "breast_cancer.csv", folder / "cancer.csv", "benign", {"0": "3", "1": "7"}
    )
    wine = _relabelled(
        DATA / "wine.csv", folder / "wine.csv", "cultivar", {"0": "10", "1": "20", "2": "35"}
    )
    quick = ["train.epochs=25", "train.device=cpu"]
    return {
        "binary": engine.record(
            engine.load_config("logistic", [*quick, f"data.path={cancer}"]), folder
        ),
        "multiclass": engine.record(
            engine.load_config("softmax", [*quick, f"data.path={wine}"]), folder
        ),
        "regression": engine.record(engine.load_config("diabetes", quick), folder),
        "cancer": cancer,
        "wine": wine,
    }


def _rows(model: LinearModel, path: Path) -> np.ndarray:
    """The raw feature columns of a data file, float32, in the model's order."""
    with path.open() as fh:
        table = list(csv.reader(fh))
    idx = [table[0].index(n) for n in model.raw_features]
    return np.array([[float(r[i]) for i in idx] for r in table[1:]], dtype=np.float32)


def _standardised(model: LinearModel, x: np.ndarray) -> np.ndarray:
    assert model.x_mean is not None and model.x_std is not None
    return (x.astype(np.float64) - model.x_mean.double().numpy()) / model.x_std.double().numpy()


def test_binary_probabilities_equal_sklearn_predict_proba(runs: dict[str, Path]) -> None:
    model = engine.load_model(runs["binary"])
    assert model.task == "binary" and model.classes == [3.0, 7.0]
    x = _rows(model, runs["cancer"])
    ref = LogisticRegression()
    ref.coef_ = model.weight.double().numpy()
    ref.intercept_ = model.bias.double().numpy()
    ref.classes_ = np.array([3, 7])
    got = model.predict(x)
    assert isinstance(got, ClassPrediction)
    xs = _standardised(model, x)
    np.testing.assert_allclose(got.prob, ref.predict_proba(xs)[:, 1], rtol=1e-5, atol=1e-6)
    assert got.classes.dtype == np.int64
    assert got.classes.tolist() == ref.predict(xs).tolist()
    assert set(got.classes.tolist()) == {3, 7}


def test_multiclass_probabilities_are_the_softmax_and_classes_the_argmax(
    runs: dict[str, Path],
) -> None:
    model = engine.load_model(runs["multiclass"])
    assert model.classes == [10.0, 20.0, 35.0]
    x = _rows(model, runs["wine"])
    z = _standardised(model, x) @ model.weight.double().numpy().T + model.bias.double().numpy()
    e = np.exp(z - z.max(axis=1, keepdims=True))
    softmax = e / e.sum(axis=1, keepdims=True)
    prob, classes = model.predict(torch.from_numpy(x))
    assert prob.shape == (len(x), 3)
    np.testing.assert_allclose(prob.numpy(), softmax, rtol=1e-5, atol=1e-6)
    assert classes.tolist() == [[10, 20, 35][k] for k in z.argmax(axis=1)]


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_numpy_and_list_rows_give_what_a_tensor_gives_in_their_own_kind(
    runs: dict[str, Path], kind: str
) -> None:
    model = engine.load_model(runs[kind])
    path = {"binary": runs["cancer"], "multiclass": runs["wine"]}.get(kind, DATA / "diabetes.csv")
    x = _rows(model, path)[:20]
    by_tensor = model.predict(torch.from_numpy(x))
    by_numpy = model.predict(x.astype(np.float64))
    by_list = model.predict(x.tolist())
    if kind == "regression":
        assert isinstance(by_numpy, np.ndarray) and isinstance(by_list, list)
        assert by_numpy.tolist() == by_tensor.tolist() == by_list
        return
    assert isinstance(by_numpy.prob, np.ndarray) and isinstance(by_list.prob, list)
    assert by_numpy.prob.tolist() == by_tensor.prob.tolist() == by_list.prob
    assert by_numpy.classes.tolist() == by_tensor.classes.tolist() == by_list.classes
    assert all(type(c) is int for c in by_list.classes)


def test_rows_of_the_wrong_shape_or_type_are_one_clear_error(runs: dict[str, Path]) -> None:
    model = engine.load_model(runs["binary"])
    d = len(model.raw_features)
    with pytest.raises(RunError, match=f"expected rows of {d} features"):
        model.predict(np.zeros((2, d + 1)))
    with pytest.raises(RunError, match="all the same length"):
        model.predict([[0.0] * d, [0.0] * (d - 1)])
    with pytest.raises(RunError, match="an array of numbers"):
        model.predict(np.array([["a"] * d]))


def _predict(run_dir: Path, *args: str) -> list[list[str]]:
    proc = run(run_dir.parent, "predict", str(run_dir), *args)
    assert proc.returncode == 0, proc.stderr
    return list(csv.reader(io.StringIO(proc.stdout)))


def test_cli_binary_predict_writes_prob_and_class_as_the_model_gives(runs: dict[str, Path]) -> None:
    model = engine.load_model(runs["binary"])
    rows = _predict(runs["binary"], "--data", str(runs["cancer"]))
    assert rows[0] == [*model.raw_features, "benign", "prob", "class"]
    expected = model.predict(_rows(model, runs["cancer"]))
    got = np.array([float(r[-2]) for r in rows[1:]])
    np.testing.assert_allclose(got, expected.prob, rtol=1e-6)
    assert [r[-1] for r in rows[1:]] == [str(c) for c in expected.classes.tolist()]
    assert {r[-1] for r in rows[1:]} == {"3", "7"}  # ints as ints, never "3.0"


def test_cli_multiclass_predict_writes_a_prob_column_per_class(runs: dict[str, Path]) -> None:
    model = engine.load_model(runs["multiclass"])
    rows = _predict(runs["multiclass"], str(runs["wine"]))
    assert rows[0][-4:] == ["prob_10", "prob_20", "prob_35", "class"]
    expected = model.predict(_rows(model, runs["wine"]))
    got = np.array([[float(v) for v in r[-4:-1]] for r in rows[1:]])
    np.testing.assert_allclose(got, expected.prob, rtol=1e-6, atol=1e-12)
    assert [int(r[-1]) for r in rows[1:]] == expected.classes.tolist()


def test_keep_carries_id_columns_byte_for_byte(runs: dict[str, Path], tmp_path: Path) -> None:
    src = runs["wine"].read_text().splitlines()
    ids = ["007", "12345678901234567", '"a, b"', " spaced ", '"say ""hi"""', ""]
    kept = [f"{ids[i % len(ids)]},n{i}.0" for i in range(len(src) - 1)]  # as in the file
    data = tmp_path / "with_ids.csv"
    data.write_text(
        "\n".join([f"id,note,{src[0]}"] + [f"{k},{ln}" for k, ln in zip(kept, src[1:])])
    )
    out = tmp_path / "out.csv"
    args = ["--data", str(data), "--keep", "id", "--keep", "note", "--out", str(out)]
    proc = run(runs["multiclass"].parent, "predict", str(runs["multiclass"]), *args)
    assert proc.returncode == 0, proc.stderr
    written = out.read_text().splitlines()
    assert written[0].startswith("id,note,alcohol,")
    assert len(written) - 1 == len(kept)
    for line, raw in zip(written[1:], kept):
        assert line.startswith(raw + ","), (line, raw)
    model = engine.load_model(runs["multiclass"])
    expected = model.predict(_rows(model, runs["wine"])).classes.tolist()
    assert [int(r[-1]) for r in csv.reader(written[1:])] == expected


def test_keep_of_a_missing_column_and_an_extra_column_are_one_line(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    src = runs["wine"].read_text().splitlines()
    data = tmp_path / "extra.csv"
    data.write_text("\n".join([f"id,{src[0]}"] + [f"r{i},{ln}" for i, ln in enumerate(src[1:])]))
    for args, message in ((["--keep", "nope"], "--keep nope: "), ([], "unexpected column 'id'")):
        proc = run(runs["multiclass"].parent, "predict", str(runs["multiclass"]), str(data), *args)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    proc = run(runs["multiclass"].parent, "predict", str(runs["multiclass"]))
    assert proc.returncode == 2 and "--data FILE" in proc.stderr


def test_json_writes_integers_as_integers_and_floats_by_their_shortest_text(
    runs: dict[str, Path],
) -> None:
    proc = run(
        runs["regression"].parent,
        "predict",
        str(runs["regression"]),
        "--data",
        str(DATA / "diabetes.csv"),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    first = json.loads(proc.stdout.splitlines()[0])
    source = dict(zip(*csv.reader((DATA / "diabetes.csv").read_text().splitlines()[:2])))
    assert first["age"] == int(source["age"]) and type(first["age"]) is int  # "59", not 59.0
    assert first["bmi"] == float(source["bmi"])  # 32.1, not 32.099998474121094
    assert json.dumps(first["bmi"]) == source["bmi"]
    assert type(first["progression"]) is int
    binary = run(
        runs["binary"].parent,
        "predict",
        str(runs["binary"]),
        "--data",
        str(runs["cancer"]),
        "--json",
    )
    rows = [json.loads(line) for line in binary.stdout.splitlines()]
    assert {type(r["class"]) for r in rows} == {int} and {r["class"] for r in rows} == {3, 7}
    assert all(0.0 <= r["prob"] <= 1.0 for r in rows)
