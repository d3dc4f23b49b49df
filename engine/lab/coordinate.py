"""Warm-started cyclic coordinate descent along a decreasing λ grid: the lasso / elastic-net path.

Why here and not gradient descent: the L1 corner at 0 is where gradient descent jitters
(about ``lr·l1`` around 0) while coordinate descent lands on exact zeros, and a path needs the
exact minimiser at every λ. Starting each λ from the previous one's solution (a warm start, as
glmnet does) makes the whole path cost little more than one fit.

With ``A = XcᵀXc/n`` and ``c = Xcᵀyc/n`` (centred data when the model has a bias, float64),
the engine's objective ``mean((y - Xw - b)²) + l1·Σ|w| + l2·Σw²`` equals, up to a constant,
``wᵀAw - 2cᵀw + l1·Σ|w| + l2·Σw²``. Minimising over ``w_j`` alone is exact (soft-thresholding)::

    w_j = S(c_j - Σ_{k≠j} A_jk·w_k, l1/2) / (A_jj + l2),    S(z, t) = sign(z)·max(|z| - t, 0)

``A·w`` is kept up to date (one axpy per changed coordinate), so a step costs ``O(d)``. A fit
sweeps all coordinates, then only the non-zero ones (the active set) until they settle, then all
again, and stops when a full sweep moves no coordinate by more than ``tol·max(1, max|w|)``. The
problem is convex, so this reaches the global minimiser.

Correlated features make cyclic descent converge slowly (linearly, at a rate near 1): on the
diabetes data a lasso path to 1e-12 took 22,000 sweeps. So after each full sweep, and every
:data:`POLISH_EVERY` sweeps of the active set ``S`` (signs ``s``), the minimiser *on that
support* solves a linear system, ``(A_SS + l2·I)·w_S = c_S - (l1/2)·s``; it is accepted only
when it satisfies the optimality (KKT) conditions of the whole problem — every
``sign(w_S) = s``, and ``|c_j - (A·w)_j| ≤ l1/2`` for every ``j`` outside ``S`` — and otherwise
descent goes on. So the answer is the same minimiser, to rounding, in a few sweeps (that
path: 0.01 s instead of 1 s).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

DEFAULT_TOL = 1e-12
DEFAULT_MAX_SWEEPS = 100_000
POLISH_EVERY = 5
"""Active-set sweeps between two tries of the exact solve on the current support."""


def _sweep(
    a: Tensor,
    c: Sequence[float],
    diag: Sequence[float],
    w: list[float],
    aw: Tensor,
    coords: Sequence[int],
    l1: float,
    l2: float,
) -> float:
    """One cyclic pass over ``coords``, updating ``w`` and ``aw = A·w`` in place; returns the
    largest coordinate change."""
    biggest = 0.0
    half = l1 / 2
    for j in coords:
        denom = diag[j] + l2
        if denom <= 0:  # a constant column with no l2: its weight stays where it is
            continue
        rho = c[j] - float(aw[j]) + diag[j] * w[j]
        new = math.copysign(max(abs(rho) - half, 0.0), rho) / denom
        delta = new - w[j]
        if delta:
            aw.add_(a[j], alpha=delta)  # A is symmetric: row j is column j
            w[j] = new
            biggest = max(biggest, abs(delta))
    return biggest


def _limit(w: Sequence[float], tol: float) -> float:
    """The largest coordinate change that still counts as settled."""
    return tol * max([1.0, *map(abs, w)])


def enet_fit(
    a: Tensor,
    c: Tensor,
    l1: float,
    l2: float,
    w0: Tensor | None = None,
    *,
    tol: float = DEFAULT_TOL,
    max_sweeps: int = DEFAULT_MAX_SWEEPS,
) -> tuple[Tensor, int, bool]:
    """Minimiser of ``wᵀAw - 2cᵀw + l1·Σ|w| + l2·Σw²`` from ``w0`` (default 0).

    Returns ``(w, sweeps, converged)``; ``converged`` is False when ``max_sweeps`` ran out.
    """
    a, c = a.double(), c.double()
    d = a.shape[0]
    w = w0.double().tolist() if w0 is not None else [0.0] * d
    aw = a @ torch.tensor(w, dtype=torch.float64)
    cl, diag = c.tolist(), a.diagonal().tolist()
    everything = range(d)
    sweeps = 0
    while sweeps < max_sweeps:
        sweeps += 1
        if _sweep(a, cl, diag, w, aw, everything, l1, l2) <= _limit(w, tol):
            return torch.tensor(w, dtype=torch.float64), sweeps, True
        settled = False
        while not settled and sweeps < max_sweeps:
            support = tuple((k, math.copysign(1.0, w[k])) for k in everything if w[k] != 0.0)
            exact = _on_support(a, c, l1, l2, support)
            if exact is not None:
                return exact, sweeps, True
            active = [k for k, _ in support]
            for _ in range(POLISH_EVERY):
                sweeps += 1
                if _sweep(a, cl, diag, w, aw, active, l1, l2) <= _limit(w, tol):
                    settled = True
                    break
    return torch.tensor(w, dtype=torch.float64), sweeps, False


def _on_support(
    a: Tensor, c: Tensor, l1: float, l2: float, support: tuple[tuple[int, float], ...]
) -> Tensor | None:
    """The minimiser with non-zeros exactly on ``support`` (indices and signs), if that
    satisfies the KKT conditions of the whole problem; else None."""
    d = a.shape[0]
    idx = torch.tensor([k for k, _ in support], dtype=torch.long)
    signs = torch.tensor([s for _, s in support], dtype=torch.float64)
    w = torch.zeros(d, dtype=torch.float64)
    if len(support):
        system = a[idx][:, idx] + l2 * torch.eye(len(support), dtype=torch.float64)
        try:
            w_s = torch.linalg.solve(system, c[idx] - (l1 / 2) * signs)
        except RuntimeError:  # torch.linalg.LinAlgError: a singular system
            return None
        if not bool(torch.isfinite(w_s).all()) or not bool((torch.sign(w_s) == signs).all()):
            return None
        w[idx] = w_s
    outside = torch.ones(d, dtype=torch.bool)
    outside[idx] = False
    slack = (c - a @ w)[outside].abs()
    if bool((slack > (l1 / 2) * (1 + 1e-9) + 1e-14).any()):
        return None
    return w


def enet_path(
    a: Tensor,
    c: Tensor,
    l1s: Sequence[float],
    l2s: Sequence[float],
    *,
    tol: float = DEFAULT_TOL,
    max_sweeps: int = DEFAULT_MAX_SWEEPS,
) -> tuple[Tensor, list[int], list[bool]]:
    """Solutions for each ``(l1s[k], l2s[k])`` in order, each warm-started from the previous
    one (order the penalties from strongest to weakest). Returns the ``K×d`` coefficients, the
    sweeps each took and whether each converged."""
    w: Tensor | None = None
    rows, sweeps, converged = [], [], []
    for l1, l2 in zip(l1s, l2s, strict=True):
        w, n, ok = enet_fit(a, c, l1, l2, w, tol=tol, max_sweeps=max_sweeps)
        rows.append(w)
        sweeps.append(n)
        converged.append(ok)
    out = torch.stack(rows) if rows else torch.zeros(0, a.shape[0], dtype=torch.float64)
    return out, sweeps, converged
