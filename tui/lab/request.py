"""What the lab screen asks its worker for, and the choices its keys cycle — without torch.

Why apart from :mod:`tui.lab.views`: the screen builds requests on the event loop as keys
arrive, and the dashboard must not import torch there (the first import takes seconds); only
the worker thread imports the views and the engine's lab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.registry import LOSSES

VIEWS = ("shape", "influence", "landscape", "path", "boundary")
PENALTIES = ("l2", "l1", "elasticnet")
"""The path's penalties, in the order ``p`` cycles them (:data:`engine.lab.path.PENALTIES`)."""
FIRST = ("mse", "huber")
REGRESSION_LOSSES = [
    *(name for name in FIRST if name in LOSSES),
    *(name for name, spec in LOSSES.items() if spec.task == "regression" and name not in FIRST),
]
"""The losses the shape view can draw beside the chosen one (``c`` cycles them), MSE and
Huber first."""


class NotApplicable(Exception):
    """A view that does not apply to the source; its text is the one line the view shows."""


@dataclass(frozen=True)
class Request:
    """A view and its choices, and the size of the screen's drawing area in cells."""

    view: str = "shape"
    split: str = "train"
    compare: str | None = None
    """The loss drawn beside the chosen one (None: the first of :func:`compare_choice`)."""
    i: int = 0
    """The landscape's weight across."""
    j: int = 1
    """The landscape's weight up."""
    penalty: str = "l2"
    cols: int = 60
    rows: int = 15


def compare_choice(chosen: str, current: str | None, step: int = 0) -> str:
    """The loss drawn beside ``chosen``: ``current`` moved ``step`` along the registered
    regression losses, skipping ``chosen`` (MSE first, Huber when the chosen one is MSE)."""
    choices = [name for name in REGRESSION_LOSSES if name != chosen]
    if current not in choices:
        return choices[0]
    return choices[(choices.index(current) + step) % len(choices)]


def has_run(run_dir: Path | None) -> bool:
    """Whether ``run_dir`` is a run the lab can read (its config is written first)."""
    return run_dir is not None and (run_dir / "config.yaml").exists()
