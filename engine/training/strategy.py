"""Which step strategy a run takes: :func:`choose_steps`, and the mode a checkpoint keeps.

Its own module beside :mod:`engine.training.epoch` (which re-exports both names) because the
choice is a rule of its own: the fastest of :mod:`engine.training.steps`' strategies that gives
this run's iterates, the same on every data-parallel rank (it looks at all the training rows,
then hands a full-batch strategy this rank's share).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import torch
from torch import nn

from engine.core.control import Control
from engine.losses.derivatives import ClosedForm
from engine.losses.functions import Objective
from engine.training.distributed import Dist
from engine.training.gram_steps import GramSteps, gram_pays
from engine.training.steps import AutogradSteps, FullBatchSteps, MinibatchSteps, Steps
from engine.training.update_rules import UpdateRule

if TYPE_CHECKING:
    from engine.training.epoch import Clock, DeviceSplit

STEPS_ENV = "LINREG_TUI_STEPS"
"""Force a step strategy: ``autograd``, ``closed_form`` (no sufficient statistics) or
``gram``; unset or ``auto`` lets :func:`choose_steps` pick. For benchmarks and tests."""

STEPS_MODES = {
    "AutogradSteps": "autograd",
    "MinibatchSteps": "closed_form",
    "FullBatchSteps": "closed_form",
    "GramSteps": "gram",
}
"""The mode that picks each strategy again (a resumed run keeps its checkpoint's strategy: the
choice depends on ``train.epochs``, which ``resume`` may change, and strategies agree only to
float rounding)."""


def choose_steps(
    model: nn.Linear,
    rule: UpdateRule,
    objective: Objective,
    closed: ClosedForm | None,
    train: DeviceSplit,
    batch: int,
    epochs: int,
    shuffle: torch.Generator,
    control: Control,
    clock: Clock,
    mode: str | None = None,
    dist: Dist | None = None,
) -> Steps:
    """The fastest step strategy that gives this run's iterates (see :mod:`engine.training.steps`);
    ``mode`` (else ``$LINREG_TUI_STEPS``, else auto) forces one. Data-parallel (``dist``), the
    choice is the single process's (made on all the training rows) and a full-batch strategy
    gets this rank's rows (all it holds, with rank-local rows)."""
    mode = mode or os.environ.get(STEPS_ENV, "auto")
    x, y, bias = train.x, train.y, model.bias is not None
    if dist is not None and batch >= train.n and not train.local:
        lo, hi = dist.rows(train.n)
        x, y = x[lo:hi], y[lo:hi]
    steps: Steps
    if closed is None or mode == "autograd":
        steps = AutogradSteps(model, rule, objective, x, y, batch, shuffle, control, clock)
        steps.total = train.n
    elif batch < train.n:
        steps = MinibatchSteps(rule, closed, x, y, batch, bias, shuffle, control, clock)
    elif closed.is_mse and (
        mode == "gram" or (mode == "auto" and gram_pays(train.n, int(x.shape[1]), epochs, x.device))
    ):
        steps = GramSteps(rule, closed, x, y, bias, control, clock)
    else:
        steps = FullBatchSteps(rule, closed, x, y, bias, control, clock)
    if isinstance(steps, FullBatchSteps):
        steps.total = train.n
    steps.dist = dist
    return steps
