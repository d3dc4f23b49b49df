"""One epoch on the device, and the one host read that ends it.

:meth:`EpochRunner.run` is the hot loop: the data stay on the device, batches come from an
on-device permutation, and nothing is read back per batch (every ``.item()`` or ``.tolist()``
is a device sync that stalls the GPU's queue). The steps themselves are one of the strategies
of :mod:`engine.training.steps` (closed-form gradients for the built-in losses, sufficient
statistics for full-batch MSE, autograd for user losses), chosen by :func:`choose_steps`. The
losses and residual sums the epoch event needs accumulate in device tensors;
:meth:`EpochRunner.read` then reads all of them, the validation pass, the parameters and the
last step's gradient norm in one ``tolist()``, the epoch's single host sync.

Data-parallel (a :class:`~engine.training.distributed.Dist`), the steps compute on this rank's
rows and :meth:`EpochRunner.read` sums the epoch's loss and metric sums over the ranks in one
all-reduce that also carries rank 0's validation sums and every rank's stop request: all ranks
then hold the same numbers and take the same early-stopping and stop decisions, with no
further communication. A stop is only ever taken there, between epochs, so no rank leaves a
collective that the others still wait in.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from engine.core.control import Control
from engine.data.dataset import Split
from engine.losses.derivatives import ClosedForm
from engine.losses.functions import Objective
from engine.training.classify import class_sums, from_class_sums
from engine.training.distributed import Dist
from engine.training.early_stopping import Params
from engine.training.epoch_result import Clock, EpochResult, grad_norm_of
from engine.training.metrics import from_sums, residual_sums
from engine.training.steps import AutogradSteps, EpochSums, Interrupted
from engine.training.strategy import STEPS_ENV, STEPS_MODES, choose_steps
from engine.training.update_rules import UpdateRule

__all__ = [
    "STEPS_ENV",
    "Clock",
    "DeviceSplit",
    "EpochResult",
    "EpochRunner",
    "EpochSums",
    "Interrupted",
    "choose_steps",
    "evaluate_splits",
    "load_params",
    "params_on_host",
    "predict",
]


class DeviceSplit:
    """A split on the device with the constants its metrics need.

    Rank-local rows (``split.n_total`` set, :mod:`engine.data.rank_rows`): ``x``/``y`` hold this
    rank's rows, ``n`` and ``ss_tot`` are the whole split's and ``local`` is True."""

    def __init__(self, split: Split, device: torch.device) -> None:
        self.x = split.x.to(device)
        self.y = split.y.to(device)
        self.local = split.n_total is not None
        if split.n_total is not None:
            self.n = split.n_total
            self.ss_tot = self.y.new_full((), split.ss_tot or 0.0)
            return
        self.n = len(split)
        yc = self.y - self.y.mean() if self.n else self.y
        # Σ(y - ȳ)²; 0 for an empty split (never read: its metrics are not computed)
        self.ss_tot = torch.dot(yc, yc) if self.n else self.y.new_zeros(())


def predict(model: nn.Linear, x: Tensor) -> Tensor:
    """``ŷ = x·w + b`` as a vector."""
    out: Tensor = model(x)  # torch types Module.__call__ as returning Any
    return out.squeeze(-1)


def params_on_host(model: nn.Linear) -> Params:
    """The model's weights and bias as host numbers (a device sync: not for the hot loop).

    With K outputs (multiclass) the weights are the K×d matrix row by row and the bias is a
    list of K numbers."""
    bias: float | list[float] | None = None
    if model.bias is not None:
        values = model.bias.detach().tolist()
        bias = values if model.out_features > 1 else float(values[0])
    return model.weight.detach().reshape(-1).tolist(), bias


def split_params(flat: list[float], model: nn.Linear) -> Params:
    """Weights and bias from the flat host vector ``[w, b]`` (see :func:`params_on_host`)."""
    k = model.out_features if model.bias is not None else 0
    if k == 0:
        return flat, None
    n_w = len(flat) - k
    return flat[:n_w], (flat[n_w:] if k > 1 else flat[n_w])


def load_params(model: nn.Linear, params: Params) -> None:
    """Put host weights and bias back into the model, on its device."""
    device = model.weight.device
    with torch.no_grad():
        model.weight.copy_(torch.tensor(params[0], device=device).view_as(model.weight))
        if model.bias is not None:
            model.bias.copy_(torch.tensor(params[1], device=device).view_as(model.bias))


@torch.no_grad()
def _eval_sums(model: nn.Linear, objective: Objective, s: DeviceSplit) -> Tensor:
    """``[objective, Σr², Σ|r|]`` of a split at the current weights, on the device (no median:
    one costs 5-14% of a small full-batch epoch, so ``medae`` is reported at a run's end)."""
    pred = predict(model, s.x)
    return torch.cat((objective(pred, s.y, model.weight).reshape(1), residual_sums(pred, s.y)))


@torch.no_grad()
def _local_sums(model: nn.Linear, objective: Objective, s: DeviceSplit) -> Tensor:
    """:func:`_eval_sums` of this rank's rows of ``s`` with the objective times their count
    (``n_r · (mean + penalty)``: summed over the ranks and divided by ``n``, the objective of
    the whole split); zeros for a rank without rows."""
    rows = int(s.y.shape[0])
    if not rows:
        return s.y.new_zeros((3,))
    pred = predict(model, s.x)
    loss = objective(pred, s.y, model.weight).reshape(1) * rows
    return torch.cat((loss, residual_sums(pred, s.y)))


@torch.no_grad()
def evaluate_splits(
    model: nn.Linear,
    splits: dict[str, DeviceSplit],
    y_std: float,
    objective: Objective | None = None,
    loss_of: tuple[str, ...] = (),
) -> tuple[dict[str, float], dict[str, dict[str, float]], Params]:
    """The metrics (``medae`` included) and parameters of the current weights on each
    non-empty split, and the objective on the splits named in ``loss_of``, in one host read
    (the end of a run, not the hot loop).

    The objective may be user code (a custom loss): it runs only where asked, so a run stopped
    before its first epoch does not call it, and the test split never needs it.
    Returns ``({split: objective}, {split: metrics}, (weights, bias))``.
    """
    named = [(name, s) for name, s in splits.items() if s.n]
    parts = []
    for name, s in named:
        pred = predict(model, s.x)
        loss = (
            objective(pred, s.y, model.weight).reshape(1)
            if objective is not None and name in loss_of
            else s.y.new_full((1,), math.nan)
        )
        parts += [loss, residual_sums(pred, s.y, median=True), s.ss_tot.reshape(1)]
    parts.append(model.weight.detach().reshape(-1))
    if model.bias is not None:
        parts.append(model.bias.detach().reshape(-1))
    host = torch.cat(parts).tolist()
    losses, metrics = {}, {}
    for i, (name, s) in enumerate(named):
        loss, sq, ab, med, tot = host[5 * i : 5 * i + 5]
        if objective is not None and name in loss_of:
            losses[name] = loss
        metrics[name] = from_sums(sq, ab, s.n, tot, y_std, medae=med)
    return losses, metrics, split_params(host[5 * len(named) :], model)


class EpochRunner:
    """Runs epochs of one model: steps over shuffled batches, then one read of the results."""

    def __init__(
        self,
        model: nn.Linear,
        optimizer: UpdateRule,
        objective: Objective,
        train: DeviceSplit,
        val: DeviceSplit,
        *,
        batch_size: int | None,
        seed: int,
        y_std: float,
        control: Control,
        clock: Clock,
        closed: ClosedForm | None = None,
        epochs: int = 1,
        steps_mode: str | None = None,
        classes: int = 0,
        dist: Dist | None = None,
    ) -> None:
        self.model, self.optimizer, self.objective = model, optimizer, objective
        self.classes = classes
        """Classification: the number of classes K (0: regression)."""
        self.train, self.val = train, val
        self.batch = batch_size or train.n
        self.full_batch = self.batch >= train.n
        device = train.x.device
        self._shuffle = torch.Generator(device=device).manual_seed(seed)
        self._zero = torch.zeros(1, device=device)
        self.y_std, self.control, self.clock = y_std, control, clock
        self.dist = dist
        """Data-parallel: this rank's place (the steps never stop mid-epoch: see :meth:`read`)."""
        self.steps = choose_steps(
            model,
            optimizer,
            objective,
            closed,
            train,
            max(self.batch, 1),
            epochs,
            self._shuffle,
            control if dist is None else Control(),
            clock,
            steps_mode,
            dist,
        )
        if classes and isinstance(self.steps, AutogradSteps):
            self.steps.sums = lambda pred, y: class_sums(pred, y, classes)

    @property
    def steps_mode(self) -> str:
        """The mode that chooses this runner's strategy again (kept in checkpoints)."""
        return STEPS_MODES[type(self.steps).__name__]

    def shuffle_state(self) -> torch.Tensor:
        """The shuffling generator's state (a checkpoint holds it: a resumed run draws the same
        batches as an uninterrupted one)."""
        return self._shuffle.get_state()

    def set_shuffle_state(self, state: torch.Tensor) -> None:
        self._shuffle.set_state(state.to(self._shuffle.get_state().device))

    def run(self) -> EpochSums | Interrupted:
        """One pass over the training rows, one optimiser step per batch, no host sync."""
        self.model.train()
        sums = self.steps.run()
        if isinstance(sums, EpochSums) and self.control.stopped and self.dist is None:
            return Interrupted(partial=True)  # a stop during the last step: not reported
        return sums

    def read(self, sums: EpochSums) -> EpochResult:
        """Evaluate on validation and read the epoch's numbers back: the one host sync."""
        if self.classes:
            return self._read_classes(sums)
        model, train, val = self.model, self.train, self.val
        model.eval()
        train_sums = sums.train_sums
        if train_sums is None:  # minibatch: one no-grad pass at the epoch's final weights
            x, y = self._my_rows()
            with torch.no_grad():
                train_sums = residual_sums(predict(model, x), y)
        if not val.n:
            val_sums = self._zero.new_full((3,), math.nan)
        elif val.local:  # this rank's rows; the objective weighted by their share
            val_sums = _local_sums(model, self.objective, val)
        elif self.dist is not None and not self.dist.writer:
            val_sums = self._zero.new_zeros((3,))  # rank 0's alone count
        else:
            val_sums = _eval_sums(model, self.objective, val)
        params = [model.weight.detach().reshape(-1)]
        if model.bias is not None:
            params.append(model.bias.detach())
        summed, flag = self._summed(torch.cat((sums.loss_sum.reshape(1), train_sums, val_sums)))
        # The one host sync of the epoch: every read-back waits for the device's queue to
        # drain, so everything the event needs comes back in one tolist(). The gradient norm
        # is not summed over ranks: the gradient it measures was already all-reduced.
        host = torch.cat(
            (
                summed,
                train.ss_tot.reshape(1),
                val.ss_tot.reshape(1) if val.n else self._zero,
                *params,
                self._grad_norm(sums),
                flag,
            )
        ).tolist()
        stopped = bool(flag.numel()) and host.pop() > 0
        grad_norm = grad_norm_of(host.pop(), sums.grad_scale)
        (loss_sum, sq, ab, val_loss, vsq, vab, tot, vtot), flat = host[:8], host[8:]
        weights, bias = (flat[:-1], flat[-1]) if model.bias is not None else (flat, None)
        metrics = {"train": from_sums(sq, ab, train.n, tot, self.y_std)}
        if val.local and val.n:
            val_loss /= val.n
        if val.n:
            metrics["val"] = from_sums(vsq, vab, val.n, vtot, self.y_std)
        return EpochResult(
            train_loss=loss_sum / train.n,
            val_loss=val_loss if val.n else None,
            weights=weights,
            bias=bias,
            metrics=metrics,
            stopped=stopped,
            grad_norm=grad_norm,
        )

    def _grad_norm(self, sums: EpochSums) -> Tensor:
        """The last step's ``‖grad‖₂`` as one device number for the epoch's read (NaN when no
        step noted one)."""
        if sums.grad_norm is None:
            return self._zero.new_full((1,), math.nan)
        return sums.grad_norm.reshape(1)

    def _my_rows(self) -> tuple[Tensor, Tensor]:
        """The training rows this rank evaluates (all of them in a single process)."""
        x, y = self.train.x, self.train.y
        if self.dist is None or self.train.local:
            return x, y
        lo, hi = self.dist.rows(self.train.n)
        return x[lo:hi], y[lo:hi]

    def _summed(self, sums: Tensor) -> tuple[Tensor, Tensor]:
        """Data-parallel: ``sums`` summed over the ranks and the number of ranks asked to stop
        (one all-reduce of both); single-process: ``sums`` and an empty tensor."""
        if self.dist is None:
            return sums, sums[:0]
        flag = sums.new_full((1,), 1.0 if self.control.stopped else 0.0)
        both = self.dist.sum_(torch.cat((sums, flag)))
        return both[:-1], both[-1:]

    def _read_classes(self, sums: EpochSums) -> EpochResult:
        """:meth:`read` for classification: ``[Σ log loss, confusion counts]`` per split
        instead of residual sums, in the same single host read."""
        model, train, val, k = self.model, self.train, self.val, self.classes
        model.eval()
        width = 1 + k * k
        train_sums = sums.train_sums
        if train_sums is None:
            x, y = self._my_rows()
            with torch.no_grad():
                train_sums = class_sums(predict(model, x), y, k)
        if val.n and self.dist is not None and not self.dist.writer:
            val_sums = self._zero.new_zeros((1 + width,))  # rank 0's alone count
        elif val.n:
            with torch.no_grad():
                pred = predict(model, val.x)
                val_sums = torch.cat(
                    (
                        self.objective(pred, val.y, model.weight).reshape(1),
                        class_sums(pred, val.y, k),
                    )
                )
        else:
            val_sums = self._zero.new_full((1 + width,), math.nan)
        params = [model.weight.detach().reshape(-1)]
        if model.bias is not None:
            params.append(model.bias.detach())
        summed, flag = self._summed(torch.cat((sums.loss_sum.reshape(1), train_sums, val_sums)))
        host = torch.cat((summed, *params, self._grad_norm(sums), flag)).tolist()
        stopped = bool(flag.numel()) and host.pop() > 0
        grad_norm = grad_norm_of(host.pop(), sums.grad_scale)
        t, v = host[1 : 1 + width], host[1 + width : 2 + 2 * width]
        weights, bias = split_params(host[2 + 2 * width :], model)
        metrics = {"train": from_class_sums(t, train.n, k)}
        if val.n:
            metrics["val"] = from_class_sums(v[1:], val.n, k)
        return EpochResult(
            train_loss=host[0] / train.n,
            val_loss=v[0] if val.n else None,
            weights=weights,
            bias=bias,
            metrics=metrics,
            stopped=stopped,
            grad_norm=grad_norm,
        )
