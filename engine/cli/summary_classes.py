"""The end of a classification run, for a person: its metrics, confusion matrix and weights.

A classifier has no residuals, so the regression summary's mse/rmse/r2 table would be empty.
:func:`class_summary_lines` prints instead, from ``RunFinished`` alone (the numbers the trainer
computed, as ``sklearn.metrics`` defines them; :mod:`engine.training.classify`):

- per split: accuracy, log loss, F1 and ROC AUC (binary: F1 of the second class, the AUC of the
  logit); multiclass: accuracy, log loss and the macro F1 (the unweighted mean over classes);
- the confusion matrix of the held-out rows (test, else val, else train): row = true class,
  column = predicted, classes as the training data has them;
- the coefficients: one column per class for a multiclass model (its K×d weights), each beside
  the reference optimum's for that class, in the units gradient descent works in and, when the
  features were standardised, in raw units too. A binary model has one weight per feature and
  gets the regression table's columns (:func:`engine.core.report.coefficient_table`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.cli.common import table
from engine.core.events import RunFinished, RunStarted
from engine.core.numbers import fmt_number

DIGITS = 6
BINARY_KEYS = (
    ("accuracy", "accuracy"),
    ("log_loss", "log_loss"),
    ("f1", "f1"),
    ("roc_auc", "roc_auc"),
)
MULTICLASS_KEYS = (("accuracy", "accuracy"), ("log_loss", "log_loss"), ("f1", "macro_f1"))
"""``(metric key, column header)`` of the metrics table, per task."""
SPLITS = ("train", "val", "test")


def is_classification(started: RunStarted | None, fin: RunFinished) -> bool:
    """Whether the run classified (its ``task``; logs without it: a confusion matrix)."""
    task = started.task if started is not None else None
    return task in ("binary", "multiclass") or (task is None and fin.confusion is not None)


def class_label(value: float) -> str:
    """A class as the training data had it: ``1.0`` -> ``1``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _number(value: Any) -> str:
    return fmt_number(value if isinstance(value, (int, float)) else None, DIGITS)


def metric_lines(fin: RunFinished, multiclass: bool) -> list[str]:
    """The metrics of each split present, one row per split."""
    keys = MULTICLASS_KEYS if multiclass else BINARY_KEYS
    splits = [s for s in SPLITS if fin.metrics.get(s)]
    if not splits:
        return []
    rows = [["split", *(head for _, head in keys)]]
    rows += [[s, *(_number(fin.metrics[s].get(k)) for k, _ in keys)] for s in splits]
    return table(rows)


def confusion_lines(fin: RunFinished, labels: Sequence[str]) -> list[str]:
    """The confusion matrix of the held-out rows (test, else val, else train)."""
    matrices = fin.confusion or {}
    split = next((s for s in ("test", "val", "train") if matrices.get(s)), None)
    if split is None:
        return []
    m = matrices[split]
    names = list(labels) if len(labels) == len(m) else [str(i) for i in range(len(m))]
    rows = [["true \\ predicted", *names]]
    rows += [[name, *(str(v) for v in row)] for name, row in zip(names, m)]
    return [f"confusion matrix ({split} rows: row = true class, column = predicted)", *table(rows)]


def _per_class(flat: Any, k: int, d: int) -> list[list[float]] | None:
    """A flat K×d list (row by row) as K rows; None when it has another size."""
    if not isinstance(flat, list) or len(flat) != k * d:
        return None
    return [flat[c * d : (c + 1) * d] for c in range(k)]


def multiclass_coefficient_lines(started: RunStarted, fin: RunFinished) -> list[str]:
    """The K×d weights and K biases, each class's learned column beside its optimum's."""
    names, labels = list(started.feature_names), [class_label(c) for c in started.classes or []]
    k, d = len(labels), len(names)
    opt = started.optimum or {}
    kind = opt.get("kind", "reference")
    out: list[str] = []
    units = [("weights", "bias", "")]
    if fin.weights_original is not None:
        units.append(("weights_original", "bias_original", " (raw units)"))
    for w_key, b_key, unit in units:
        learned = _per_class(getattr(fin, w_key), k, d)
        if learned is None:
            continue
        optimum = _per_class(opt.get(w_key), k, d)
        l_bias, o_bias = getattr(fin, b_key), opt.get(b_key)
        header = [f"coefficient{unit}"]
        columns: list[tuple[list[list[float]] | None, Any, int]] = []
        for c, label in enumerate(labels):
            header.append(f"class {label}")
            columns.append((learned, l_bias, c))
            if optimum is not None:
                header.append(f"optimum ({kind})")
                columns.append((optimum, o_bias, c))
        rows = [header] + [
            [name, *(_number(_cell(*col, i)) for col in columns)] for i, name in enumerate(names)
        ]
        if isinstance(l_bias, list):
            rows.append(["bias", *(_number(_cell(*col, None)) for col in columns)])
        out += table(rows)
    return out


def _cell(weights: list[list[float]] | None, bias: Any, c: int, i: int | None) -> Any:
    """Class ``c``'s weight ``i`` (its bias when ``i`` is None)."""
    if i is None:
        return bias[c] if isinstance(bias, list) and c < len(bias) else None
    return weights[c][i] if weights is not None else None
