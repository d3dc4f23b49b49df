"""Inspect a finished run: its residuals, which rows carry its loss, and its loss's shape.

Why: ``linreg-tui inspect RUN`` (and the dashboard's lab views) need the lab's numbers for a run
someone already trained, from what its directory holds and nothing else: ``config.yaml``
rebuilds exactly the prepared data (deterministic from the seed, as :mod:`engine.runs.resume`
relies on) and ``model.pt`` holds the returned weights (``weights_only=True``). The predictions
are ``ŷ = X·w + b`` on the prepared splits, in float64, so every number is in the units the
model trained in (``y_mean``/``y_std`` say how to map the target back).

Rows are named by their row in the source data (0-based, the CSV header not counted; for
synthetic data the row of the draw) — the split is a seeded permutation
(:func:`engine.data.dataset.split_indices`). When ``data.outliers: drop`` removed training rows
that mapping is lost for the training split, whose rows are then named by their index in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor

from engine.config import Config, ConfigError
from engine.config.presets import load_config
from engine.core.errors import RunError
from engine.data.dataset import Dataset, load_dataset, split_indices
from engine.lab.influence import DEFAULT_TOP_K, clean, row_influence
from engine.lab.landscape import DEFAULT_POINTS as GRID_POINTS
from engine.lab.landscape import descent_path, landscape
from engine.lab.shape import DEFAULT_BINS, DEFAULT_POINTS, ResidualLoss, loss_shape
from engine.losses.formulas import describe
from engine.runs.model_file import LinearModel, load_model
from engine.runs.store import resolve_run, runs_dir


def source_rows(cfg: Config, ds: Dataset) -> dict[str, Tensor | None]:
    """Each split's rows as rows of the source data (None where that is lost)."""
    idx_train, idx_val, _ = split_indices(ds.shape[0], cfg)
    dropped = cfg.data.outliers == "drop" and ds.outlier_rows > 0
    return {
        "train": None if dropped or len(idx_train) != len(ds.train) else idx_train,
        "val": idx_val if len(idx_val) == len(ds.val) else None,
    }


class LoadedRun:
    """A run directory's config, model and rebuilt data, checked against each other."""

    def __init__(self, run: str | Path, root: str | Path | None = None) -> None:
        self.path = resolve_run(str(run), runs_dir(root))
        self.model: LinearModel = load_model(self.path / "model.pt")
        self.config: Config = load_config(str(self.path / "config.yaml"))
        self.data: Dataset = load_dataset(self.config)
        d = self.data.train.x.shape[1]
        if self.model.weight.shape[-1] != d:
            raise RunError(
                f"run {self.path.name}: model.pt has {self.model.weight.shape[-1]} "
                f"weights but its config builds {d} features"
            )

    @property
    def weights(self) -> list[float]:
        """The returned weights (prepared units)."""
        return [float(v) for v in self.model.weight.reshape(-1).tolist()]

    @property
    def bias(self) -> float | None:
        """The returned bias, None for a model without one."""
        return float(self.model.bias.reshape(-1)[0]) if self.model.bias is not None else None

    def predict(self, x: Tensor) -> Tensor:
        """``ŷ = X·w + b`` on prepared features, float64."""
        w = self.model.weight.double().reshape(-1)
        return x.double() @ w + (self.bias or 0.0)

    def loss(self) -> tuple[ResidualLoss, str | None]:
        """The run's data loss, or MSE with a note when it is not a function of ``r`` alone."""
        try:
            return ResidualLoss.from_config(self.config.loss), None
        except ConfigError as exc:
            return ResidualLoss.named("mse"), (
                f"{exc}; the shape and contributions shown are MSE's"
            )


def inspect_run(
    run: str | Path,
    root: str | Path | None = None,
    *,
    k: int = DEFAULT_TOP_K,
    points: int = DEFAULT_POINTS,
    bins: int = DEFAULT_BINS,
    compare: str | None = "mse",
) -> dict[str, Any]:
    """Residual histogram, row influence (train and val) and loss shape of a finished run, as
    one JSON-ready dict. ``compare`` names a registered loss drawn beside the run's (None: none;
    not drawn when it is the run's own)."""
    lr = LoadedRun(run, root)
    ds, cfg = lr.data, lr.config
    loss, note = lr.loss()
    other = ResidualLoss.named(compare) if compare and compare != loss.name else None
    splits = {name: s for name, s in (("train", ds.train), ("val", ds.val)) if len(s)}
    preds = {name: lr.predict(s.x) for name, s in splits.items()}
    residuals = {name: s.y.double() - preds[name] for name, s in splits.items()}
    rows = source_rows(cfg, ds)
    out: dict[str, Any] = clean(
        {
            "run": lr.path.name,
            "path": str(lr.path),
            "preset": cfg.name,
            "loss": {
                **loss.describe(),
                "objective": describe(cfg.loss),
                "l1": cfg.loss.l1,
                "l2": cfg.loss.l2,
            },
            "note": note,
            "feature_names": list(ds.feature_names),
            "weights": lr.weights,
            "bias": lr.bias,
            "y_mean": ds.y_mean,
            "y_std": ds.y_std,
            "n": {name: len(s) for name, s in splits.items()},
            "shape": loss_shape(loss, residuals, compare=other, points=points, bins=bins),
            "influence": {
                name: row_influence(loss, s.y, preds[name], rows=rows[name], k=k)
                for name, s in splits.items()
            },
        }
    )
    return out


def run_landscape(
    run: str | Path, i: int, j: int, root: str | Path | None = None, *, points: int = GRID_POINTS
) -> dict[str, Any]:
    """The objective of a finished run over weights ``i`` and ``j`` on its training split, the
    others and the bias at the run's returned values, with the descent path from its log."""
    from engine.runs.log import RunLog

    lr = LoadedRun(run, root)
    loss, note = lr.loss()
    events, _ = RunLog(lr.path).read()
    out = landscape(
        loss,
        lr.data.train.x,
        lr.data.train.y,
        lr.weights,
        lr.bias,
        i,
        j,
        l1=lr.config.loss.l1,
        l2=lr.config.loss.l2,
        path=descent_path(events, i, j),
        points=points,
        names=lr.data.feature_names,
    )
    result: dict[str, Any] = clean({"run": lr.path.name, "note": note, **out})
    return result
