"""The batched tensor program: K trials' epochs as matrix operations on one device.

``Θ`` is ``(d+1)×K`` (``d×K`` without a bias), one column per trial, every column starting from
the run's seeded initial model; each epoch is the single run's epoch
(:mod:`engine.training.steps`) with matrices in place of vectors: the full-batch step with the
train loss measured at the weights it starts from, or shuffled minibatches in the shared seed's
row order. Columns are ordered so that trials sharing a loss and an optimizer family are
contiguous (:class:`Group`: one derivative op and one update per group), MSE trials on the full
batch first: where the single run would take its gradient from sufficient statistics, they do
too, and their losses come from the splits' moments (:mod:`engine.sweep.batched_stats`), so
they never touch the rows; the other columns share one residual matrix ``E = ZΘ - y``
(``Z = [X | 1]``) per block of rows.

Stopping is :class:`engine.sweep.batched_stopping.ColumnStopping`: a stopped trial's column is
frozen (put back to its weights after each pass). The per-epoch losses go into an ``epochs×K``
history on the device, read by the caller when it chooses (:mod:`engine.sweep.batched`).
"""

from __future__ import annotations

import itertools
import math
import os

import torch
from torch import Tensor

from engine.data.dataset import Dataset
from engine.losses.formulas import loss_values
from engine.sweep.batched_ops import LOSS_OPS, ColumnAdam, ColumnRule, ColumnSGD, Penalty, Row
from engine.sweep.batched_plan import Planned
from engine.sweep.batched_stats import Gram, Moments
from engine.sweep.batched_stopping import ColumnStopping
from engine.training.epoch import STEPS_ENV
from engine.training.gram_steps import gram_pays
from engine.training.run_setup import make_model

BLOCK_BYTES = {"cpu": 1 << 21, "other": 1 << 28}
"""Size of one block of the ``rows×K`` residual matrix: about a core's L2 cache on the CPU,
large on an accelerator (fewer kernel launches)."""


class Group:
    """Contiguous columns sharing a loss and an optimizer family (and the gradient's kind)."""

    def __init__(
        self,
        start: int,
        offset: int,
        plans: list[Planned],
        gram: bool,
        theta: Tensor,
        n_weights: int,
        rows: int,
        penalty: Penalty,
    ) -> None:
        self.sl = slice(start, start + len(plans))
        self.local = slice(start - offset, start - offset + len(plans))
        """The columns within the residual matrix (which leaves the gram columns out)."""
        cfgs = [p.config for p in plans]
        self.ops = LOSS_OPS[cfgs[0].loss.name]
        self.gram = gram
        param = self.ops.param
        values = [
            loss_values(c.loss.name, c.loss.params, c.loss)[param] if param else 0.0 for c in cfgs
        ]
        self.factor = [self.ops.factor(v) for v in values]
        self.p: Row = torch.tensor([values], dtype=theta.dtype, device=theta.device)
        self.t_buf = theta.new_empty(0 if gram else rows, len(plans))
        o = [c.optim for c in cfgs]
        view, part = theta[:, self.sl], penalty.part(self.sl)
        lr, wd = [x.lr for x in o], [x.weight_decay for x in o]
        self.rule: ColumnRule
        if o[0].name == "sgd":
            self.rule = ColumnSGD(view, n_weights, part, lr, [x.momentum for x in o], wd)
        else:
            self.rule = ColumnAdam(view, n_weights, part, lr, wd, [x.name == "adamw" for x in o])

    def scale(self, rows: int) -> list[float]:
        """The gradient's per-column scale ``c/m`` for a batch of ``rows`` rows."""
        return [c / rows for c in self.factor]


def family(name: str) -> str:
    """Optimizers whose updates share one group: sgd alone; adam with adamw."""
    return "sgd" if name == "sgd" else "adam"


class Split:
    """A split on the device: ``Z``, ``y`` and, when MSE columns need them, its moments."""

    def __init__(self, x: Tensor, y: Tensor, bias: bool, moments: bool) -> None:
        self.n = int(y.shape[0])
        self.z = torch.cat((x, x.new_ones(self.n, 1)), 1) if bias else x.contiguous()
        self.y = y
        self.moments = Moments(x, y, bias) if moments and self.n else None


class Program:
    """K planned trials on one dataset: :meth:`epoch` runs one epoch of every trial."""

    def __init__(self, plans: list[Planned], ds: Dataset, device: torch.device) -> None:
        base = plans[0].config
        self.device, self.bias = device, base.model.bias
        n, d = int(ds.train.x.shape[0]), int(ds.train.x.shape[1])
        self.n, self.d = n, d
        self.batch = min(base.optim.batch_size or n, n)
        self.full = self.batch >= n
        mode = os.environ.get(STEPS_ENV, "auto")

        def gram(p: Planned) -> bool:
            return (
                self.full
                and p.config.loss.name == "mse"
                and (
                    mode == "gram"
                    or (mode == "auto" and gram_pays(n, d, p.config.train.epochs, device))
                )
            )

        def key(p: Planned) -> tuple[bool, str, str]:
            return gram(p), p.config.loss.name, family(p.config.optim.name)

        self.plans = sorted(plans, key=lambda p: (not gram(p), *key(p)[1:], p.index))
        self.k = k = len(self.plans)
        self.n_gram = ng = sum(gram(p) for p in self.plans)
        self.train = Split(ds.train.x.to(device), ds.train.y.to(device), self.bias, ng > 0)
        self.val = Split(ds.val.x.to(device), ds.val.y.to(device), self.bias, ng > 0)
        self.gram = Gram(self.train.z, self.train.y) if ng else None
        model = make_model(d, base, device)
        init = [model.weight.detach().reshape(-1)]
        if model.bias is not None:
            init.append(model.bias.detach().reshape(-1))
        self.theta = torch.cat(init).reshape(-1, 1).repeat(1, k).contiguous()
        self.grad = torch.zeros_like(self.theta)
        place = "cpu" if device.type == "cpu" else "other"
        self.block_rows = max(1, BLOCK_BYTES[place] // (4 * max(k - ng, d + 1)))
        rows = max(1, self.batch if not self.full else min(n, self.block_rows))
        self.e_buf = self.theta.new_empty(rows, k - ng)
        cfgs = [p.config for p in self.plans]
        self.penalty = Penalty([c.loss.l1 for c in cfgs], [c.loss.l2 for c in cfgs], self.theta)
        self.groups: list[Group] = []
        start = 0
        for (is_gram, _, _), members in itertools.groupby(self.plans, key=key):
            group = list(members)
            self.groups.append(Group(start, ng, group, is_gram, self.theta, d, rows, self.penalty))
            start += len(group)
        self.tail = [g for g in self.groups if not g.gram]
        """The groups whose columns the residual matrix holds."""
        self.stopping = ColumnStopping(cfgs, self.theta, self.full)
        self.shuffle = torch.Generator(device=device).manual_seed(base.seed + 3)
        self.max_epochs = max(c.train.epochs for c in cfgs)
        self.hist_train = self.theta.new_full((self.max_epochs, k), math.nan)
        self.hist_val = self.theta.new_full((self.max_epochs, k), math.nan)

    @property
    def has_val(self) -> bool:
        return self.val.n > 0

    # -- the passes ---------------------------------------------------------------------------
    def _residuals(self, zb: Tensor, yb: Tensor, theta: Tensor) -> Tensor:
        """``E = ZΘ - y`` of the non-gram columns for a block of rows, in the reused buffer."""
        return torch.addmm(
            yb.reshape(-1, 1), zb, theta[:, self.n_gram :], beta=-1.0, out=self.e_buf[: zb.shape[0]]
        )

    def _loss_sums(self, e: Tensor, out: Tensor) -> None:
        """``out += Σ_rows φ(E)`` per non-gram column, each group with its own loss."""
        for g in self.tail:
            out[g.sl] += g.ops.value(e[:, g.local], g.p).sum(0)

    def _derivatives(self, e: Tensor, zb: Tensor, accumulate: bool) -> None:
        """``grad (+)= Zᵀt`` per non-gram group, with ``φ'(E) = c·t``."""
        for g in self.tail:
            t = g.ops.derivative(e[:, g.local], g.p, g.t_buf[: e.shape[0]])
            dst = self.grad[:, g.sl]
            if accumulate:  # not addmm_: MKL takes a slow path for it with one column
                dst.add_(zb.t() @ t)
            elif dst.is_contiguous():
                torch.mm(zb.t(), t, out=dst)
            else:
                dst.copy_(zb.t() @ t)

    def _full_batch(self) -> Tensor:
        """One full-batch step per trial; the train loss at the weights it started from."""
        split, ng = self.train, self.n_gram
        sums = self.theta.new_zeros(self.k)
        if self.tail:
            self.grad[:, ng:].zero_()
            for start in range(0, split.n, self.block_rows):
                zb = split.z[start : start + self.block_rows]
                e = self._residuals(zb, split.y[start : start + self.block_rows], self.theta)
                self._loss_sums(e, sums)
                self._derivatives(e, zb, accumulate=True)
        if self.gram is not None and split.moments is not None:
            gram_cols = self.theta[:, :ng]
            self.grad[:, :ng].copy_(self.gram.gradient(gram_cols))  # ZᵀZθ - Zᵀy = Zᵀe
            sums[:ng] = split.moments.squared_errors(gram_cols)
        train = self._plus_penalty(sums / split.n, self.theta)
        for g in self.groups:
            g.rule.step(self.grad[:, g.sl], g.scale(split.n), split.n)
        return train

    def _minibatches(self) -> Tensor:
        """One shuffled pass per trial in the shared seed's row order; the train loss as the
        single run reports it (each batch's loss at the weights it stepped from)."""
        n, batch, split = self.n, self.batch, self.train
        perm = torch.randperm(n, device=self.device, generator=self.shuffle)
        z, y = split.z.index_select(0, perm), split.y.index_select(0, perm)
        sums = self.theta.new_zeros(self.k)
        for start in range(0, n, batch):
            zb, yb = z[start : start + batch], y[start : start + batch]
            m = int(zb.shape[0])
            e = self._residuals(zb, yb, self.theta)
            penalty = self.penalty.value(self.theta[: self.d])
            if penalty is not None:
                sums.add_(penalty, alpha=m)
            self._loss_sums(e, sums)
            self._derivatives(e, zb, accumulate=False)
            for g in self.groups:
                g.rule.step(self.grad[:, g.sl], g.scale(m), m)
        return sums / n

    def objective(self, split: Split, theta: Tensor | None = None) -> Tensor:
        """Every trial's objective (data loss + penalties) on ``split`` at ``theta`` (default
        ``Θ``), a length-K vector on the device."""
        theta = self.theta if theta is None else theta
        rows, ng = self.e_buf.shape[0], self.n_gram
        sums = theta.new_zeros(self.k)
        if self.tail:
            for start in range(0, split.n, rows):
                self._loss_sums(
                    self._residuals(
                        split.z[start : start + rows], split.y[start : start + rows], theta
                    ),
                    sums,
                )
        if ng and split.moments is not None:
            sums[:ng] = split.moments.squared_errors(theta[:, :ng])
        return self._plus_penalty(sums / split.n, theta)

    def _plus_penalty(self, loss: Tensor, theta: Tensor) -> Tensor:
        penalty = self.penalty.value(theta[: self.d])
        return loss if penalty is None else loss + penalty

    # -- one epoch ----------------------------------------------------------------------------
    def epoch(self, epoch: int) -> None:
        """Train every trial one epoch; stopped columns keep their weights. No host sync."""
        prev = self.theta.clone()
        train = self._full_batch() if self.full else self._minibatches()
        self.theta.copy_(torch.where(self.stopping.active, self.theta, prev))
        val = self.objective(self.val) if self.has_val else None
        self.hist_train[epoch - 1] = train
        if val is not None:
            self.hist_val[epoch - 1] = val
        self.stopping.update(epoch, train, val, prev, self.theta, self.d)

    @property
    def active(self) -> Tensor:
        """Which columns still train (a bool vector on the device)."""
        return self.stopping.active
