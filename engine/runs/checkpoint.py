"""Checkpoints for ``resume``: the whole training state, written atomically, loaded safely.

A checkpoint is a dict of tensors and plain values (nanoGPT's habit: model, optimiser, epoch,
config), here also the early-stopping state and the shuffling generator's state, so a resumed run
repeats exactly the epochs an uninterrupted one would have run. It is written through
:func:`engine.runs.files.atomic_write` (temp file, fsync, rename): a ``kill -9`` during a write
leaves the previous checkpoint whole. It is read with ``weights_only=True``.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import torch

from engine.core.errors import RunError
from engine.runs.files import atomic_write, first_line

CHECKPOINT_EVERY_S = 2.0
"""At most one checkpoint per this many seconds while training (and always one at the end)."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; one clear error when it is bad."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunError(f"{path}: no checkpoint to resume from") from None
    except Exception as exc:  # noqa: BLE001 - torn, foreign, or a pickle the safe loader refuses
        raise RunError(f"{path}: unreadable checkpoint ({first_line(exc)})") from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise RunError(f"{path}: not a linreg-tui checkpoint")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise RunError(f"{path}: not a complete checkpoint (no '{missing[0]}')")
    problem = _model_problem(state["model"])
    if problem:
        raise RunError(f"{path}: not a usable checkpoint ({problem})")
    return state


REQUIRED = ("epoch", "config", "model", "optimizer", "shuffle_rng", "early_stopping", "elapsed_s")
"""What :func:`engine.training.trainer.load_training_state` reads from a checkpoint."""


def _model_problem(model: Any) -> str | None:
    """What is wrong with the saved linear layer (weight [outputs, d], bias [outputs])."""
    if not isinstance(model, dict) or not isinstance(model.get("weight"), torch.Tensor):
        return "no model weight"
    weight, bias = model["weight"], model.get("bias")
    if weight.ndim != 2:
        return f"model weight has shape {tuple(weight.shape)}, expected [outputs, features]"
    if bias is not None and (
        not isinstance(bias, torch.Tensor) or bias.shape != (weight.shape[0],)
    ):
        return f"model bias should have {weight.shape[0]} value(s)"
    return None


class Throttle:
    """True at most once per ``every_s`` seconds (the first call is False: nothing to save yet)."""

    def __init__(self, every_s: float | None = None) -> None:
        if every_s is None:
            every_s = float(os.environ.get("LINREG_TUI_CHECKPOINT_S", CHECKPOINT_EVERY_S))
        self.every_s = every_s
        self._last = time.monotonic()

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            return True
        return False
