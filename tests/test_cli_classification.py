"""The command line for classifiers: ``linreg-tui train logistic`` / ``softmax`` print
classification metrics, a confusion matrix and the (K×d) coefficients beside the reference
optimum; ``check-loss`` takes ``--task`` and preset names.

Real answers: every printed metric equals ``sklearn.metrics`` on the model's own predictions
for the test rows, the confusion matrix ``confusion_matrix``'s, the learned columns the saved
weights and the optimum columns scikit-learn's ``LogisticRegression`` fitted with
``C = 1/(2·l2·n)`` (the README's scaling).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

import engine
from engine.data.dataset import load_dataset
from tests import warm_process
from tests.runs_helpers import only_run, run

QUICK = ["--set", "train.epochs=40", "--set", "train.device=cpu"]


def _section(lines: list[str], first_word: str) -> list[list[str]]:
    """The rows of the table whose header line starts with ``first_word``, split on spaces."""
    start = next(i for i, ln in enumerate(lines) if ln.split()[:1] == [first_word])
    rows = []
    for line in lines[start:]:
        if not line.strip() or (rows and line.split()[0] in ("confusion", "coefficient")):
            break
        rows.append(line.split())
    return rows


def _train(tmp_path: Path, preset: str) -> tuple[list[str], Path]:
    proc = run(tmp_path, "train", preset, *QUICK)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines(), only_run(tmp_path)


def _sklearn_optimum(preset: str) -> tuple[LogisticRegression, object]:
    cfg = engine.load_config(preset, [QUICK[1], QUICK[3]])
    ds = load_dataset(cfg)
    x, y = ds.train.x.double().numpy(), ds.train.y.numpy().astype(int)
    c = 1 / (2 * cfg.loss.l2 * len(y))
    ref = LogisticRegression(C=c, tol=1e-12, max_iter=100_000).fit(x, y)
    return ref, ds


def test_train_logistic_prints_binary_metrics_as_sklearn_computes_them(tmp_path: Path) -> None:
    lines, run_dir = _train(tmp_path, "logistic")
    model = engine.load_model(run_dir)
    ref, ds = _sklearn_optimum("logistic")
    metrics = _section(lines, "split")
    assert metrics[0] == ["split", "accuracy", "log_loss", "f1", "roc_auc"]
    assert [r[0] for r in metrics[1:]] == ["train", "val", "test"]
    x = ds.test.x.double().numpy()  # type: ignore[attr-defined]
    yt = ds.test.y.numpy().astype(int)  # type: ignore[attr-defined]
    z = x @ model.weight.double().numpy()[0] + float(model.bias)
    p = 1 / (1 + np.exp(-z))
    expected = [
        skm.accuracy_score(yt, z > 0),
        skm.log_loss(yt, p),
        skm.f1_score(yt, z > 0),
        skm.roc_auc_score(yt, z),
    ]
    np.testing.assert_allclose([float(v) for v in metrics[3][1:]], expected, rtol=2e-5)
    confusion = _section(lines, "true")
    assert any(ln.startswith("confusion matrix (test rows") for ln in lines)
    assert confusion[0][-2:] == ["0", "1"]
    cm = [[int(v) for v in row[1:]] for row in confusion[1:]]
    assert cm == skm.confusion_matrix(yt, z > 0).tolist()
    coefs = _section(lines, "coefficient")
    assert coefs[0][:5] == ["coefficient", "learned", "optimum", "(reference)", "learned"]
    table = {row[0]: [float(v) for v in row[1:]] for row in coefs[1:]}
    names = [*model.feature_names, "bias"]
    assert list(table) == names
    learned = [*model.weight[0].tolist(), float(model.bias)]
    np.testing.assert_allclose([table[n][0] for n in names], learned, rtol=1e-5, atol=1e-6)
    optimum = [*ref.coef_[0].tolist(), float(ref.intercept_[0])]
    np.testing.assert_allclose([table[n][1] for n in names], optimum, rtol=2e-4, atol=2e-5)
    assert not any(ln.split()[:1] == ["mse"] or " r2" in ln for ln in lines)


def test_train_softmax_prints_macro_f1_and_the_kxd_coefficients(tmp_path: Path) -> None:
    lines, run_dir = _train(tmp_path, "softmax")
    model = engine.load_model(run_dir)
    ref, ds = _sklearn_optimum("softmax")
    metrics = _section(lines, "split")
    assert metrics[0] == ["split", "accuracy", "log_loss", "macro_f1"]
    x = ds.val.x.double().numpy()  # type: ignore[attr-defined]
    yv = ds.val.y.numpy().astype(int)  # type: ignore[attr-defined]
    z = x @ model.weight.double().numpy().T + model.bias.double().numpy()
    e = np.exp(z - z.max(axis=1, keepdims=True))
    pred = z.argmax(axis=1)
    expected = [
        skm.accuracy_score(yv, pred),
        skm.log_loss(yv, e / e.sum(axis=1, keepdims=True)),
        skm.f1_score(yv, pred, average="macro"),
    ]
    np.testing.assert_allclose([float(v) for v in metrics[2][1:]], expected, rtol=2e-5)
    coefs = _section(lines, "coefficient")
    assert " ".join(coefs[0]) == (
        "coefficient class 0 optimum (reference) class 1 optimum (reference) "
        "class 2 optimum (reference)"
    )
    rows = {row[0]: [float(v) for v in row[1:]] for row in coefs[1:]}
    assert list(rows) == [*model.feature_names, "bias"]
    got = np.array([rows[n] for n in model.feature_names])  # d × 2K
    np.testing.assert_allclose(got[:, 0::2].T, model.weight.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[:, 1::2].T, ref.coef_, rtol=2e-4, atol=2e-5)
    bias = np.array(rows["bias"][1::2])  # softmax biases are unique only up to a shift
    np.testing.assert_allclose(
        bias - bias.mean(), ref.intercept_ - ref.intercept_.mean(), rtol=2e-4, atol=2e-5
    )
    assert any(ln.startswith("coefficient (raw units)") for ln in lines)


def test_runs_show_prints_a_multiclass_runs_summary(tmp_path: Path) -> None:
    _, run_dir = _train(tmp_path, "softmax")
    proc = run(tmp_path, "runs", "show", run_dir.name)
    assert proc.returncode == 0, proc.stderr
    assert "macro_f1" in proc.stdout and "confusion matrix" in proc.stdout


def test_check_loss_takes_a_preset_name_and_checks_its_objective(
    tmp_path: Path, user_presets: Path
) -> None:
    proc = run(tmp_path, "check-loss", "logistic")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[:4] == [
        "loss: log_loss",
        "formula: mean(softplus(-s·z)), s=2y-1 + 0.001·Σw²",
        "signature: (logits, labels)",
        "task: binary (checked on logits)",
    ]
    assert "PASS  margin" in proc.stdout and out[-1] == "result: PASS (6/6 properties passed)"
    user_presets.mkdir(parents=True, exist_ok=True)
    (user_presets / "mypreset.yaml").write_text("loss:\n  name: huber\n  delta: 2\n  l1: 0.5\n")
    mine = run(tmp_path, "check-loss", "mypreset", "--json")
    assert mine.returncode == 0, mine.stderr
    report = json.loads(mine.stdout)
    assert report["label"] == "huber" and report["task"] == "regression" and report["ok"]
    assert report["formula"].endswith(" + 0.5·Σ|w|") and "δ=2" in report["formula"]


LOSSES = """
import torch.nn.functional as F

def bce(z, y):
    return F.binary_cross_entropy_with_logits(z, y)

def swapped(z, y):
    return F.binary_cross_entropy_with_logits(z, 1 - y)

def ce(z, y):
    return F.cross_entropy(z, y.long())
"""


def test_check_loss_task_checks_a_user_loss_on_logits(tmp_path: Path) -> None:
    (tmp_path / "cl.py").write_text(LOSSES)
    good = run(tmp_path, "check-loss", f"{tmp_path / 'cl.py'}:bce", "--task", "binary")
    assert good.returncode == 0, good.stderr
    assert "signature: (logits, labels)" in good.stdout and "PASS  margin" in good.stdout
    multi = run(tmp_path, "check-loss", f"{tmp_path / 'cl.py'}:ce", "--task", "multiclass")
    assert multi.returncode == 0, multi.stderr
    assert "8 rows of 3 logits" in multi.stdout
    bad = run(tmp_path, "check-loss", f"{tmp_path / 'cl.py'}:swapped", "--task", "binary")
    assert bad.returncode == 2 and "FAIL  margin" in bad.stdout
    assert bad.stderr.strip().splitlines() == [
        next(ln for ln in bad.stderr.splitlines() if ln.startswith("error: loss check failed"))
    ]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["log_loss", "--task", "multiclass"], "it is a binary loss"),
        (["softmax", "--task", "binary"], "the preset's model.task is multiclass"),
        (["logistc"], "did you mean the preset 'logistic'?"),
        (["logistic", "--params", "delta=1"], "--params does not apply to a preset"),
        (["mse", "--task", "nope"], "invalid choice"),
    ],
)
def test_check_loss_refuses_a_task_or_name_that_does_not_fit_in_one_line(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    proc = run(tmp_path, "check-loss", *argv)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def _readme_block(command: str) -> list[list[str]]:
    """The README block of ``$ command``: its output lines cut into the pieces between ``...``
    lines (other ``$ `` lines dropped)."""
    from tests.test_readme_outputs import README

    body = README.split(f"```\n$ {command}\n", 1)[1].split("```", 1)[0]
    pieces: list[list[str]] = [[]]
    for line in body.rstrip("\n").split("\n"):
        if line == "...":
            pieces.append([])
        elif line.startswith("$ "):
            break
        else:
            pieces[-1].append(_mask(line))
    return pieces


def _mask(line: str) -> str:
    from tests.test_readme_outputs import _mask as mask

    return mask(line)


def _shown_in_order(printed: list[str], pieces: list[list[str]]) -> None:
    """Each piece appears in ``printed`` as consecutive lines, in order (decimals up to one
    unit in their last digit, as tests/test_readme_outputs.py compares them)."""
    from tests.test_readme_outputs import _same_lines

    at = 0
    for piece in pieces:
        n = len(piece)
        found = next(
            (i for i in range(at, len(printed) - n + 1) if _same_lines(printed[i : i + n], piece)),
            None,
        )
        assert found is not None, (
            "documented:\n" + "\n".join(piece) + "\nprinted:\n" + "\n".join(printed)
        )
        at = found + n


def test_the_readme_shows_what_train_logistic_and_predict_print(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.runs_helpers import ROOT, env

    proc = warm_process.run(
        [sys.executable, "-m", "engine", "train", "logistic"],
        cwd=ROOT,
        env=env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout
    printed = [_mask(ln) for ln in proc.stdout.splitlines() if not ln.startswith("run: ")]
    _shown_in_order(printed, _readme_block("linreg-tui train logistic"))

    rows = (ROOT / "presets" / "data" / "breast_cancer.csv").read_text().splitlines()
    patients = tmp_path / "patients.csv"
    picked = [rows[1], rows[20], rows[59]]
    patients.write_text(
        "\n".join(
            [f"patient_id,{rows[0].rsplit(',', 1)[0]}"]
            + [f"P-{7 * (i + 1):04d},{r.rsplit(',', 1)[0]}" for i, r in enumerate(picked)]
        )
        + "\n"
    )
    out = tmp_path / "scored.csv"
    args = ["--data", str(patients), "--keep", "patient_id", "--out", str(out)]
    scored = run(tmp_path, "predict", "latest", *args)
    assert scored.returncode == 0, scored.stderr
    command = "linreg-tui predict latest --data patients.csv --keep patient_id --out scored.csv"
    assert scored.stderr.strip() == f"wrote 3 predictions to {out}"
    from tests.test_readme_outputs import README

    documented = README.split("$ cut -d, -f1,32- scored.csv\n", 1)[1].split("```")[0]
    cut = [[r[0], *r[31:]] for r in (ln.split(",") for ln in out.read_text().split())]
    want = [ln.split(",") for ln in documented.strip().splitlines()]
    assert cut[0] == want[0] and len(cut) == len(want), cut
    assert [[r[0], r[-1]] for r in cut] == [[r[0], r[-1]] for r in want], cut  # ids, classes
    # A probability is written in float32's shortest form (8 digits), finer than the fit is
    # repeatable: a far-out row's p = σ(z) with z ≈ -15 moves by |z|·ulp ≈ 2e-6 relative when
    # the logit moves one float32 ulp, which the order of the training's sums does (a loaded
    # machine's BLAS may split them over fewer threads).
    assert all(
        math.isclose(float(a[1]), float(b[1]), rel_tol=1e-5) for a, b in zip(cut[1:], want[1:])
    ), (cut, want)
    assert command in README


def test_the_readme_shows_what_check_loss_task_binary_prints() -> None:
    import sys

    from tests.runs_helpers import ROOT

    command = "linreg-tui check-loss examples/weighted_log_loss.py:weighted_log_loss --task binary"
    proc = warm_process.run(
        [sys.executable, "-m", "engine", *command.split()[1:]],
        cwd=ROOT / "presets",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (documented,) = _readme_block(command)
    from tests.test_readme_outputs import _same_lines

    assert _same_lines(proc.stdout.splitlines(), documented), proc.stdout


def test_multiclass_on_a_two_class_target_is_one_line_pointing_to_binary(tmp_path: Path) -> None:
    proc = run(
        tmp_path,
        "train",
        "logistic",
        *QUICK,
        *["--set", "model.task=multiclass"],
        *["--set", "loss.name=cross_entropy"],
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert (
        "multiclass needs 3 to" in proc.stderr and "found 2: use model.task binary" in proc.stderr
    )
