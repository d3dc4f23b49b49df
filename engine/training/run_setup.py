"""Set-up, the first step of a run: data, objective, optimum, model and ``RunStarted``.

Its own module because it is the part of the loop others build on without training: the batched
sweep (:mod:`engine.sweep.batched_program`) and tests make models with :func:`make_model` from
the run's seed, and :func:`uses_user_code` decides both the pre-flight check here and, in
:mod:`engine.training.trainer`, whether a stopped run still evaluates its objective. Everything
up to the first epoch happens here; :func:`set_up` returns a :class:`Setup` that the loop only
reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from engine.config import Config
from engine.core.control import Control
from engine.core.events import RunStarted
from engine.data.dataset import Dataset, Split, load_dataset, to_original
from engine.data.rank_rows import load_sharded
from engine.losses.functions import Objective, build_objective
from engine.training.device import device_name, resolve_device
from engine.training.distributed import Dist, gather_to_root, pick_device
from engine.training.epoch import DeviceSplit
from engine.training.optimizers import make_update_rule
from engine.training.steps import flatten_params
from engine.training.update_rules import UpdateRule


def make_model(n_features: int, cfg: Config, device: torch.device, outputs: int = 1) -> nn.Linear:
    """``nn.Linear(d, outputs)`` initialised like PyTorch's default, but from the run's seed
    (``outputs`` = K logits for multiclass, else 1)."""
    model = nn.Linear(n_features, outputs, bias=cfg.model.bias)
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    bound = 1.0 / math.sqrt(n_features)
    with torch.no_grad():
        model.weight.copy_(torch.empty(outputs, n_features).uniform_(-bound, bound, generator=gen))
        if model.bias is not None:
            model.bias.copy_(torch.empty(outputs).uniform_(-bound, bound, generator=gen))
    return model.to(device)


def prepare(
    cfg: Config,
    dataset: Dataset | None = None,
    control: Control | None = None,
    dist: Dist | None = None,
) -> tuple[Dataset, Objective, list[str]]:
    """Load data and build the objective (running a custom loss's pre-flight check).

    Data-parallel (``dist`` with several ranks), each rank reads only its part of a CSV or
    Parquet file; a full-batch regression keeps only its own rows of each split, anything else
    gathers the parts into the single process's dataset (:mod:`engine.data.rank_rows`).

    A stop requested during set-up skips the pre-flight check: the run then ends at once. A stop
    while the data load (in chunks that check it) raises :class:`engine.data.dataset.Stopped`.
    """
    stop = (lambda: control.stopped) if control is not None else None
    shard = dist.shard() if dist is not None and dist.world > 1 else None
    if dataset is not None:
        ds = dataset
    elif shard is not None:
        ds = load_sharded(cfg, shard, stop)
    else:
        ds = load_dataset(cfg, stop=stop)
    objective = build_objective(cfg.loss, cfg.base_dir)
    warnings = list(ds.warnings)
    if control is not None and control.stopped:
        return ds, objective, warnings
    if uses_user_code(cfg):
        from engine.losses.check import preflight

        warnings += preflight(cfg.loss, cfg.base_dir, stop=stop, task=cfg.model.task)
    return ds, objective, warnings


def uses_user_code(cfg: Config) -> bool:
    """Whether the loss is (or has a term that is) a user's callable."""
    return cfg.loss.name == "custom" or any(
        t.get("name") == "custom" for t in (cfg.loss.terms or [])
    )


@dataclass
class Setup:
    """Everything a run needs once its data, optimum and model are ready."""

    cfg: Config
    ds: Dataset
    objective: Objective
    train: DeviceSplit
    val: DeviceSplit
    test: DeviceSplit
    model: nn.Linear
    """Its weight and bias are views of ``optimizer.theta`` (see
    :func:`engine.training.steps.flatten_params`)."""
    optimizer: UpdateRule
    optimum: dict[str, Any] | None
    started: RunStarted


def set_up(
    cfg: Config, control: Control, dataset: Dataset | None = None, dist: Dist | None = None
) -> Setup:
    """Data, objective, optimum and warnings; the splits, model and optimizer on the device.

    Data-parallel (``dist``), each rank uses the GPU of its local rank, and only rank 0 (whose
    ``RunStarted`` is the one kept) finds the optimum. With rank-local rows, the exact MSE
    optimum (least squares, ridge, elastic net) comes from all-reduced float64 sums
    (:mod:`engine.training.dist_optimum`); any other (IRLS and L-BFGS read the rows, as does
    the minimum-norm solution of a rank-deficient or wide ``X``) from a copy of the whole
    training split gathered to rank 0 for that alone and freed before training."""
    device = resolve_device(pick_device(cfg.train.device) if dist else cfg.train.device)
    ds, objective, warnings = prepare(cfg, dataset, control, dist)
    from engine.training.optimum import optimum_info

    def stop() -> bool:
        return control.stopped

    optimum, cond = None, None
    whole, summed = ds, None
    if dist is not None and ds.train.n_total is not None:
        from engine.training.dist_optimum import sums_optimum, takes_sums

        if takes_sums(ds, cfg):
            summed = sums_optimum(ds, cfg, objective, dist, stop=stop)
        if summed is None:
            rows = gather_to_root(torch.cat((ds.train.x, ds.train.y[:, None]), 1))
            whole = replace(ds, train=Split(rows[:, :-1], rows[:, -1])) if rows is not None else ds
            del rows
    if summed is not None:
        optimum, cond = summed
    elif dist is None or dist.writer:
        optimum, cond = optimum_info(whole, cfg, objective, stop=stop, warnings=warnings)
    del whole
    if optimum is not None:
        optimum["weights_original"], optimum["bias_original"] = to_original(
            ds, optimum["weights"], optimum["bias"]
        )
    if cond is not None and cond > 1e3:
        warnings.append(
            f"feature matrix is ill-conditioned (condition number {cond:.3g} > 1e3): "
            "gradient descent will be slow; standardise or drop correlated features"
        )
    train, val, test = (DeviceSplit(s, device) for s in (ds.train, ds.val, ds.test))
    model = make_model(train.x.shape[1], cfg, device, ds.n_outputs)
    started = RunStarted(
        config=cfg.to_dict(),
        device=str(device),
        device_name=device_name(device),
        n_train=train.n,
        n_val=val.n,
        n_test=test.n,
        n_features=int(train.x.shape[1]),
        feature_names=ds.feature_names,
        epochs=cfg.train.epochs,
        loss_formula=objective.formula,
        true_weights=ds.true_weights,
        true_bias=ds.true_bias,
        data_shape=ds.shape,
        outlier_rows=ds.outlier_rows,
        x_mean=ds.x_mean.tolist() if ds.x_mean is not None else None,
        x_std=ds.x_std.tolist() if ds.x_std is not None else None,
        y_mean=ds.y_mean,
        y_std=ds.y_std,
        optimum=optimum,
        condition_number=cond,
        warnings=warnings,
        full_batch=(cfg.optim.batch_size or train.n) >= train.n,
        task=cfg.model.task,
        classes=ds.classes,
    )
    rule = make_update_rule(flatten_params(model), model, cfg)
    return Setup(cfg, ds, objective, train, val, test, model, rule, optimum, started)
