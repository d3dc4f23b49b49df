"""What ``LinearModel.predict`` takes and gives back: rows as a tensor, a numpy array or nested
lists, and predictions of the same kind.

A script holding a numpy array (or a list of rows read from JSON) should not have to build a
tensor to ask a model something, nor turn the answer back: ``predict`` returns the kind it was
given. A regression model returns its values (``[n]``); a classifier returns a
:class:`ClassPrediction` of probabilities and classes, each of that kind. Classes are the
target's own values from the training data: whole numbers as integers (``int64``, Python
``int``), anything else as ``float64`` / ``float`` — a class ``1`` is never written ``1.0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, Literal, NamedTuple, TypeVar

import numpy as np
import torch
from torch import Tensor

from engine.core.errors import RunError

T = TypeVar("T")
Kind = Literal["tensor", "numpy", "list"]


class ClassPrediction(NamedTuple, Generic[T]):
    """A classifier's predictions for ``n`` rows, as the kind of rows it was given.

    Unpacks as ``prob, classes = model.predict(x)``.
    """

    prob: T
    """Binary: ``P(class = classes[1])`` per row, ``[n]`` (``σ(z)`` of the row's logit).
    Multiclass: ``softmax(z)`` rows ``[n, K]``, column ``k`` the probability of
    ``model.classes[k]``."""
    classes: T
    """The predicted class of each row ``[n]`` (binary: ``z > 0``; multiclass: ``argmax z``), as
    its value in the training data."""


def as_rows(x_raw: Any) -> tuple[Tensor, Kind]:
    """``x_raw`` as a tensor of rows, and which kind it was (to answer in the same kind)."""
    if isinstance(x_raw, Tensor):
        return x_raw, "tensor"
    if isinstance(x_raw, np.ndarray):
        if x_raw.dtype.kind not in "biuf":
            raise RunError(f"predict: expected an array of numbers, got dtype {x_raw.dtype}")
        return torch.from_numpy(np.ascontiguousarray(x_raw, dtype=np.float32)), "numpy"
    if isinstance(x_raw, Sequence) and not isinstance(x_raw, (str, bytes)):
        try:
            return torch.tensor(x_raw, dtype=torch.float32), "list"
        except (TypeError, ValueError, RuntimeError) as exc:
            raise RunError(
                f"predict: expected a list of rows of numbers, all the same length ({exc})"
            ) from None
    raise RunError(
        f"predict: expected rows as a torch tensor, a numpy array or a list of lists, "
        f"got {type(x_raw).__name__}"
    )


def in_kind(values: Tensor, kind: Kind) -> Any:
    """``values`` as the kind the rows came in (a CPU tensor, a numpy array or lists)."""
    if kind == "tensor":
        return values
    if kind == "numpy":
        return values.detach().cpu().numpy()
    return values.detach().cpu().tolist()


WHOLE_LIMIT = 2.0**53
"""Whole numbers up to this size are exact in float64, so written as integers."""


def is_whole(value: float) -> bool:
    """Whether ``value`` is a whole number small enough to write as an integer exactly."""
    return float(value).is_integer() and abs(value) <= WHOLE_LIMIT


def class_value(value: float) -> int | float:
    """A class as the training data had it: ``1.0`` -> ``1``, ``0.5`` stays ``0.5``."""
    return int(value) if is_whole(value) else float(value)


def class_tensor(classes: Sequence[float]) -> Tensor:
    """The class values, ``int64`` when every one is a whole number, else ``float64``."""
    if all(is_whole(c) for c in classes):
        return torch.tensor([int(c) for c in classes], dtype=torch.int64)
    return torch.tensor([float(c) for c in classes], dtype=torch.float64)
