"""Events emitted by a training run: frozen dataclasses that serialise to JSON-ready dicts.

One stream feeds every consumer (dashboard, CLI, logs, tests): if a consumer needs a number it
belongs in an event. ``to_dict()`` adds a ``type`` field; floats that are not finite become the
strings ``"nan"``, ``"inf"`` or ``"-inf"`` so every line is strict JSON. No torch import.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

Reason = Literal["completed", "early_stopped", "diverged", "cancelled"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class Event:
    """Base class: ``to_dict()`` gives ``{"type": <class name>, **fields}``."""

    def to_dict(self) -> dict[str, Any]:
        out = {"type": type(self).__name__}
        for f in dataclasses.fields(self):
            out[f.name] = _jsonable(getattr(self, f.name))
        return out


@dataclass(frozen=True)
class RunStarted(Event):
    """The run's resolved config, device and data, before the first epoch."""

    config: dict[str, Any]
    device: str
    device_name: str
    n_train: int
    n_val: int
    n_test: int
    n_features: int
    feature_names: list[str]
    epochs: int
    loss_formula: str
    true_weights: list[float] | None = None
    true_bias: float | None = None
    data_shape: tuple[int, int] = (0, 0)
    """Rows and raw columns of the data as read."""
    outlier_rows: int = 0
    """Training rows clipped or dropped by ``data.outliers``."""
    x_mean: list[float] | None = None
    """Training feature means used for scaling (None when not standardised)."""
    x_std: list[float] | None = None
    y_mean: float = 0.0
    y_std: float = 1.0
    optimum: dict[str, Any] | None = None
    """``{kind: exact|reference, method, loss, weights, bias, weights_original, bias_original}``
    (the ``_original`` pair in raw units, None when nothing was standardised), or None."""
    condition_number: float | None = None
    warnings: list[str] = field(default_factory=list)
    full_batch: bool | None = None
    """Whether each step trains on the whole training split (``optim.batch_size`` null or at
    least ``n_train``): then an epoch's ``train_loss`` is at the weights it started from. None
    in logs written before the field existed (a reader falls back to the config's batch size)."""
    task: str | None = None
    """``model.task`` (regression, binary or multiclass); None in logs written before it."""
    classes: list[float] | None = None
    """Classification: the original target value of each class label 0..K-1 (None for
    regression). A multiclass run's ``weights`` are then the K×d matrix row by row (class 0's
    d weights first) and its ``bias`` a list of K numbers."""


@dataclass(frozen=True)
class EpochEnded(Event):
    """One finished epoch: losses, early-stopping state, parameters and speed.

    ``train_loss`` is the row-weighted mean objective of the epoch's batches, as each step saw it
    (Keras' convention; for full batch that is the objective at the weights the epoch started
    from). ``val_loss`` and ``metrics["val"]`` are at the weights the epoch ended with.
    ``metrics["train"]`` comes from the step's own forward pass for full batch (start-of-epoch
    weights, free) and from one no-grad pass at the final weights for minibatches (costing less
    than one step's share of the epoch).
    """

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float | None
    best_epoch: int | None
    best_monitor: float | None
    improved: bool
    wait: int
    patience: int
    lr: float
    weights: list[float]
    bias: float | list[float] | None
    elapsed_s: float
    samples_per_s: float
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    """``{"train": {mse, rmse, mae, r2}, "val": {...}}`` in the target's original units
    (``medae`` is in :attr:`RunFinished.metrics` only: a median per epoch is not cheap); for
    classification ``{accuracy, log_loss, f1}`` (``roc_auc`` at the finish only)."""
    gap: float | None = None
    """``train_loss - optimum loss`` when an optimum is known."""
    weights_original: list[float] | None = None
    """``weights`` in the raw feature/target units (None when nothing was standardised)."""
    bias_original: float | list[float] | None = None
    coef_rmse: float | None = None
    """Error of the coefficients against the data's true ones (synthetic data, else None):
    ``sqrt(mean((learned - true)²))`` over each weight the truth covers and the bias, in raw
    units (see :func:`engine.training.metrics.coef_rmse`)."""
    grad_norm: float | None = None
    """``‖∇θ L‖₂``: the Euclidean norm of the objective's gradient (penalties and bias
    included; an optimizer's weight decay not) with respect to all the parameters, at the
    weights the epoch's last step started from (full batch: the epoch's one step), as that step
    computed it. None in logs written before it existed, and for runs that do not measure it
    (batched sweeps)."""


@dataclass(frozen=True)
class RunFinished(Event):
    """How the run ended and the parameters it leaves (the best ones when restored)."""

    reason: Reason
    epochs_run: int
    best_epoch: int | None
    best_monitor: float | None
    weights: list[float]
    bias: float | list[float] | None
    message: str
    restored_epoch: int | None = None
    elapsed_s: float = 0.0
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    """Final ``{"train", "val", "test"}`` metrics of the returned parameters: those of
    :class:`EpochEnded` and ``medae`` (median absolute error, which epochs do not carry)."""
    weights_original: list[float] | None = None
    """Weights in the raw feature units (when features or target were standardised)."""
    bias_original: float | list[float] | None = None
    train_loss: float | None = None
    """The objective of the returned parameters on the whole training split (after a restore:
    the restored epoch's, which no single EpochEnded holds, since in full batch an epoch's
    ``train_loss`` is at its start weights). None in logs written before it existed."""
    val_loss: float | None = None
    """The objective of the returned parameters on the validation split (None without one)."""
    gap: float | None = None
    """``train_loss - optimum loss`` of the returned parameters, as :attr:`EpochEnded.gap`."""
    coef_rmse: float | None = None
    """As :attr:`EpochEnded.coef_rmse`, for the returned parameters."""
    confusion: dict[str, list[list[int]]] | None = None
    """Classification: the confusion matrix of each split (row: true class, column: predicted
    class), as ``sklearn.metrics.confusion_matrix``; None for regression."""


@dataclass(frozen=True)
class FoldFinished(Event):
    """One cross-validation fold: how its run ended and its validation metrics."""

    fold: int
    folds: int
    n_train: int
    n_val: int
    reason: Reason
    epochs_run: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class CrossValidated(Event):
    """Mean and (population) standard deviation of each validation metric over the folds."""

    folds: int
    mean: dict[str, float]
    std: dict[str, float]


@dataclass(frozen=True)
class SystemSampled(Event):
    """What the trainer process uses, sampled at most once a second during a run (a run under a
    second has none): CPU and memory from psutil, the GPU's utilisation and memory from NVML
    (``nvidia-ml-py``) when the run trains on an NVIDIA GPU and NVML answers (else None).
    Logs written before it existed simply have none."""

    epoch: int
    """The last epoch finished when it was taken."""
    elapsed_s: float
    cpu_percent: float
    """The process's CPU time over wall time since the previous sample, in percent of one core
    (400 = four cores busy), as ``psutil.Process.cpu_percent``."""
    rss_bytes: int
    """Resident memory of the process."""
    threads: int
    gpu_util_percent: float | None = None
    """Percent of the last sample period in which a kernel ran on the run's GPU (whole device)."""
    gpu_mem_bytes: int | None = None
    """Memory in use on the run's GPU (whole device, every process)."""
    gpu_mem_total_bytes: int | None = None
