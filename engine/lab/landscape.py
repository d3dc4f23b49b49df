"""Landscape: the objective over a grid of two weights, and gradient descent's path across it.

Why: "the loss fell" hides the geometry. Over two weights the objective is a surface whose
shape (a round bowl, a long valley from correlated features, MAE's creases, L1's corners at 0)
explains how fast and where gradient descent went; the path read from a run's events and the
exact optimum make that visible.

The objective is the engine's (:class:`engine.losses.functions.Objective`), bias not penalised::

    F(w, b) = mean_i L(y_i - x_i·w - b) + l1·Σ_k|w_k| + l2·Σ_k w_k²

evaluated at every cell ``(w_i, w_j) = (a, c)`` of the grid with the other weights and the bias
held at given values. Vectorised: with ``base = X·w_rest + b`` (``w_rest``: the weights with
``w_i = w_j = 0``), the predictions of all ``K`` cells are one matrix product
``base + X[:, (i, j)] · Aᵀ`` (``A``: the ``K×2`` cell coordinates); rows are taken in chunks so
the ``rows×K`` block stays under :data:`MAX_CELLS`. Float64 throughout.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from engine.core.events import EpochEnded, Event, RunFinished, RunStarted
from engine.lab.shape import ResidualLoss

MAX_CELLS = 1 << 22
"""Largest ``rows × grid cells`` block evaluated at once (about 32 MB of float64)."""
DEFAULT_POINTS = 41


def objective_grid(
    loss: ResidualLoss,
    x: Tensor,
    y: Tensor,
    weights: Sequence[float],
    bias: float | None,
    i: int,
    j: int,
    wi: Tensor,
    wj: Tensor,
    *,
    l1: float = 0.0,
    l2: float = 0.0,
    max_cells: int = MAX_CELLS,
) -> Tensor:
    """``F`` at every ``(w_i, w_j) = (wi[b], wj[a])``, as a ``len(wj) × len(wi)`` tensor
    (row ``a``, column ``b``), the other weights at ``weights`` and the bias at ``bias``."""
    d = x.shape[1]
    if len(weights) != d:
        raise ValueError(f"expected {d} weights, got {len(weights)}")
    if not (0 <= i < d and 0 <= j < d) or i == j:
        raise ValueError(f"need two different weight indices in 0..{d - 1}, got {i} and {j}")
    xd, yd = x.double(), y.double().reshape(-1)
    w = torch.tensor(list(weights), dtype=torch.float64)
    rest = w.clone()
    rest[[i, j]] = 0.0
    base = xd @ rest + float(bias or 0.0)
    cj, ci = torch.meshgrid(wj.double(), wi.double(), indexing="ij")
    cells = torch.stack([ci.reshape(-1), cj.reshape(-1)], dim=1)  # K x 2
    pair = xd[:, [i, j]]
    n, k = xd.shape[0], cells.shape[0]
    data = torch.zeros(k, dtype=torch.float64)
    step = max(1, max_cells // max(k, 1))
    for s in range(0, n, step):
        pred = base[s : s + step, None] + pair[s : s + step] @ cells.T
        data += loss.values(yd[s : s + step, None] - pred).sum(0)
    data /= max(n, 1)
    penalty = torch.zeros(k, dtype=torch.float64)
    if l1:
        penalty += l1 * (cells.abs().sum(1) + rest.abs().sum())
    if l2:
        penalty += l2 * ((cells * cells).sum(1) + torch.dot(rest, rest))
    return (data + penalty).reshape(len(wj), len(wi))


def axis(points: Iterable[float], *, pad: float = 0.25, count: int = DEFAULT_POINTS) -> Tensor:
    """``count`` evenly spaced values covering ``points`` with ``pad`` of their span on each
    side (±1 around a single value)."""
    values = [float(p) for p in points]
    lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
    span = hi - lo
    margin = pad * span if span > 0 else 1.0
    return torch.linspace(lo - margin, hi + margin, count, dtype=torch.float64)


def descent_path(events: Iterable[Event], i: int, j: int) -> dict[str, Any]:
    """Weights ``i`` and ``j`` at each logged epoch (``EpochEnded.weights``, when the log kept
    them), the optimum (``RunStarted.optimum``) and the final weights (``RunFinished``)."""
    by_epoch: dict[int, tuple[float, float]] = {}
    optimum = final = None
    for ev in events:
        if isinstance(ev, RunStarted) and ev.optimum and ev.optimum.get("weights"):
            ow = ev.optimum["weights"]
            optimum = [float(ow[i]), float(ow[j])]
        elif isinstance(ev, EpochEnded) and ev.weights:
            by_epoch[ev.epoch] = (float(ev.weights[i]), float(ev.weights[j]))
        elif isinstance(ev, RunFinished) and ev.weights:
            final = [float(ev.weights[i]), float(ev.weights[j])]
    epochs = sorted(by_epoch)
    return {
        "epochs": epochs,
        "wi": [by_epoch[e][0] for e in epochs],
        "wj": [by_epoch[e][1] for e in epochs],
        "optimum": optimum,
        "final": final,
    }


def landscape(
    loss: ResidualLoss,
    x: Tensor,
    y: Tensor,
    weights: Sequence[float],
    bias: float | None,
    i: int,
    j: int,
    *,
    l1: float = 0.0,
    l2: float = 0.0,
    path: dict[str, Any] | None = None,
    points: int = DEFAULT_POINTS,
    wi: Tensor | None = None,
    wj: Tensor | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The objective grid as JSON-ready lists, with the path, the lowest cell and the formula.

    Without explicit axes ``wi``/``wj`` each covers the given weight, the path and the
    optimum, padded by a quarter of their span.
    """
    path = path or {"epochs": [], "wi": [], "wj": [], "optimum": None, "final": None}
    extra = [p for p in (path.get("optimum"), path.get("final")) if p]
    if wi is None:
        wi = axis([weights[i], *path["wi"], *(p[0] for p in extra)], count=points)
    if wj is None:
        wj = axis([weights[j], *path["wj"], *(p[1] for p in extra)], count=points)
    grid = objective_grid(loss, x, y, weights, bias, i, j, wi, wj, l1=l1, l2=l2)
    best = int(torch.argmin(grid))
    a, b = divmod(best, grid.shape[1])
    penalty = "".join(f" + {v:g}·{t}" for v, t in ((l2, "Σw²"), (l1, "Σ|w|")) if v)
    return {
        "i": i,
        "j": j,
        "names": [names[i], names[j]] if names is not None else None,
        "objective": f"{loss.formula}{penalty}",
        "wi": wi.tolist(),
        "wj": wj.tolist(),
        "values": grid.tolist(),
        "lowest": {"wi": float(wi[b]), "wj": float(wj[a]), "value": float(grid[a, b])},
        "held": {"weights": [float(v) for v in weights], "bias": bias},
        "path": path,
    }
