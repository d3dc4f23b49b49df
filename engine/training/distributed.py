"""Data-parallel training with ``torch.distributed``: who this process is among the ranks.

A run started by torchrun (``linreg-tui train --nproc N`` launches its elastic agent, or a
multi-node ``torchrun ... -m engine train PRESET``) finds ``RANK``, ``WORLD_SIZE`` and the
rendezvous address in its environment; :func:`init_from_env` joins the process group (gloo on
the CPU, NCCL on CUDA, each rank on the GPU of its ``LOCAL_RANK``) and returns a :class:`Dist`,
the one object the training loop asks about ranks. Every rank loads the same split (the split
depends on the seed only, never on the number of ranks); each computes on its own rows and
sums what is a sum over rows with one all-reduce:

- full batch: the gradient ``Σ_rows`` once per epoch (or ``ZᵀZ`` and ``Zᵀy`` once, on the
  sufficient-statistics path); the epoch's loss and metric sums ride with the early-stopping
  decision in one more all-reduce per epoch;
- minibatch: each global batch of ``B`` shuffled rows (the same permutation on every rank) is
  cut into ``N`` contiguous parts, one per rank, and the parts' gradients are summed before
  the step, so the iterates do not depend on ``N`` beyond float rounding.

A CSV or Parquet file is read in parts: each rank reads and parses only its byte range or row
groups (:meth:`Dist.shard` hands :mod:`engine.data.shard` the collectives it needs). A full-batch
regression keeps only those rows (:mod:`engine.data.rank_rows`): the standardisation statistics
come from all-reduced sums, validation and test are evaluated by every rank on its rows and
summed in the same per-epoch all-reduce; the exact MSE optimum comes from all-reduced Gram
sums (:mod:`engine.training.dist_optimum`), and rank 0 alone gathers the training rows once
only for the other optima (:func:`gather_to_root`), and the residuals at the end, for the
median. Minibatch, classification and outlier handling gather the parts, so every rank holds
the single process's table and rank 0 evaluates validation.

A stop (Ctrl-C, SIGTERM) is agreed in that per-epoch all-reduce: any rank that was asked to
stop makes every rank stop after the same epoch, so no rank waits in a collective for one that
left. Rank 0 alone writes the run directory and prints.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as tdist
from torch import Tensor

from engine.data.shard import Shard, part

TIMEOUT_ENV = "LINREG_TUI_DIST_TIMEOUT_S"
"""Seconds a collective may wait for a silent peer before it fails (default 60). A rank that
dies closes its sockets, so its peers fail at once; the timeout only bounds a hung peer."""
DEFAULT_TIMEOUT_S = 60.0

_current: list[Dist] = []
"""The process group this process has joined (:func:`process_group`), if any."""


def world_from_env() -> int:
    """The number of ranks torchrun started (1 when this process was not started by it)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def rank_from_env() -> int:
    """This process's global rank (0 when not started by torchrun)."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


@dataclass(frozen=True)
class Dist:
    """This process's place in a data-parallel run: its rank among ``world`` processes."""

    rank: int
    world: int

    @property
    def writer(self) -> bool:
        """Rank 0 writes the run directory, prints and finds the optimum (and evaluates
        validation when every rank holds every row)."""
        return self.rank == 0

    def rows(self, n: int) -> tuple[int, int]:
        """The rows ``[lo, hi)`` of an ``n``-row split this rank computes on."""
        return part(n, self.rank, self.world)

    def sum_(self, t: Tensor) -> Tensor:
        """Sum ``t`` over the ranks, in place (every rank gets the same bits); returns ``t``."""
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
        return t

    def shard(self) -> Shard:
        """This rank's place for sharded reading, with the process group's collectives."""
        return Shard(self.rank, self.world, gather_objects, gather_rows, reduce_sum)


def reduce_sum(t: Tensor) -> Tensor:
    """A CPU tensor summed over the ranks (on the rank's GPU under NCCL), back on the CPU."""
    nccl = tdist.get_backend() == "nccl"
    mine = t.to(torch.device("cuda", torch.cuda.current_device())) if nccl else t.clone()
    tdist.all_reduce(mine, op=tdist.ReduceOp.SUM)
    return mine.cpu()


def gather_to_root(t: Tensor) -> Tensor | None:
    """Every rank's rows of ``t`` (same columns, any count) concatenated in rank order on rank 0
    (on ``t``'s device); None on the other ranks. Each part is padded to the longest (and goes
    through the rank's GPU under NCCL)."""
    counts = [int(c) for c in gather_objects(int(t.shape[0]))]
    most, world, root = max(counts), len(counts), tdist.get_rank() == 0
    nccl = tdist.get_backend() == "nccl"
    mine = t.to(torch.device("cuda", torch.cuda.current_device())) if nccl else t.contiguous()
    if mine.shape[0] < most:
        mine = torch.cat((mine, mine.new_zeros(most - mine.shape[0], *mine.shape[1:])))
    out = [torch.empty_like(mine) for _ in range(world)] if root else None
    tdist.gather(mine, out, dst=0)
    if out is None:
        return None
    return torch.cat([part[:c] for part, c in zip(out, counts)]).to(t.device)


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's picklable ``obj``, in rank order (``all_gather_object``)."""
    out: list[Any] = [None] * tdist.get_world_size()
    tdist.all_gather_object(out, obj)
    return out


def gather_rows(t: Tensor, counts: list[int]) -> Tensor:
    """Every rank's rows (``counts[r]`` from rank r, all with ``t``'s columns) concatenated in
    rank order, on the CPU. Each part is padded to the longest (``all_gather`` wants one shape)
    and gathered into one tensor, on the rank's GPU under NCCL."""
    most, world = max(counts), len(counts)
    nccl = tdist.get_backend() == "nccl"
    device = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")
    mine = t.to(device)
    if mine.shape[0] < most:
        mine = torch.cat((mine, mine.new_zeros(most - mine.shape[0], *mine.shape[1:])))
    out = torch.empty(world * most, *t.shape[1:], dtype=t.dtype, device=device)
    tdist.all_gather(list(out.chunk(world)), mine)
    if any(c != most for c in counts):
        out = torch.cat([out[r * most : r * most + c] for r, c in enumerate(counts)])
    return out.cpu()


def batch_parts(n: int, batch: int, dist: Dist | None) -> list[tuple[int, int]]:
    """Per global batch of an epoch over ``n`` rows: the rows this rank computes of it and the
    batch's own rows (all of them in a single process)."""
    out = []
    for start in range(0, n, batch):
        m = min(batch, n - start)
        lo, hi = dist.rows(m) if dist is not None else (0, m)
        out.append((hi - lo, m))
    return out


def local_rows(perm: Tensor, batch: int, dist: Dist | None) -> Tensor:
    """This rank's rows of each global batch of the permutation ``perm``, in batch order (all
    of ``perm`` in a single process); on the device, no host sync."""
    if dist is None:
        return perm
    n = perm.shape[0]
    full = n // batch * batch
    lo, hi = dist.rows(batch)
    parts = [perm[:full].view(-1, batch)[:, lo:hi].reshape(-1)]
    if full < n:
        lo, hi = dist.rows(n - full)
        parts.append(perm[full:][lo:hi])
    return torch.cat(parts)


def outlive_rank0() -> None:
    """Wait until rank 0 leaves the process group (its leaving ends a barrier it never joins),
    at most the collective timeout. A rank other than 0 that failed as rank 0 did (bad data:
    every rank finds the same first error) exits after it, so rank 0's message is out and the
    launcher sees rank 0 fail first."""
    try:
        tdist.barrier()
    except Exception:  # noqa: BLE001 - any failure means a peer left: that is the wait's end
        return


def current() -> Dist | None:
    """The data-parallel place of this process while it is in a process group, else None (the
    training loop asks, so the CLI's run in this process needs no extra argument)."""
    return _current[-1] if _current else None


def backend_for(device: torch.device) -> str:
    """NCCL for CUDA tensors, gloo for everything else."""
    return "nccl" if device.type == "cuda" else "gloo"


def timeout_s() -> float:
    """The collective timeout (:data:`TIMEOUT_ENV`, else :data:`DEFAULT_TIMEOUT_S`)."""
    try:
        return max(1.0, float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def pick_device(device: str) -> str:
    """``train.device`` for this rank: on CUDA, the GPU of its ``LOCAL_RANK`` (``cuda`` or
    ``auto`` with a GPU present) — one GPU per rank; any other device as configured."""
    if device in ("auto", "cuda") and torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local % torch.cuda.device_count())
        return f"cuda:{torch.cuda.current_device()}"
    return device


@contextmanager
def process_group(device: torch.device) -> Iterator[Dist]:
    """Join the torchrun process group for training on ``device``; leave it on exit."""
    world, rank = world_from_env(), rank_from_env()
    tdist.init_process_group(
        backend_for(device),
        timeout=timedelta(seconds=timeout_s()),
        device_id=device if device.type == "cuda" else None,
    )
    _current.append(Dist(rank, world))
    try:
        yield _current[-1]
    finally:
        _current.clear()
        if tdist.is_initialized():
            tdist.destroy_process_group()
