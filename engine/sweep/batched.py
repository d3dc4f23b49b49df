"""Batched sweep trials: K trials that share their data train as one tensor program.

A sweep's trials usually differ only in hyperparameters, and a trial of a small preset trains
in a fraction of a second, less than a process, an Optuna call or a run directory cost. Here
they train together: :func:`train_batched` takes a base :class:`~engine.config.Config` and K
trials' values (dotted key → value, as a sweep spec produces them), refuses the trials the
batched program cannot express (:mod:`engine.sweep.batched_plan` says which and why, so a caller
trains those alone), and trains the rest as one program (:mod:`engine.sweep.batched_program`):
weights ``(d+1)×K``, per-trial lr, momentum, weight decay, l1, l2, δ and q as rows that
broadcast in the update (:mod:`engine.sweep.batched_ops`), per-trial early stopping, divergence
and pruning as masks, the per-epoch losses on the device.

Each trial's :class:`TrialRun` is what ``engine.fit`` of its config reports (its
``RunFinished`` and the losses of its ``EpochEnded`` events) to float32 rounding
(``tests/test_sweep_batched.py`` checks 1e-5). A stopping decision can still differ where a
monitored value ties its threshold within rounding (``min_delta: 0`` on a flat plateau).

Host reads: none per epoch; one every ``check_every`` epochs (is any trial still training?),
one at each epoch a :class:`Pruner` asks for, and one at the end.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from engine.config import Config
from engine.core.control import Control
from engine.core.events import Reason
from engine.data.dataset import Dataset, load_dataset, to_original
from engine.sweep.batched_plan import Refused, plan
from engine.sweep.batched_program import Program
from engine.sweep.batched_stopping import CANCELLED, DIVERGED, REASONS
from engine.training.device import resolve_device
from engine.training.trainer import finish_message

__all__ = ["BatchedResult", "Progress", "Pruner", "Refused", "TrialRun", "train_batched"]


@dataclass(frozen=True)
class TrialRun:
    """One batched trial's outcome, in the terms of its single run's ``RunFinished``."""

    index: int
    """The trial's position in the list given to :func:`train_batched`."""
    values: dict[str, Any]
    config: Config
    reason: Reason
    epochs_run: int
    best_epoch: int | None
    best_monitor: float | None
    restored_epoch: int | None
    """The epoch whose weights were put back (None: the last epoch's weights are returned)."""
    weights: list[float]
    """The returned weights (the best ones where restored), in the units training saw."""
    bias: float | None
    weights_original: list[float] | None
    bias_original: float | None
    train_loss: float | None
    """The objective of the returned weights on the training split (None: no epoch ran)."""
    val_loss: float | None
    train_losses: list[float]
    """Each epoch's ``train_loss`` (what its ``EpochEnded`` says)."""
    val_losses: list[float] | None
    """Each epoch's ``val_loss`` (None without a validation split)."""
    detail: str = ""
    """Why a diverged trial diverged."""
    message: str = ""
    """The line its single run would end with."""


@dataclass(frozen=True)
class Progress:
    """What a :class:`Pruner` sees at an epoch: who still trains, and the losses so far."""

    epoch: int
    running: tuple[int, ...]
    """Trial indices still training after this epoch."""
    _rows: tuple[list[list[float]], list[list[float]]] = field(repr=False)
    _columns: dict[int, int] = field(repr=False)
    _has_val: bool = field(default=True, repr=False)

    def train_losses(self, trial: int) -> list[float]:
        """A running trial's per-epoch train losses up to this epoch."""
        col = self._columns[trial]
        return [row[col] for row in self._rows[0][: self.epoch]]

    def val_losses(self, trial: int) -> list[float] | None:
        """A running trial's per-epoch validation losses (None without a validation split)."""
        if not self._has_val:
            return None
        col = self._columns[trial]
        return [row[col] for row in self._rows[1][: self.epoch]]


class Pruner(Protocol):
    """Asked at the epochs it chooses which running trials to stop (they end ``cancelled``,
    as a single run the pruner stops does)."""

    def due(self, epoch: int) -> bool: ...

    def prune(self, progress: Progress) -> Collection[int]: ...


@dataclass
class BatchedResult:
    """Every trial's outcome: the batched ones, in their given order, and the refused."""

    trials: list[TrialRun]
    refused: list[Refused]
    epochs: int = 0
    """Epochs the program ran (the longest trial's, or fewer after a stop)."""
    elapsed_s: float = 0.0
    """Time in the epochs (the program's set-up and the final read excluded)."""
    setup_s: float = 0.0
    """Time before the first epoch: data, the trials' config checks, the program's set-up."""
    checks_s: float = 0.0
    """The part of ``setup_s`` spent building and checking the trials' configs."""
    device: str = "cpu"
    host_reads: int = 0
    """Host syncs the epochs took (the end's read excluded)."""
    pruned: frozenset[int] = frozenset()

    def outcome(self, index: int) -> TrialRun | Refused:
        """Trial ``index``'s run, or its refusal."""
        found: list[TrialRun | Refused] = [t for t in self.trials if t.index == index]
        found += [r for r in self.refused if r.index == index]
        if not found:
            raise KeyError(index)
        return found[0]


class _History:
    """The host's copy of the per-epoch losses, read in slices when a read is due."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.train: list[list[float]] = []
        self.val: list[list[float]] = []

    def read(self, epoch: int) -> list[bool]:
        """Read the rows up to ``epoch`` not yet read and the active mask, in one sync."""
        p, start = self.program, len(self.train)
        rows = epoch - start
        host = torch.cat(
            (
                p.hist_train[start:epoch].reshape(-1),
                p.hist_val[start:epoch].reshape(-1),
                p.active.to(p.hist_train.dtype),
            )
        ).tolist()
        k = p.k
        self.train += [host[i * k : (i + 1) * k] for i in range(rows)]
        self.val += [host[(rows + i) * k : (rows + i + 1) * k] for i in range(rows)]
        return [bool(a) for a in host[2 * rows * k :]]


def train_batched(
    base: Config,
    trials: Sequence[Mapping[str, Any]],
    *,
    control: Control | None = None,
    pruner: Pruner | None = None,
    dataset: Dataset | None = None,
    check_every: int = 8,
) -> BatchedResult:
    """Train the batchable ``trials`` (dotted values applied to ``base``) as one program and
    return each one's outcome; the others come back refused, with the reason.

    ``control`` stops (every running trial ends ``cancelled``) or pauses between epochs (a
    stop while the data loads raises :class:`engine.data.dataset.Stopped`, as a single run's
    does); ``pruner`` may stop trials at the epochs it names; ``dataset`` replaces loading
    ``base``'s data; ``check_every`` is how often (in epochs) the host asks whether any trial
    still runs.
    """
    begun = time.perf_counter()
    control = control or Control()
    device = resolve_device(base.train.device)
    ds = dataset if dataset is not None else load_dataset(base, stop=lambda: control.stopped)
    checked = time.perf_counter()
    planned, refused = plan(base, trials, n_train=len(ds.train))
    checks_s = time.perf_counter() - checked
    if not planned:
        return BatchedResult([], refused, device=str(device), checks_s=checks_s)
    program = Program(planned, ds, device)
    columns = {p.index: c for c, p in enumerate(program.plans)}
    history = _History(program)
    pruned: set[int] = set()
    reads, epoch, started = 0, 0, time.perf_counter()
    setup_s = started - begun
    with torch.no_grad():
        for epoch in range(1, program.max_epochs + 1):
            if control.busy:
                control.wait_if_paused()
                if control.stopped:
                    program.stopping.cancel(torch.ones_like(program.active))
                    epoch -= 1
                    break
            program.epoch(epoch)
            if pruner is not None and pruner.due(epoch):
                reads += 1
                active = history.read(epoch)
                running = tuple(sorted(p.index for p, a in zip(program.plans, active) if a))
                progress = Progress(
                    epoch, running, (history.train, history.val), columns, program.has_val
                )
                stop = set(pruner.prune(progress)) & set(running)
                if stop:
                    pruned |= stop
                    mask = [p.index in stop for p in program.plans]
                    program.stopping.cancel(torch.tensor(mask, device=device))
                if not set(running) - stop:
                    break
            elif epoch % check_every == 0:
                reads += 1
                if not bool(program.active.any()):
                    break
        elapsed = time.perf_counter() - started
        outcomes = _outcomes(program, ds, history, epoch, control, pruned)
    return BatchedResult(
        sorted(outcomes, key=lambda t: t.index),
        refused,
        epochs=epoch,
        elapsed_s=elapsed,
        setup_s=setup_s,
        checks_s=checks_s,
        device=str(device),
        host_reads=reads,
        pruned=frozenset(pruned),
    )


def _outcomes(
    program: Program,
    ds: Dataset,
    history: _History,
    epochs: int,
    control: Control,
    pruned: set[int],
) -> list[TrialRun]:
    """Read everything back (the history's last rows, the final weights and the stopping
    state) and describe each trial as its single run would."""
    if epochs > len(history.train):
        history.read(epochs)
    p, st = program, program.stopping
    final, changed = st.final(p.theta)
    train = p.objective(p.train, final)
    val = p.objective(p.val, final) if p.has_val else None
    host_final = final.t().tolist()
    ints = (
        torch.stack((st.epochs_run, st.reason, st.best_epoch, st.has_best.long(), changed.long()))
        .t()
        .tolist()
    )
    best = st.best.tolist()
    losses = torch.stack((train, val if val is not None else train)).t().tolist()
    out = []
    for col, plan_ in enumerate(program.plans):
        ran, code, best_epoch, has_best, restored = ints[col]
        reason = REASONS[code]
        tl = [row[col] for row in history.train[:ran]]
        vl = [row[col] for row in history.val[:ran]] if p.has_val else None
        theta = host_final[col]
        weights, bias = (theta[:-1], theta[-1]) if p.bias else (theta, None)
        w_orig, b_orig = to_original(ds, weights, bias)
        detail = _divergence(tl, vl) if code == DIVERGED else ""
        by = "the pruner" if plan_.index in pruned else control.stopped_by
        restored_epoch = best_epoch if restored else None
        out.append(
            TrialRun(
                index=plan_.index,
                values=plan_.values,
                config=plan_.config,
                reason=reason,
                epochs_run=ran,
                best_epoch=best_epoch if has_best else None,
                best_monitor=best[col] if has_best else None,
                restored_epoch=restored_epoch,
                weights=weights,
                bias=bias,
                weights_original=w_orig,
                bias_original=b_orig,
                train_loss=losses[col][0] if ran else None,
                val_loss=losses[col][1] if ran and val is not None else None,
                train_losses=tl,
                val_losses=vl,
                detail=detail,
                message=finish_message(
                    reason,
                    ran,
                    plan_.config,
                    restored_epoch,
                    detail,
                    by if code == CANCELLED else "you",
                ),
            )
        )
    return out


def _divergence(train: list[float], val: list[float] | None) -> str:
    """The single run's divergence detail from the last epoch's numbers."""
    if train and not math.isfinite(train[-1]):
        return f"train loss became {train[-1]}"
    if val and not math.isfinite(val[-1]):
        return f"validation loss became {val[-1]}"
    return "weights became non-finite"
