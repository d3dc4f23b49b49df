"""The optimiser steps of one epoch, four ways that give the same iterates.

All four keep the parameters in one flat vector ``θ = [w, b]`` (the model's ``weight`` and
``bias`` are views of it, see :func:`flatten_params`), write the gradient into the update
rule's buffer and call ``rule.step``; none reads anything back to the host (the epoch's one
sync is :meth:`engine.training.epoch.EpochRunner.read`), and all check pause/stop before every
batch. The epoch's last step notes the norm of the gradient it steps with
(:meth:`engine.training.step_base.Steps.note_grad`, where the shared parts live).

- :class:`AutogradSteps`: a user loss (or a loss without a closed form): forward, autograd,
  step; the plain path.
- :class:`MinibatchSteps`: built-in losses in minibatches. The epoch's shuffled rows are
  gathered a chunk at a time (one ``index_select`` per chunk, not per batch) into a buffer
  ``Z = [X | 1]`` whose ones column makes the bias part of θ, so a step is three ops for MSE:
  ``e = Z·θ - y``, ``g = Zᵀ·e``, ``θ -= lr·(2/m)·g``. The residuals of every step land in one
  epoch buffer; the epoch's loss sum ``Σφ(e)`` is one vector op at the end.
- :class:`FullBatchSteps`: built-in losses on the full batch, in one pass over row blocks that
  fit in cache: each block's residuals and its share of ``Xᵀφ'(e)`` are computed while the block
  is in cache, so X is read from memory once per epoch instead of twice.
- :class:`engine.training.gram_steps.GramSteps`: plain or penalised MSE on the full batch: the
  gradient ``(2/n)·(ZᵀZ·θ - Zᵀy)`` from sufficient statistics computed once in float64, so an
  epoch needs X only for the residual vector (one matrix-vector product, which the epoch's
  reported train loss and ``Σ|r|`` metric need anyway). It lives in its own module with
  :func:`~engine.training.gram_steps.gram_pays`, the rule for when it is worth building.

Data-parallel (``dist``, :mod:`engine.training.distributed`): full batch gets this rank's rows
and sums the gradient (or the statistics) over the ranks; minibatch gets every row, draws the
same permutation on every rank and sums the ranks' parts of each global batch's gradient. The
loss sums returned are this rank's share: the epoch's read sums them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from engine.core.control import Control
from engine.losses.derivatives import ClosedForm
from engine.losses.functions import Objective
from engine.training.distributed import batch_parts, local_rows
from engine.training.metrics import residual_sums
from engine.training.step_base import EpochSums, Interrupted, Placement, Steps, flatten_params
from engine.training.update_rules import UpdateRule

if TYPE_CHECKING:
    from engine.training.epoch import Clock

__all__ = [
    "AutogradSteps",
    "EpochSums",
    "FullBatchSteps",
    "Interrupted",
    "MinibatchSteps",
    "Placement",
    "Steps",
    "flatten_params",
]

CHUNK_BYTES = 4 << 20
"""Size of the minibatch gather buffer (rows of a few dozen batches)."""
BLOCK_BYTES = 1 << 20
"""Rows per block of the full-batch pass: about one core's L2 cache."""

BatchViews = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, float]
"""One minibatch step's views: ``Z_b``, ``Z_bᵀ``, ``y_b``, residuals, derivative, and ``1/m``."""
Chunk = tuple[int, int, list[BatchViews]]
"""A gather chunk: its first row, its rows, and its batches' views."""


class AutogradSteps(Steps):
    """Forward, ``torch.autograd.grad``, update rule: any objective, including user losses."""

    def __init__(
        self,
        model: nn.Linear,
        rule: UpdateRule,
        objective: Objective,
        x: Tensor,
        y: Tensor,
        batch: int,
        shuffle: torch.Generator,
        control: Control,
        clock: Clock,
    ) -> None:
        super().__init__(rule, control, clock)
        self.model, self.objective, self.x, self.y = model, objective, x, y
        self.batch, self.shuffle = batch, shuffle
        self.params = [p for p in (model.weight, model.bias) if p is not None]
        self.sums: Callable[[Tensor, Tensor], Tensor] = residual_sums
        """The full-batch step's metric sums of ``(pred, y)`` (classification: class sums)."""

    total: int | None = None
    """Data-parallel full batch: the training rows of all ranks (``x`` holds this rank's)."""

    def run(self) -> EpochSums | Interrupted:
        n, batch, x, y = self.x.shape[0], self.batch, self.x, self.y
        loss_sum = torch.zeros((), device=x.device)
        train_sums = None
        full = batch >= n
        perm = None if full else torch.randperm(n, device=x.device, generator=self.shuffle)
        for start in [0] if full else range(0, n, batch):
            halt = self.halted(start > 0)
            if halt is not None:
                return halt
            share = 1.0
            if perm is None:
                xb, yb = x, y
                if self.dist is not None:  # this rank's rows: its mean counts n_r/n
                    share = n / max(self.total or n, 1)
            else:
                idx = perm[start : start + batch]
                ((rows, m),) = batch_parts(idx.shape[0], idx.shape[0], self.dist)
                share, idx = rows / m, local_rows(idx, m, self.dist)
                xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            pred = self._gradient(xb, yb, share)
            if self.dist is not None:
                self.dist.sum_(self.rule.grad)
            if start + batch >= n:  # the epoch's last step
                self.note_grad(1.0)
            self.rule.step()
            if pred is not None:
                loss_sum.add_(pred[1], alpha=yb.shape[0])
            if perm is None:  # full batch: the step's own forward pass gives the metrics
                out = pred[0] if pred is not None else yb
                train_sums = self.sums(out, yb)
        return self.epoch_sums(loss_sum, train_sums)

    def _gradient(self, xb: Tensor, yb: Tensor, share: float) -> tuple[Tensor, Tensor] | None:
        """``share·∇objective`` of these rows into ``rule.grad``; the detached predictions and
        loss (None, and a zero gradient, when this rank has no rows of the batch)."""
        if xb.shape[0] == 0:
            self.rule.grad.zero_()
            return None
        model = self.model
        pred = model(xb).squeeze(-1)
        loss = self.objective(pred, yb, model.weight)
        grads = torch.autograd.grad(loss, self.params, allow_unused=True)
        torch.cat(
            [
                (g if g is not None else torch.zeros_like(p)).reshape(-1)
                for g, p in zip(grads, self.params)
            ],
            out=self.rule.grad,
        )
        if share != 1.0:
            self.rule.grad.mul_(share)
        return pred.detach(), loss.detach()


class MinibatchSteps(Steps):
    """Built-in losses in shuffled minibatches with closed-form gradients (see module doc)."""

    def __init__(
        self,
        rule: UpdateRule,
        loss: ClosedForm,
        x: Tensor,
        y: Tensor,
        batch: int,
        bias: bool,
        shuffle: torch.Generator,
        control: Control,
        clock: Clock,
    ) -> None:
        super().__init__(rule, control, clock)
        n, d = x.shape
        self.loss, self.x, self.y, self.batch, self.bias, self.shuffle = (
            loss,
            x,
            y,
            batch,
            bias,
            shuffle,
        )
        cols = d + 1 if bias else d
        self.rows = min(n, max(batch, CHUNK_BYTES // (4 * cols) // batch * batch))
        new: Placement = {"device": x.device, "dtype": x.dtype}
        self.z = torch.empty(self.rows, cols, **new)
        if bias:
            self.z[:, d] = 1.0
            self.gathered = torch.empty(self.rows, d, **new)
        self.y_chunk = torch.empty(self.rows, **new)
        self.deriv = torch.empty(self.rows, **new)
        self.views: list[Chunk] | None = None
        self.residuals = torch.empty(n, **new)

    def _gather(self, idx: Tensor) -> None:
        """Put the chunk's rows of ``X`` and ``y`` into ``[X | 1]`` and ``y`` in shuffled order."""
        k, d = idx.shape[0], self.x.shape[1]
        if self.bias:
            torch.index_select(self.x, 0, idx, out=self.gathered[:k])
            self.z[:k, :d].copy_(self.gathered[:k])
        else:
            torch.index_select(self.x, 0, idx, out=self.z[:k])
        torch.index_select(self.y, 0, idx, out=self.y_chunk[:k])

    def _chunks(self) -> list[Chunk]:
        """Per chunk: its first row, its rows, and per batch the views a step uses
        (``Z_b``, ``Z_bᵀ``, ``y_b``, residuals, derivative, ``1/m``). The views are fixed for the
        run (the buffers are reused every epoch), so they are made once.

        Data-parallel, a chunk holds this rank's parts of its batches (``m`` stays the global
        batch's rows: the parts' gradients are summed before the step)."""
        sizes = batch_parts(self.x.shape[0], self.batch, self.dist)
        per_chunk = max(1, self.rows // self.batch)
        self.residuals = self.residuals[: sum(local for local, _ in sizes)]
        chunks: list[Chunk] = []
        c0 = 0
        for first in range(0, len(sizes), per_chunk):
            group = sizes[first : first + per_chunk]
            local = [rows for rows, _ in group]
            k = sum(local)
            z = self.z[:k]
            views = zip(
                torch.split(z, local),
                torch.split(z.t(), local, 1),
                torch.split(self.y_chunk[:k], local),
                torch.split(self.residuals[c0 : c0 + k], local),
                torch.split(self.deriv[:k], local),
            )
            chunks.append((c0, k, [(*v, 1.0 / m) for v, (_, m) in zip(views, group)]))
            c0 += k
        return chunks

    def run(self) -> EpochSums | Interrupted:
        n, loss, rule, control = self.x.shape[0], self.loss, self.rule, self.control
        theta, grad, penalised, mse = rule.theta, rule.grad, bool(loss.l1 or loss.l2), loss.is_mse
        if self.views is None:
            self.views = self._chunks()
        perm = torch.randperm(n, device=self.x.device, generator=self.shuffle)
        perm = local_rows(perm, self.batch, self.dist)
        penalties: list[tuple[Tensor, int]] = []
        started = False
        last = self.views[-1][2][-1][0] if self.views else None  # the last batch's Z_b
        for c0, k, batches in self.views:
            self._gather(perm[c0 : c0 + k])
            for zb, zb_t, yb, eb, db, inv_m in batches:
                if control.busy:
                    halt = self.halted(started)
                    if halt is not None:
                        return halt
                started = True
                torch.addmv(yb, zb, theta, beta=-1.0, out=eb)  # e = ŷ - y
                if mse:
                    torch.mv(zb_t, eb, out=grad)
                    scale = 2.0 * inv_m
                else:
                    t, c = loss.derivative(eb, db)
                    torch.mv(zb_t, t, out=grad)
                    scale = c * inv_m
                if self.dist is not None:  # the global batch's gradient: the parts summed
                    self.dist.sum_(grad)
                if penalised:
                    penalty = loss.penalty(rule.w)
                    assert penalty is not None  # l1 or l2 is set
                    penalties.append((penalty, eb.shape[0]))
                    grad.mul_(scale)
                    loss.add_penalty_grad(rule.grad_w, rule.w)
                    scale = 1.0
                if zb is last:
                    self.note_grad(scale)
                rule.step(scale)
        loss_sum = loss.data_sum(self.residuals)
        if penalties:
            values = torch.stack([p for p, _ in penalties])
            sizes = torch.tensor(
                [m for _, m in penalties], dtype=values.dtype, device=values.device
            )
            loss_sum = loss_sum + torch.dot(values, sizes)
        return self.epoch_sums(loss_sum, None)


class FullBatchSteps(Steps):
    """Built-in losses on the full batch: one pass over cache-sized row blocks per epoch."""

    def __init__(
        self,
        rule: UpdateRule,
        loss: ClosedForm,
        x: Tensor,
        y: Tensor,
        bias: bool,
        control: Control,
        clock: Clock,
    ) -> None:
        super().__init__(rule, control, clock)
        n, d = x.shape
        self.loss, self.x, self.y, self.bias = loss, x, y, bias
        self.total = n  # the training rows of all ranks (data-parallel: x holds this rank's)
        self.offset = torch.empty(n, dtype=x.dtype, device=x.device)  # b - y
        self.residuals = torch.empty_like(self.offset)
        self.deriv = self.residuals if loss.is_mse else torch.empty_like(self.offset)
        rows = max(1, BLOCK_BYTES // (x.element_size() * max(d, 1)))
        self.blocks = list(
            zip(
                torch.split(x, rows),
                torch.split(x.t(), rows, 1),
                torch.split(self.offset, rows),
                torch.split(self.residuals, rows),
                torch.split(self.deriv, rows),
            )
        )

    grad_is_local = True
    """The gradient covers this rank's rows only (the statistics path's covers all rows)."""

    def _offset(self) -> None:
        """``b - y`` (or ``-y``): the residuals are then one ``addmv`` per block."""
        if self.bias:
            torch.sub(self.rule.theta[-1:], self.y, out=self.offset)
        else:
            torch.neg(self.y, out=self.offset)

    def residuals_and_grad(self) -> float:
        """Fill ``residuals`` (``e = ŷ - y``) and ``rule.grad`` (``Zᵀt`` with ``φ'(e) = c·t``);
        return ``c``."""
        self._offset()
        w, grad_w = self.rule.w, self.rule.grad_w
        grad_w.zero_()
        c = 1.0
        for xb, xb_t, ob, eb, db in self.blocks:
            torch.addmv(ob, xb, w, out=eb)
            t, c = self.loss.derivative(eb, db)
            if t is not db:  # a derivative that is e itself (a weighted mse term): the bias
                db.copy_(t)  # gradient below sums deriv, so it must hold t
            grad_w.addmv_(xb_t, t)
        if self.bias:
            torch.sum(self.deriv, 0, keepdim=True, out=self.rule.grad[-1:])
        return c

    def run(self) -> EpochSums | Interrupted:
        halt = self.halted(False)
        if halt is not None:
            return halt
        rule, loss, n = self.rule, self.loss, self.x.shape[0]
        c = self.residuals_and_grad()
        if self.dist is not None and self.grad_is_local:
            self.dist.sum_(rule.grad)
        # The loss and metrics of the weights the step starts from, as the autograd path reports.
        loss_sum = loss.data_sum(self.residuals)
        penalty = loss.penalty(rule.w)
        if penalty is not None:
            loss_sum = loss_sum + penalty * n
        train_sums = residual_sums(self.residuals, torch.zeros((), device=self.x.device))
        scale = c / self.total
        if loss.l1 or loss.l2:
            rule.grad.mul_(scale)
            loss.add_penalty_grad(rule.grad_w, rule.w)
            scale = 1.0
        self.note_grad(scale)
        rule.step(scale)
        return self.epoch_sums(loss_sum, train_sums)
