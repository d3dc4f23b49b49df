"""The training loop: synchronous, emits events through a callback, obeys a control handle.

Runs in a worker thread under :func:`engine.train` or directly under :func:`engine.fit`. The hot
loop keeps the data on the device, shuffles by an on-device permutation, never reads a number back
per batch (losses and residual sums accumulate on the device) and syncs once per epoch to build
the :class:`~engine.events.EpochEnded` event.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from engine.config import Config
from engine.control import Control
from engine.data import Dataset, Split, load_dataset, to_original
from engine.device import device_name, resolve_device
from engine.early_stopping import EarlyStopping
from engine.events import EpochEnded, Event, Reason, RunFinished, RunStarted
from engine.losses import Objective, build_objective
from engine.metrics import evaluate, from_sums, residual_sums

Emit = Callable[[Event], None]
Params = tuple[list[float], float | None]
"""Weights and bias as host numbers."""


def make_optimizer(model: nn.Linear, cfg: Config) -> torch.optim.Optimizer:
    """SGD / Adam / AdamW with weight decay on ``w`` only (the bias is never penalised)."""
    o = cfg.optim
    if o.weight_decay == 0:  # one group: half the optimiser's per-step bookkeeping
        groups: list[dict] = [{"params": list(model.parameters())}]
    else:
        groups = [{"params": [model.weight], "weight_decay": o.weight_decay}]
        if model.bias is not None:
            groups.append({"params": [model.bias], "weight_decay": 0.0})
    if o.name == "sgd":
        return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum)
    if o.name == "adam":
        return torch.optim.Adam(groups, lr=o.lr)
    return torch.optim.AdamW(groups, lr=o.lr)


def make_model(n_features: int, cfg: Config, device: torch.device) -> nn.Linear:
    """``nn.Linear(d, 1)`` initialised like PyTorch's default, but from the run's seed."""
    model = nn.Linear(n_features, 1, bias=cfg.model.bias)
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    bound = 1.0 / math.sqrt(n_features)
    with torch.no_grad():
        model.weight.copy_(torch.empty(1, n_features).uniform_(-bound, bound, generator=gen))
        if model.bias is not None:
            model.bias.copy_(torch.empty(1).uniform_(-bound, bound, generator=gen))
    return model.to(device)


class _Split:
    """A split on the device with the constants its metrics need."""

    def __init__(self, split: Split, device: torch.device) -> None:
        self.x = split.x.to(device)
        self.y = split.y.to(device)
        self.n = len(split)
        yc = self.y - self.y.mean() if self.n else self.y
        self.ss_tot = torch.dot(yc, yc) if self.n else None


def _predict(model: nn.Linear, x: Tensor) -> Tensor:
    return model(x).squeeze(-1)


@torch.no_grad()
def _eval_sums(model: nn.Linear, objective: Objective, s: _Split) -> Tensor:
    """``[objective, Σr², Σ|r|]`` of a split at the current weights, on the device."""
    pred = _predict(model, s.x)
    return torch.cat((objective(pred, s.y, model.weight).reshape(1), residual_sums(pred, s.y)))


def _finish_message(reason: Reason, epoch: int, cfg: Config, restored: int | None,
                    detail: str = "") -> str:
    es = cfg.early_stopping
    tail = f"; restored epoch {restored}" if restored is not None else ""
    if reason == "early_stopped":
        return (f"early stopped at epoch {epoch}: no {es.monitor} improvement > {es.min_delta:g} "
                f"for {es.patience} epochs{tail}")
    if reason == "diverged":
        return f"diverged at epoch {epoch}: {detail} — lower lr (was {cfg.optim.lr:g}){tail}"
    if reason == "cancelled":
        return f"stopped by you at epoch {epoch}{tail}"
    return f"completed {epoch} epoch{'s' if epoch != 1 else ''}{tail}"


def prepare(cfg: Config, dataset: Dataset | None = None, control: Control | None = None
            ) -> tuple[Dataset, Objective, list[str]]:
    """Load data and build the objective (running a custom loss's pre-flight check).

    A stop requested during set-up skips the pre-flight check: the run then ends at once.
    """
    ds = dataset if dataset is not None else load_dataset(cfg)
    objective = build_objective(cfg.loss, cfg.base_dir)
    warnings = list(ds.warnings)
    if control is not None and control.stopped:
        return ds, objective, warnings
    if cfg.loss.name == "custom" or any(
            t.get("name") == "custom" for t in (cfg.loss.terms or [])):
        from engine.loss_check import preflight

        warnings += preflight(cfg.loss, cfg.base_dir)
    return ds, objective, warnings


def run_training(cfg: Config, emit: Emit, control: Control | None = None,
                 dataset: Dataset | None = None) -> RunFinished:
    """Train ``cfg`` to the end, calling ``emit`` for every event; return the last event.

    ``dataset`` replaces the config's own split (cross-validation passes each fold's).
    """
    control = control or Control()
    device = resolve_device(cfg.train.device)
    ds, objective, warnings = prepare(cfg, dataset, control)
    from engine.optimum import optimum_info

    optimum, cond = optimum_info(ds, cfg, objective, stop=lambda: control.stopped)
    if optimum is not None:
        optimum["weights_original"], optimum["bias_original"] = to_original(
            ds, optimum["weights"], optimum["bias"])
    if cond is not None and cond > 1e3:
        warnings.append(f"feature matrix is ill-conditioned (condition number {cond:.3g} > 1e3): "
                        "gradient descent will be slow; standardise or drop correlated features")
    train, val, test = (_Split(s, device) for s in (ds.train, ds.val, ds.test))
    model = make_model(train.x.shape[1], cfg, device)
    opt = make_optimizer(model, cfg)
    es_cfg = cfg.early_stopping
    stopper = EarlyStopping(es_cfg.patience, es_cfg.min_delta, es_cfg.enabled)
    n, epochs = train.n, cfg.train.epochs
    batch = cfg.optim.batch_size or n
    shuffle_gen = torch.Generator(device=device).manual_seed(cfg.seed + 3)
    opt_loss = optimum["loss"] if optimum else None

    emit(RunStarted(
        config=cfg.to_dict(), device=str(device), device_name=device_name(device),
        n_train=n, n_val=val.n, n_test=test.n, n_features=int(train.x.shape[1]),
        feature_names=ds.feature_names, epochs=epochs, loss_formula=objective.formula,
        true_weights=ds.true_weights, true_bias=ds.true_bias, data_shape=ds.shape,
        outlier_rows=ds.outlier_rows,
        x_mean=ds.x_mean.tolist() if ds.x_mean is not None else None,
        x_std=ds.x_std.tolist() if ds.x_std is not None else None,
        y_mean=ds.y_mean, y_std=ds.y_std, optimum=optimum, condition_number=cond,
        warnings=warnings))

    t_loop = time.perf_counter()  # speed and elapsed time count training, not set-up
    has_bias = model.bias is not None
    # In full batch, train_loss is measured at the weights the epoch *started* from, so when it
    # is the monitor the best weights are those start weights (the previous epoch's end).
    start_is_best = batch >= n and es_cfg.monitor == "train_loss"
    last_params: Params = (model.weight.detach().reshape(-1).tolist(),
                           float(model.bias.detach()) if has_bias else None)
    best_params: Params | None = None
    reason: Reason = "completed"
    detail, epoch, paused_s, partial = "", 0, 0.0, False
    zero = torch.zeros(1, device=device)
    for epoch in range(1, epochs + 1):
        model.train()
        loss_sum = torch.zeros((), device=device)  # Σ batch_loss·rows, read once per epoch
        train_sums = None
        perm = (torch.randperm(n, device=device, generator=shuffle_gen) if batch < n else None)
        for start in range(0, n, batch):
            if control.busy:
                paused_s += control.wait_if_paused()
                if control.stopped:
                    partial = start > 0  # some steps of this epoch already ran
                    break
            if perm is None:
                xb, yb = train.x, train.y
            else:
                idx = perm[start:start + batch]
                xb, yb = train.x.index_select(0, idx), train.y.index_select(0, idx)
            pred = _predict(model, xb)
            loss = objective(pred, yb, model.weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum.add_(loss.detach(), alpha=yb.shape[0])
            if perm is None:  # full batch: the step's own forward pass gives the metrics
                train_sums = residual_sums(pred.detach(), yb)
        if control.stopped:
            epoch -= 1
            reason = "cancelled"
            break
        model.eval()
        if train_sums is None:  # minibatch: one no-grad pass at the epoch's final weights
            train_sums = _eval_sums(model, objective, train)[1:]
        val_sums = _eval_sums(model, objective, val) if val.n else zero.new_full((3,), math.nan)
        params = [model.weight.detach().reshape(-1)]
        if has_bias:
            params.append(model.bias.detach())
        # The one host sync of the epoch.
        host = torch.cat((loss_sum.reshape(1), train_sums, val_sums, train.ss_tot.reshape(1),
                          val.ss_tot.reshape(1) if val.n else zero, *params)).tolist()
        (loss_sum_f, sq, ab, val_loss, vsq, vab, tot, vtot), flat = host[:8], host[8:]
        weights, bias = (flat[:-1], flat[-1]) if has_bias else (flat, None)
        train_loss = loss_sum_f / n
        val_loss_opt = val_loss if val.n else None
        monitor = train_loss if es_cfg.monitor == "train_loss" else val_loss
        improved = stopper.update(epoch, monitor)
        if improved:
            best_params = last_params if start_is_best else (weights, bias)
        last_params = (weights, bias)
        w_raw, b_raw = to_original(ds, weights, bias)
        metrics = {"train": from_sums(sq, ab, n, tot, ds.y_std)}
        if val.n:
            metrics["val"] = from_sums(vsq, vab, val.n, vtot, ds.y_std)
        elapsed = time.perf_counter() - t_loop - paused_s
        emit(EpochEnded(
            epoch=epoch, epochs=epochs, train_loss=train_loss, val_loss=val_loss_opt,
            best_epoch=stopper.best_epoch, best_monitor=stopper.best, improved=improved,
            wait=stopper.wait, patience=es_cfg.patience, lr=opt.param_groups[0]["lr"],
            weights=weights, bias=bias, elapsed_s=elapsed,
            samples_per_s=n * epoch / elapsed if elapsed > 0 else 0.0, metrics=metrics,
            gap=train_loss - opt_loss if opt_loss is not None else None,
            weights_original=w_raw, bias_original=b_raw))
        bad = [(k, v) for k, v in (("train", train_loss), ("validation", val_loss_opt))
               if v is not None and not math.isfinite(v)]
        if bad or not all(math.isfinite(w) for w in weights):
            k, v = bad[0] if bad else ("weights", math.nan)
            detail = f"{k} loss became {v}" if bad else "weights became non-finite"
            reason = "diverged"
            break
        if stopper.should_stop:
            reason = "early_stopped"
            break

    restored = None
    if es_cfg.enabled and es_cfg.restore_best and best_params is not None \
            and (partial or best_params != last_params):
        with torch.no_grad():
            model.weight.copy_(torch.tensor([best_params[0]], device=device))
            if has_bias:
                model.bias.copy_(torch.tensor([best_params[1]], device=device))
        restored = stopper.best_epoch
    final = {name: evaluate(_predict(model, s.x).detach(), s.y, ds.y_std)
             for name, s in (("train", train), ("val", val), ("test", test)) if s.n}
    weights = model.weight.detach().reshape(-1).tolist()
    bias = float(model.bias.detach()) if has_bias else None
    w_orig, b_orig = to_original(ds, weights, bias)
    finished = RunFinished(
        reason=reason, epochs_run=epoch, best_epoch=stopper.best_epoch, best_monitor=stopper.best,
        weights=weights, bias=bias, message=_finish_message(reason, epoch, cfg, restored, detail),
        restored_epoch=restored, elapsed_s=time.perf_counter() - t_loop - paused_s,
        metrics=final, weights_original=w_orig, bias_original=b_orig)
    emit(finished)
    return finished
