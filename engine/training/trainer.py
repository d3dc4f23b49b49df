"""The training loop in named steps: set up → ``RunStarted``, epochs → ``EpochEnded``, finish.

:func:`run_training` reads top to bottom: :func:`engine.training.run_setup.set_up` loads the
data, finds the optimum and builds the model; each epoch runs on the device
(:class:`engine.training.epoch.EpochRunner`: no host sync per batch, one per epoch) and becomes
an event (:func:`epoch_event`); two rules may end the run early
(:mod:`engine.training.early_stopping`: early stopping, which also owns the best weights and
their restore, and the divergence check); :func:`finish` evaluates the weights the run leaves
and says how it ended. Synchronous: it runs in a worker thread under :func:`engine.train`,
directly under :func:`engine.fit`, emits events through a callback and obeys a
:class:`~engine.core.control.Control`. In a data-parallel run (torchrun,
:mod:`engine.training.distributed`) every rank runs this same loop on the same numbers: the
epoch's read sums them over the ranks, so every decision (early stopping, divergence, a stop)
is the same on every rank; only rank 0's events and checkpoints are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from engine.config import Config
from engine.core.control import Control
from engine.core.events import EpochEnded, Event, Reason, RunFinished
from engine.data.dataset import Dataset, to_original
from engine.losses.derivatives import closed_form
from engine.training.classify import n_classes
from engine.training.distributed import Dist, current
from engine.training.early_stopping import DivergenceCheck, EarlyStopping
from engine.training.epoch import (
    Clock,
    EpochResult,
    EpochRunner,
    EpochSums,
    evaluate_splits,
    load_params,
    params_on_host,
)
from engine.training.metrics import coef_rmse
from engine.training.run_setup import Setup, set_up, uses_user_code

Emit = Callable[[Event], None]


def epoch_event(
    run: Setup,
    epoch: int,
    result: EpochResult,
    stopper: EarlyStopping,
    improved: bool,
    clock: Clock,
) -> EpochEnded:
    """The event of one finished epoch, from its host numbers."""
    elapsed = clock.elapsed_s
    w_raw, b_raw = to_original(run.ds, result.weights, result.bias)
    return EpochEnded(
        epoch=epoch,
        epochs=run.cfg.train.epochs,
        train_loss=result.train_loss,
        val_loss=result.val_loss,
        best_epoch=stopper.best_epoch,
        best_monitor=stopper.best,
        improved=improved,
        wait=stopper.wait,
        patience=stopper.patience,
        lr=run.optimizer.param_groups[0]["lr"],
        weights=result.weights,
        bias=result.bias,
        elapsed_s=elapsed,
        samples_per_s=run.train.n * epoch / elapsed if elapsed > 0 else 0.0,
        metrics=result.metrics,
        gap=optimality_gap(result.train_loss, run.optimum),
        weights_original=w_raw,
        bias_original=b_raw,
        coef_rmse=truth_error(run, result.weights, result.bias, w_raw, b_raw),
        grad_norm=result.grad_norm,
    )


def truth_error(
    run: Setup, weights: list[float], bias: Any, w_raw: list[float] | None, b_raw: Any
) -> float | None:
    """:func:`engine.training.metrics.coef_rmse` of these parameters in raw units (the units of the
    coefficient table's ``true`` column), or None when the data has no true weights."""
    raw_w, raw_b = (w_raw, b_raw) if w_raw is not None else (weights, bias)
    return coef_rmse(
        raw_w, raw_b if bias is not None else None, run.ds.true_weights, run.ds.true_bias
    )


def optimality_gap(train_loss: float, optimum: dict[str, Any] | None) -> float | None:
    """``train_loss − optimum loss``. Below an *exact* optimum only float32 rounding can take
    the loss (a few ulps), so a negative gap there is reported as 0; below a *reference*
    optimum it is real (gradient descent beat the approximate reference) and is kept."""
    if optimum is None:
        return None
    gap = train_loss - float(optimum["loss"])
    return max(gap, 0.0) if optimum.get("kind") == "exact" else gap


@dataclass(frozen=True)
class Ending:
    """How the epochs ended: the reason, the last reported epoch and any detail."""

    reason: Reason
    epoch: int
    detail: str = ""
    moved: bool = False
    """A stop came mid-epoch: the weights moved past the last reported epoch."""


class Checkpointer(Protocol):
    """Where a run's checkpoints go (the run directory): ``due()`` throttles, ``save`` writes."""

    def due(self) -> bool: ...

    def save(self, state: dict[str, Any]) -> None: ...


def training_state(
    run: Setup, runner: EpochRunner, stopper: EarlyStopping, clock: Clock, epoch: int
) -> dict[str, Any]:
    """Everything ``resume`` needs to repeat the epochs after ``epoch`` exactly (tensors and
    plain values only, so it loads with ``weights_only=True``)."""
    return {
        "epoch": epoch,
        "config": run.cfg.to_dict(),
        "model": {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()},
        "optimizer": run.optimizer.state_dict(),
        "shuffle_rng": runner.shuffle_state(),
        "early_stopping": stopper.state(),
        "elapsed_s": clock.elapsed_s,
        "device": run.model.weight.device.type,
        "steps": runner.steps_mode,
    }


def load_training_state(
    run: Setup, runner: EpochRunner, stopper: EarlyStopping, clock: Clock, state: dict[str, Any]
) -> int:
    """Put a checkpoint back into a freshly set-up run; return the epoch it was taken after.

    A checkpoint from another kind of device is refused: its shuffling generator's state cannot
    be carried over, so the resumed run would not repeat the uninterrupted one.
    """
    device = run.model.weight.device
    saved = state.get("device", device.type)
    if saved != device.type:
        from engine.core.errors import RunError

        raise RunError(
            f"the checkpoint was taken on {saved} and this run would train on "
            f"{device.type}: resume with --set train.device={saved}"
        )
    run.model.load_state_dict({k: v.to(device) for k, v in state["model"].items()})
    run.optimizer.load_state_dict(state["optimizer"])
    runner.set_shuffle_state(state["shuffle_rng"])
    stopper.load_state(state["early_stopping"])
    clock.exclude(-float(state["elapsed_s"]))
    return int(state["epoch"])


def finish_message(
    reason: Reason,
    epoch: int,
    cfg: Config,
    restored: int | None,
    detail: str = "",
    stopped_by: str = "you",
) -> str:
    """The one line a run ends with (the CLI prints it; the README quotes it)."""
    es = cfg.early_stopping
    tail = f"; restored epoch {restored}" if restored is not None else ""
    if reason == "early_stopped":
        return (
            f"early stopped at epoch {epoch}: no {es.monitor} improvement > {es.min_delta:g} "
            f"for {es.patience} epochs{tail}"
        )
    if reason == "diverged":
        return f"diverged at epoch {epoch}: {detail} — lower lr (was {cfg.optim.lr:g}){tail}"
    if reason == "cancelled":
        return f"stopped by {stopped_by} at epoch {epoch}{tail}"
    return f"completed {epoch} epoch{'s' if epoch != 1 else ''}{tail}"


def finish(
    run: Setup,
    ending: Ending,
    stopper: EarlyStopping,
    clock: Clock,
    stopped_by: str = "you",
    first_epoch: int = 1,
    dist: Dist | None = None,
) -> RunFinished:
    """Restore the best weights (if early stopping says so) and report what the run leaves:
    its losses, metrics (``medae`` too) and truth error, all of the weights it returns (after
    a restore, the restored epoch's numbers, not the last epoch's), in one host read. With
    rank-local rows (``dist``), every rank's sums are added (:mod:`engine.training.rank_eval`)."""
    restored = stopper.restore(lambda params: load_params(run.model, params))
    splits = {"train": run.train, "val": run.val, "test": run.test}
    loss_of = ("train", "val") if _losses_wanted(run, ending, first_epoch) else ()
    confusion = None
    if run.ds.classes is not None:
        from engine.training.classify_eval import evaluate_class_splits

        losses, final, confusion, (weights, bias) = evaluate_class_splits(
            run.model, splits, n_classes(run.ds.n_outputs), run.objective, loss_of
        )
    elif dist is not None and run.train.local:
        from engine.training.rank_eval import evaluate_local_splits

        losses, final, (weights, bias) = evaluate_local_splits(
            run.model, splits, run.ds.y_std, dist, run.objective, loss_of
        )
    else:
        losses, final, (weights, bias) = evaluate_splits(
            run.model, splits, run.ds.y_std, run.objective, loss_of=loss_of
        )
    w_orig, b_orig = to_original(run.ds, weights, bias)
    train_loss = losses.get("train")
    return RunFinished(
        reason=ending.reason,
        epochs_run=ending.epoch,
        best_epoch=stopper.best_epoch,
        best_monitor=stopper.best,
        weights=weights,
        bias=bias,
        message=finish_message(
            ending.reason, ending.epoch, run.cfg, restored, ending.detail, stopped_by
        ),
        restored_epoch=restored,
        elapsed_s=clock.elapsed_s,
        metrics=final,
        weights_original=w_orig,
        bias_original=b_orig,
        train_loss=train_loss,
        val_loss=losses.get("val"),
        gap=optimality_gap(train_loss, run.optimum) if train_loss is not None else None,
        coef_rmse=truth_error(run, weights, bias, w_orig, b_orig),
        confusion=confusion,
    )


def _losses_wanted(run: Setup, ending: Ending, first_epoch: int) -> bool:
    """Whether the end of a run evaluates its objective (on train and val, never test, which
    no loss is shown for). Not before an epoch has run (a stop during set-up ends the run at
    once), and not after a stop when the objective is user code: it may be slow, and a stop
    must not wait for it (a view then finds the restored epoch's losses in the log)."""
    if ending.epoch < first_epoch:
        return False
    return not (ending.reason == "cancelled" and uses_user_code(run.cfg))


def run_training(
    cfg: Config,
    emit: Emit,
    control: Control | None = None,
    dataset: Dataset | None = None,
    *,
    checkpoints: Checkpointer | None = None,
    resume_from: dict[str, Any] | None = None,
    dist: Dist | None = None,
) -> RunFinished:
    """Train ``cfg`` to the end, calling ``emit`` for every event; return the last event.

    ``dataset`` replaces the config's own split (cross-validation passes each fold's).
    ``checkpoints`` receives the training state after epochs it says are due and after the last
    one (not after a mid-epoch stop: the previous checkpoint stays the valid one);
    ``resume_from`` is such a state: training goes on from the epoch after it.
    ``dist``: this process's place in a data-parallel run (default: the process group it has
    joined, if any); a checkpoint does not depend on the number of ranks.
    """
    control = control or Control()
    dist = dist if dist is not None else current()
    run = set_up(cfg, control, dataset, dist)

    clock = Clock()  # speed and elapsed time count training, not set-up
    runner = EpochRunner(
        run.model,
        run.optimizer,
        run.objective,
        run.train,
        run.val,
        batch_size=cfg.optim.batch_size,
        seed=cfg.seed + 3,
        y_std=run.ds.y_std,
        control=control,
        clock=clock,
        closed=closed_form(cfg.loss),
        epochs=cfg.train.epochs,
        steps_mode=resume_from.get("steps") if resume_from else None,
        classes=n_classes(run.ds.n_outputs) if run.ds.classes else 0,
        dist=dist,
    )
    # In full batch, train_loss is measured at the weights the epoch *started* from, so when it
    # is the monitor the best weights are those start weights (the previous epoch's end).
    stopper = EarlyStopping.from_config(
        cfg.early_stopping,
        monitors_start=runner.full_batch and cfg.early_stopping.monitor == "train_loss",
    )
    stopper.remember(params_on_host(run.model))
    first = 1
    if resume_from is not None:  # before RunStarted: a checkpoint that does not fit changes nothing
        first = load_training_state(run, runner, stopper, clock, resume_from) + 1
    emit(run.started)
    divergence = DivergenceCheck()
    ending = Ending("completed", first - 1)
    for epoch in range(first, cfg.train.epochs + 1):
        sums = runner.run()
        if not isinstance(sums, EpochSums):  # stopped: this epoch is not reported
            stopper.interrupted(partial=sums.partial)
            ending = Ending("cancelled", epoch - 1, moved=sums.partial)
            break
        result = runner.read(sums)
        if result.stopped:  # data-parallel: a rank was stopped; every rank stops here
            stopper.interrupted(partial=True)
            ending = Ending("cancelled", epoch - 1, moved=True)
            break
        improved = stopper.update(epoch, result.loss(stopper.monitor), result.params)
        emit(epoch_event(run, epoch, result, stopper, improved, clock))
        ending = Ending("completed", epoch)
        losses = (("train", result.train_loss), ("validation", result.val_loss))
        if divergence.update(losses, result.weights):
            ending = Ending("diverged", epoch, divergence.detail or "")
            break
        if stopper.should_stop:
            ending = Ending("early_stopped", epoch)
            break
        if checkpoints is not None and checkpoints.due():
            checkpoints.save(training_state(run, runner, stopper, clock, epoch))

    if checkpoints is not None and not ending.moved:  # before finish() restores the best weights
        checkpoints.save(training_state(run, runner, stopper, clock, ending.epoch))
    finished = finish(run, ending, stopper, clock, control.stopped_by, first_epoch=first, dist=dist)
    emit(finished)
    return finished
