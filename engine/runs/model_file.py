"""A trained model on disk, and predictions on raw rows.

``model.pt`` holds plain tensors, numbers, strings and lists (``torch.save`` of a dict), so it
loads with ``torch.load(..., weights_only=True)``: a file that smuggles a pickled object is
refused, never executed. Everything the prediction needs travels with the weights: the raw
feature names, the polynomial degree, the training split's standardisation statistics and the
target scaling, plus the config and the final metrics for the record.

Prediction repeats training's own arithmetic — ``poly → (x - μ)/σ → x·wᵀ + b → ŷ·σ_y + μ_y`` in
float32 — so on the training rows it gives exactly the values the trained model gives. A
classifier (``task`` binary or multiclass, its ``classes`` the training target's values) stops at
the logits ``z = x·wᵀ + b`` and gives ``σ(z)`` / ``softmax(z)`` and the predicted class
(:mod:`engine.runs.predictions`: rows and answers as tensors, numpy arrays or lists).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from engine.core.errors import RunError
from engine.core.events import RunFinished, RunStarted
from engine.runs.files import atomic_write, first_line
from engine.runs.predictions import ClassPrediction, as_rows, class_tensor, in_kind

MODEL_FORMAT = 1


def save_model(path: Path, started: RunStarted, finished: RunFinished) -> None:
    """Write ``model.pt`` for a finished run, atomically, from its two events alone."""
    degree = int(started.config.get("data", {}).get("poly_degree", 1))
    names = list(started.feature_names)
    raw = names[: len(names) // degree] if degree > 1 else names

    def t(values: list[float] | None) -> Tensor | None:
        return None if values is None else torch.tensor(values, dtype=torch.float32)

    task = started.task or "regression"
    classes = started.classes
    outputs = max(1, len(finished.weights) // max(1, len(names)))  # K logits, or one
    bias = finished.bias
    blob = {
        "format": MODEL_FORMAT,
        "weight": torch.tensor(finished.weights, dtype=torch.float32).reshape(outputs, -1),
        "bias": None if bias is None else t(bias if isinstance(bias, list) else [bias]),
        "task": task,
        "classes": classes,
        "raw_features": raw,
        "feature_names": names,
        "poly_degree": degree,
        "x_mean": t(started.x_mean),
        "x_std": t(started.x_std),
        "y_mean": float(started.y_mean),
        "y_std": float(started.y_std),
        "target": started.config.get("data", {}).get("target") or "y",
        "config": started.config,
        "reason": finished.reason,
        "epochs_run": finished.epochs_run,
        "restored_epoch": finished.restored_epoch,
        "metrics": finished.metrics,
    }
    buf = io.BytesIO()
    torch.save(blob, buf)
    atomic_write(path, buf.getvalue())


@dataclass(frozen=True)
class LinearModel:
    """A loaded model: ``predict(x_raw)`` maps raw feature rows to predictions in target units."""

    weight: Tensor
    bias: Tensor | None
    raw_features: list[str]
    feature_names: list[str]
    poly_degree: int
    x_mean: Tensor | None
    x_std: Tensor | None
    y_mean: float
    y_std: float
    target: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    task: str = "regression"
    """``model.task`` of the run (files written before classification: regression)."""
    classes: list[float] | None = None
    """A classifier's target values, in label order (0..K-1)."""

    def features(self, x_raw: Tensor) -> Tensor:
        """The model's input columns from raw rows: powers, then the training scaling."""
        from engine.data.raw_source import poly_features

        x, _ = poly_features(x_raw.to(torch.float32), self.raw_features, self.poly_degree)
        if self.x_mean is not None and self.x_std is not None:
            x = (x - self.x_mean) / self.x_std
        return x.contiguous()

    def logits(self, x_raw: Tensor) -> Tensor:
        """The model's outputs for raw rows: ``[n]`` for one output, ``[n, K]`` for K (a
        regression model's in standardised target units when the target was scaled)."""
        if x_raw.ndim != 2 or x_raw.shape[1] != len(self.raw_features):
            raise RunError(
                f"predict: expected rows of {len(self.raw_features)} features "
                f"({', '.join(self.raw_features)}), got shape {tuple(x_raw.shape)}"
            )
        z = torch.nn.functional.linear(self.features(x_raw), self.weight, self.bias)
        return z.squeeze(-1) if z.shape[-1] == 1 else z

    def regress(self, x_raw: Tensor) -> Tensor:
        """A regression model's predictions ``[n]`` for raw rows, in the target's own units."""
        if self.task != "regression":
            raise RunError(
                f"predict: this is a {self.task} classifier: use classify() (or predict()) "
                "for its probabilities and classes"
            )
        return self.logits(x_raw) * self.y_std + self.y_mean

    def classify(self, x_raw: Tensor) -> ClassPrediction[Tensor]:
        """A classifier's probabilities and classes for raw rows (tensors; see
        :class:`~engine.runs.predictions.ClassPrediction`): the trainer's own definitions
        (:mod:`engine.training.classify`), so they match the run's metrics."""
        from engine.training.classify import predicted_class, probabilities

        if self.task == "regression" or not self.classes:
            raise RunError("predict: this is a regression model: use regress() or predict()")
        z = self.logits(x_raw)
        prob = probabilities(z)
        if self.task == "multiclass" and z.dim() == 1:  # two classes on one logit
            prob = torch.stack((1 - prob, prob), dim=1)
        return ClassPrediction(prob, class_tensor(self.classes)[predicted_class(z)])

    def predict(self, x_raw: Any) -> Any:
        """Predictions for raw rows ``[n, len(raw_features)]`` given as a tensor, a numpy array
        or a list of lists, returned as the same kind: a regression model's values ``[n]`` in
        the target's own units, a classifier's :class:`ClassPrediction` (``prob``,
        ``classes``)."""
        x, kind = as_rows(x_raw)
        if self.task == "regression":
            return in_kind(self.regress(x), kind)
        prob, classes = self.classify(x)
        return ClassPrediction(in_kind(prob, kind), in_kind(classes, kind))


def load_model(path: Path) -> LinearModel:
    """Read ``model.pt`` with ``weights_only=True``; one clear error for a bad or foreign file."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunError(f"{path}: no model file (the run has not finished)") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise RunError(f"{path}: not a readable model file ({first_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - the unpickler refusing a global: UnpicklingError
        raise RunError(
            f"{path}: refused to load ({type(exc).__name__}: {first_line(exc)})"
        ) from None
    if not isinstance(blob, dict) or "weight" not in blob:
        raise RunError(f"{path}: not a linreg-tui model file")
    if blob.get("format", 0) > MODEL_FORMAT:
        raise RunError(f"{path}: written by a newer linreg-tui (model format {blob['format']})")
    try:
        model = LinearModel(
            blob["weight"],
            blob["bias"],
            list(blob["raw_features"]),
            list(blob["feature_names"]),
            int(blob["poly_degree"]),
            blob["x_mean"],
            blob["x_std"],
            float(blob["y_mean"]),
            float(blob["y_std"]),
            str(blob["target"]),
            blob["config"],
            blob["metrics"],
            str(blob.get("task") or "regression"),
            blob.get("classes"),
        )
    except KeyError as exc:
        raise RunError(f"{path}: not a complete model file (no '{exc.args[0]}')") from None
    except (TypeError, ValueError) as exc:
        raise RunError(f"{path}: not a usable model file ({first_line(exc)})") from None
    problem = _shape_problem(model)
    if problem:
        raise RunError(f"{path}: not a usable model file ({problem})")
    return model


def _shape_problem(m: LinearModel) -> str | None:
    """What is inconsistent between the tensors and the feature lists, if anything."""
    d = len(m.feature_names)
    if not isinstance(m.weight, Tensor) or m.weight.ndim != 2 or m.weight.shape[1] != d:
        return f"weight should be [outputs, {d}]"
    if m.bias is not None and (
        not isinstance(m.bias, Tensor) or m.bias.shape != (m.weight.shape[0],)
    ):
        return f"bias should have {m.weight.shape[0]} value(s)"
    for name, t in (("x_mean", m.x_mean), ("x_std", m.x_std)):
        if t is not None and (not isinstance(t, Tensor) or t.shape != (d,)):
            return f"{name} should have {d} values"
    if m.poly_degree < 1 or len(m.raw_features) * m.poly_degree != d:
        return "raw features and polynomial degree do not match the feature names"
    return None
