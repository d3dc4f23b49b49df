"""What every step strategy of :mod:`engine.training.steps` shares: the flat parameters, the
pause/stop check, what an epoch's steps leave on the device, and the last step's gradient norm.

Its own module so :mod:`engine.training.steps` holds the strategies themselves. The gradient
norm is the one number here that is new per epoch: ``‖∇θ L‖₂`` of the objective (penalties
and bias included, an optimizer's weight decay not: that is the update rule's, not the
loss's) at the weights the epoch's last step started from, taken from the gradient that step
wrote into ``rule.grad`` (after any data-parallel all-reduce, so every rank holds the same
value) just before ``rule.step``. It is one small device reduction per epoch, not per step,
and it rides in the epoch's single ``tolist()`` (:meth:`engine.training.epoch.EpochRunner.read`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

import torch
from torch import Tensor, nn

from engine.core.control import Control
from engine.training.update_rules import UpdateRule

if TYPE_CHECKING:
    from engine.training.distributed import Dist
    from engine.training.epoch import Clock


class Placement(TypedDict):
    """Where a buffer is made: ``torch.empty(n, **placement)``."""

    device: torch.device
    dtype: torch.dtype


@dataclass
class EpochSums:
    """What one epoch's steps leave on the device, not yet read."""

    loss_sum: Tensor
    """``Σ batch_loss·rows`` over the epoch's batches."""
    train_sums: Tensor | None
    """``[Σr², Σ|r|]`` from the full-batch step's own forward pass (None for minibatches)."""
    grad_norm: Tensor | None = None
    """``‖grad‖₂`` of the buffer the last step stepped with (a device scalar; None: no step
    noted it). The objective's gradient norm is this times :attr:`grad_scale`."""
    grad_scale: float = 1.0
    """``|scale|`` the last step passed to ``rule.step`` (the fast paths leave constant factors
    such as ``2/m`` out of the buffer and hand them to the step)."""


@dataclass(frozen=True)
class Interrupted:
    """A stop arrived before the epoch's steps were done."""

    partial: bool
    """Some steps of the epoch already ran: the weights moved after the last epoch event."""


def flatten_params(model: nn.Linear) -> Tensor:
    """Make the model's weight and bias views of one flat vector ``θ = [w, b]`` and return θ.

    The model stays an ``nn.Linear`` for everyone else (checkpoints, restore, evaluation);
    in-place updates of θ are updates of its parameters and vice versa.
    """
    k, d = model.out_features, model.in_features
    parts = [model.weight.detach().reshape(-1)]
    if model.bias is not None:
        parts.append(model.bias.detach().reshape(-1))
    theta = torch.cat(parts)
    model.weight = nn.Parameter(theta[: k * d].view(k, d))
    if model.bias is not None:
        model.bias = nn.Parameter(theta[k * d :])
    return theta


class Steps:
    """Shared by the step strategies: the pause/stop check before a batch, this process's
    place among data-parallel ranks (``dist``; None in a single-process run) and the gradient
    norm of the epoch's last step (:meth:`note_grad`)."""

    def __init__(self, rule: UpdateRule, control: Control, clock: Clock) -> None:
        self.rule, self.control, self.clock = rule, control, clock
        self.dist: Dist | None = None
        self.grad_norm: Tensor | None = None
        self.grad_scale = 1.0

    def halted(self, started: bool) -> Interrupted | None:
        """Wait out a pause; an :class:`Interrupted` if a stop came (``started``: steps ran)."""
        if self.control.busy:
            self.clock.exclude(self.control.wait_if_paused())
            if self.control.stopped:
                return Interrupted(partial=started)
        return None

    def note_grad(self, scale: float) -> None:
        """Keep the norm of the gradient ``scale·rule.grad`` the step about to be taken uses
        (called before the epoch's last ``rule.step(scale)`` only: one reduction an epoch,
        no host read; ``rule.step`` may overwrite the buffer, so this comes first)."""
        self.grad_norm = torch.linalg.vector_norm(self.rule.grad)
        self.grad_scale = abs(scale)

    def epoch_sums(self, loss_sum: Tensor, train_sums: Tensor | None) -> EpochSums:
        """The epoch's :class:`EpochSums`, with the gradient norm noted by its last step."""
        return EpochSums(loss_sum, train_sums, self.grad_norm, self.grad_scale)

    def run(self) -> EpochSums | Interrupted:
        raise NotImplementedError
