"""What the lab's views are about: a config, its prepared data, one set of weights, the run's log.

Why: the lab shows what a loss does to *these* weights on *this* data. The dashboard has three
cases, and each gives the same :class:`LabSource`:

- a finished run (``model.pt`` written): :class:`engine.lab.inspect.LoadedRun`, exactly what
  ``linreg-tui inspect`` reads — its config rebuilds the prepared data, the weights are the
  returned ones;
- a run still going (or one that crashed): its ``config.yaml`` and the newest weights in its
  event log (the last ``EpochEnded``, or ``RunFinished``);
- no run yet, or a run with no epoch: the settings' own optimum (exact least squares or the
  engine's float64 reference, :func:`engine.training.optimum.optimum_info`), so every view
  still has weights worth looking at.

Textual-free, and slow (torch is imported and the data loaded): the screen builds it in a
thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from engine.config import Config, ConfigError
from engine.config.presets import load_config
from engine.core.events import EpochEnded, Event, RunFinished
from engine.data.dataset import Dataset, load_dataset
from engine.lab.inspect import LoadedRun
from engine.lab.shape import ResidualLoss
from engine.runs.log import RunLog
from tui.lab.request import has_run


@dataclass
class LabSource:
    """A config, its prepared data and one linear model: weights ``K×d`` (``K = 1`` unless
    multiclass) and bias ``K`` (None without one), float64, in the trained-on units."""

    cfg: Config
    ds: Dataset
    weights: Tensor
    bias: Tensor | None
    origin: str
    """Where the weights come from, for the screen's title line."""
    events: list[Event] = field(default_factory=list)
    """The run's log (the landscape's descent path); empty without a run."""
    optimum: Tensor | None = None
    """The optimum's weights when the source knows them itself (no run: they are the weights
    shown); a run's optimum is in its log's ``RunStarted``."""

    @property
    def classifier(self) -> bool:
        return self.ds.classes is not None

    @property
    def n_features(self) -> int:
        return int(self.ds.train.x.shape[1])

    @property
    def flat_weights(self) -> list[float]:
        """A regression model's ``d`` weights as a list."""
        return [float(v) for v in self.weights.reshape(-1).tolist()]

    @property
    def flat_bias(self) -> float | None:
        return float(self.bias.reshape(-1)[0]) if self.bias is not None else None

    def predict(self, x: Tensor) -> Tensor:
        """Regression: ``ŷ = X·w + b`` (float64, one value per row)."""
        return x.double() @ self.weights[0] + (self.flat_bias or 0.0)

    def logits(self, x: Tensor) -> Tensor:
        """``n×K`` logits ``X·Wᵀ + b`` (float64)."""
        out = x.double() @ self.weights.T
        return out + self.bias if self.bias is not None else out

    def loss(self) -> tuple[ResidualLoss, str | None]:
        """The data loss as a function of ``r`` (MSE with a note when the run's is not one)."""
        try:
            return ResidualLoss.from_config(self.cfg.loss), None
        except ConfigError:
            return ResidualLoss.named("mse"), (
                f"{self.cfg.loss.name} is not a function of r alone: MSE's shown"
            )


def _as_matrix(
    ds: Dataset, weights: list[float], bias: float | list[float] | None
) -> tuple[Tensor, Tensor | None]:
    """Flat event weights (multiclass: K×d row by row) and bias as ``K×d`` and ``K`` tensors."""
    k, d = ds.n_outputs, int(ds.train.x.shape[1])
    w = torch.tensor(weights, dtype=torch.float64).reshape(k, d)
    if bias is None:
        return w, None
    b = torch.tensor(bias if isinstance(bias, list) else [bias], dtype=torch.float64)
    return w, b


def from_config(cfg: Config, origin: str, events: list[Event] | None = None) -> LabSource:
    """The settings' optimum on the config's data (zeros when there is none, e.g. separable
    classes without l2: the title says so)."""
    from engine.training.optimum import optimum_info
    from engine.training.run_setup import prepare

    ds, objective, warnings = prepare(cfg)
    optimum, _ = optimum_info(ds, cfg, objective, warnings=warnings)
    if optimum is None:
        k, d = ds.n_outputs, int(ds.train.x.shape[1])
        zero_b = torch.zeros(k, dtype=torch.float64) if cfg.model.bias else None
        return LabSource(
            cfg,
            ds,
            torch.zeros(k, d, dtype=torch.float64),
            zero_b,
            f"{origin} settings: no optimum, w = 0",
        )
    w, b = _as_matrix(ds, optimum["weights"], optimum["bias"])
    return LabSource(cfg, ds, w, b, f"{origin} {optimum['kind']} optimum", events or [], w)


def latest_weights(events: list[Event]) -> tuple[list[float], float | list[float] | None] | None:
    """The newest weights a run's log holds: ``RunFinished``'s, else the last epoch's."""
    for ev in reversed(events):
        if isinstance(ev, (RunFinished, EpochEnded)) and ev.weights:
            return list(ev.weights), ev.bias
    return None


def from_run(run_dir: Path) -> LabSource:
    """A run directory: its returned model when finished, else its newest logged weights."""
    events, _ = RunLog(run_dir).read()
    name = run_dir.name
    if (run_dir / "model.pt").exists():
        lr = LoadedRun(run_dir, run_dir.parent)
        w = lr.model.weight.double().reshape(lr.data.n_outputs, -1)
        b = lr.model.bias.double().reshape(-1) if lr.model.bias is not None else None
        return LabSource(lr.config, lr.data, w, b, f"run {name}", events)
    cfg = load_config(str(run_dir / "config.yaml"))
    latest = latest_weights(events)
    if latest is None:
        return from_config(cfg, f"run {name} has no epoch yet: the", events)
    ds = load_dataset(cfg)
    w, b = _as_matrix(ds, *latest)
    return LabSource(cfg, ds, w, b, f"run {name} (newest logged weights)", events)


def load_source(run_dir: Path | None, cfg: Config | None) -> LabSource:
    """The run on the dashboard when there is one on disk, else the settings ``cfg`` (built
    by the caller on the event loop: the form is a widget)."""
    if run_dir is not None and has_run(run_dir):
        return from_run(run_dir)
    if cfg is None:
        raise ConfigError("no run and no settings to show")
    return from_config(cfg, "no run yet: the settings'")
