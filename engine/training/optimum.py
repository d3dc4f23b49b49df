"""The best possible answer, computed once per run, to show beside gradient descent.

For ``mse`` with optional ``l2`` the optimum is exact: with the same scaling as the engine's loss,
``mean((y - Xw - b)²) + l2·Σw²`` is minimised by the ridge normal equation
``(XcᵀXc/n + l2·I) w = Xcᵀyc/n``, ``b = ȳ - x̄·w`` (``Xc``, ``yc`` centred; without a bias,
uncentred and ``b = 0``). This is scikit-learn's ``Ridge(alpha = n·l2)`` and, for ``l2 = 0``,
``LinearRegression``. For every other objective a *reference* optimum comes from full-batch
L-BFGS in float64 from the least-squares start, labelled as such; the pinball-type losses
(``quantile``, ``mae``) without penalties get an IRLS quantile regression instead. Which one a
loss gets is its registry entry's ``optimum`` (:mod:`engine.registry`).

When the problem has no unique least-squares solution (more features than rows, duplicated
or constant columns: a numerically singular Gram matrix, where ``torch.linalg.solve`` returns
garbage without raising) the exact optimum is the *minimum-norm* least-squares solution, the
one ``numpy.linalg.lstsq`` and scikit-learn's ``LinearRegression`` give: from ``X`` itself by an
SVD-based solver (``gelsd``) when it fits :data:`DIRECT_MAX_CELLS`, else from the Gram matrix.
With more features than rows the ``d×d`` Gram matrix is never formed (it would be huge and
singular); ridge then uses its dual form. An eigen-solver failure on hopeless scaling gives an
infinite condition number (a warning), never an error.

The optimum runs before the first epoch, so it honours ``stop()`` (the first Ctrl-C) between
Gram chunks, coordinate-descent sweeps, L-BFGS chunks and IRLS iterations.

The optimiser's ``weight_decay`` is not part of the objective and is not included here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from engine.config import Config, LossConfig
from engine.data.dataset import Dataset
from engine.losses.formulas import loss_values
from engine.losses.functions import Objective
from engine.registry import LOSSES
from engine.training.lbfgs import float64_lbfgs

CHUNK = 65536
REFERENCE_MAX_CELLS = 5_000_000
"""Skip the L-BFGS reference above this many training cells (rows x features)."""
DIRECT_MAX_CELLS = 5_000_000
"""Solve from ``X`` itself (an SVD, float64) up to this many training cells."""
SINGULAR_RCOND = 1e-12
"""A system matrix whose smallest eigenvalue is below this fraction of its largest is treated
as singular (its plain solve would be dominated by rounding)."""
CD_MAX_FEATURES = 2000
"""Coordinate descent (elastic net) sweeps in Python; above this many features it is skipped."""
Stop = Callable[[], bool]


class _Stopped(Exception):
    """``stop()`` turned true while the optimum was being computed."""


OptimumStopped = _Stopped
"""The public name of what a solver here raises when ``stop()`` turns true (for callers that
run the solvers themselves, as :mod:`engine.training.dist_optimum` does)."""


def _never() -> bool:
    return False


def gram(
    x: Tensor, y: Tensor, center: bool, stop: Stop = _never
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(XᵀX, Xᵀy, x̄, ȳ)`` in float64, centred when ``center``; chunked to bound memory."""
    n, d = x.shape
    g = torch.zeros(d, d, dtype=torch.float64)
    xy = torch.zeros(d, dtype=torch.float64)
    sx = torch.zeros(d, dtype=torch.float64)
    sy = torch.zeros((), dtype=torch.float64)
    for i in range(0, n, CHUNK):
        if stop():
            raise _Stopped()
        xc, yc = x[i : i + CHUNK].double(), y[i : i + CHUNK].double()
        g += xc.T @ xc
        xy += xc.T @ yc
        sx += xc.sum(0)
        sy += yc.sum()
    mx, my = sx / n, sy / n
    if center:
        g -= n * torch.outer(mx, mx)
        xy -= n * mx * my
    return g, xy, mx, my


def _eigenvalues(a: Tensor) -> Tensor | None:
    """Ascending eigenvalues of a symmetric matrix; None when the solver fails (``eigh`` does
    not converge on hopelessly scaled data) or they are not finite."""
    try:
        eig = torch.linalg.eigvalsh(a)
    except RuntimeError:  # torch.linalg.LinAlgError
        return None
    return eig if bool(torch.isfinite(eig).all()) else None


def condition_number(g: Tensor) -> float:
    """Condition number of X from its Gram matrix: ``sqrt(λ_max / λ_min)`` of ``XᵀX``; inf when
    X is rank-deficient or the eigenvalues cannot be computed (numerically hopeless)."""
    eig = _eigenvalues(g)
    if eig is None or float(eig[0]) <= 0:
        return math.inf
    return math.sqrt(float(eig[-1] / eig[0]))


def condition_number_of_x(xc: Tensor) -> float:
    """Condition number of X from its singular values (for wide X, whose Gram is not formed):
    ``σ_max / σ_min`` over the ``min(n, d)`` singular values; inf when rank-deficient."""
    try:
        sv = torch.linalg.svdvals(xc)
    except RuntimeError:
        return math.inf
    if xc.shape[1] > xc.shape[0] or not bool(torch.isfinite(sv).all()) or float(sv[-1]) <= 0:
        return math.inf
    return float(sv[0] / sv[-1])


def _singular(a: Tensor) -> bool:
    eig = _eigenvalues(a)
    return eig is None or float(eig[0]) <= SINGULAR_RCOND * float(eig[-1].abs().clamp_min(1e-300))


def min_norm_lstsq(a: Tensor, b: Tensor) -> Tensor:
    """The minimum-norm least-squares solution of ``a w ≈ b`` (``numpy.linalg.lstsq``'s):
    ``gelsd`` (SVD) on the CPU, in float64."""
    sol = torch.linalg.lstsq(a.double().cpu(), b.double().cpu().unsqueeze(1), driver="gelsd")
    solution: Tensor = sol.solution
    return solution.squeeze(1)


def ridge_solution(
    g: Tensor, xy: Tensor, n: int, l2: float, xc: Tensor | None = None, yc: Tensor | None = None
) -> tuple[Tensor, str]:
    """Exact minimiser ``w`` of ``mean((y - Xw - b)²) + l2·Σw²`` from the (centred) Gram matrix:
    ``(XᵀX/n + l2·I) w = Xᵀy/n``, and how it was found.

    A numerically singular system gets the minimum-norm solution: of ``Xc w ≈ yc`` when the
    centred data ``xc``, ``yc`` are given and ``l2`` is 0 (exactly numpy's answer), else of the
    normal equation by SVD.
    """
    a = g / n + l2 * torch.eye(g.shape[0], dtype=torch.float64)
    how = "normal equation" if l2 else "least squares"
    if not _singular(a):
        return torch.linalg.solve(a, xy / n), how
    if xc is not None and yc is not None and not l2:
        return min_norm_lstsq(xc, yc), "minimum-norm least squares (X is rank-deficient)"
    return min_norm_lstsq(a, xy / n), f"minimum-norm {how} (singular system)"


def wide_solution(xc: Tensor, yc: Tensor, l2: float) -> tuple[Tensor, str]:
    """Exact ridge / minimum-norm least squares with more features than rows, without the
    ``d×d`` Gram matrix: ``w = Xcᵀ(XcXcᵀ/n + l2·I)⁻¹ yc/n`` (the dual form; ``n×n``), or for
    ``l2 = 0`` the minimum-norm solution of ``Xc w ≈ yc``."""
    n = xc.shape[0]
    if l2:
        k = xc @ xc.T / n + l2 * torch.eye(n, dtype=torch.float64)
        if not _singular(k):
            return xc.T @ torch.linalg.solve(k, yc / n), "normal equation (dual form)"
        return xc.T @ min_norm_lstsq(k, yc / n), "minimum-norm normal equation (dual form)"
    return min_norm_lstsq(xc, yc), "minimum-norm least squares (more features than rows)"


def centred(x: Tensor, y: Tensor, center: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(Xc, yc, x̄, ȳ)`` in float64 (uncentred when not ``center``; the means are then still
    returned, as :func:`gram` does)."""
    xd, yd = x.double(), y.double()
    mx, my = xd.mean(0), yd.mean()
    return (xd - mx, yd - my, mx, my) if center else (xd, yd, mx, my)


def elastic_net_cd(
    a: Tensor,
    c: Tensor,
    l1: float,
    l2: float,
    tol: float = 1e-13,
    max_sweeps: int = 100_000,
    stop: Stop = _never,
) -> Tensor:
    """Exact minimiser of ``wᵀAw - 2cᵀw + l1·Σ|w| + l2·Σw²`` by cyclic coordinate descent.

    With ``A = XcᵀXc/n`` and ``c = Xcᵀyc/n`` this is ``mean((y - Xw - b)²) + l1·Σ|w| + l2·Σw²``
    up to a constant. Each coordinate step is exact (soft-thresholding):
    ``w_j = S(c_j - Σ_{k≠j} A_jk·w_k, l1/2) / (A_jj + l2)``; the problem is convex, so the
    sweeps converge to the global optimum.
    """
    d = a.shape[0]
    w = torch.zeros(d, dtype=torch.float64)
    aw = torch.zeros(d, dtype=torch.float64)  # A @ w, kept up to date
    diag = a.diagonal().tolist()
    for _ in range(max_sweeps):
        if stop():
            raise _Stopped()
        biggest = 0.0
        for j in range(d):
            if diag[j] + l2 <= 0:
                continue
            rho = float(c[j] - aw[j] + a[j, j] * w[j])
            new = math.copysign(max(abs(rho) - l1 / 2, 0.0), rho) / (diag[j] + l2)
            delta = new - float(w[j])
            if delta:
                aw += delta * a[:, j]
                w[j] = new
                biggest = max(biggest, abs(delta))
        if biggest < tol:
            break
    return w


def pinball_irls(
    x: Tensor, y: Tensor, q: float, bias: bool, iters: int = 200, stop: Stop = _never
) -> tuple[Tensor, float]:
    """Quantile (pinball) regression by iteratively reweighted least squares, as statsmodels'
    QuantReg does: weights ``q/|r|`` above the fit and ``(1-q)/|r|`` below (|r| floored).
    MAE has the same minimiser as q = 0.5."""
    n, d = x.shape
    xd = x.double()
    xa = torch.cat([xd, torch.ones(n, 1, dtype=torch.float64)], 1) if bias else xd
    yd = y.double()
    beta = torch.linalg.lstsq(xa, yd.unsqueeze(1)).solution.squeeze(1)
    floor = 1e-8 * max(float(yd.abs().max()), 1.0)
    for _ in range(iters):
        if stop():
            raise _Stopped()
        r = yd - xa @ beta
        wts = torch.where(r > 0, q, 1 - q) / r.abs().clamp_min(floor)
        lhs = xa.T @ (wts.unsqueeze(1) * xa)
        rhs = xa.T @ (wts * yd)
        new = min_norm_lstsq(lhs, rhs) if _singular(lhs) else torch.linalg.solve(lhs, rhs)
        if float((new - beta).abs().max()) < 1e-12:
            beta = new
            break
        beta = new
    return (beta[:d], float(beta[d])) if bias else (beta, 0.0)


def objective_value(objective: Objective, x: Tensor, y: Tensor, w: Tensor, b: float) -> float:
    """The objective at ``(w, b)`` in float64."""
    with torch.no_grad():
        pred = x.double() @ w.double() + b
        return float(objective(pred, y.double(), w.double().unsqueeze(0)))


def lbfgs_reference(
    objective: Objective,
    x: Tensor,
    y: Tensor,
    w0: Tensor,
    b0: float,
    bias: bool,
    steps: int = 40,
    stop: Stop = _never,
) -> tuple[Tensor, float]:
    """Minimise the objective by full-batch L-BFGS (strong Wolfe) in float64, in ``steps``
    chunks of at most 50 iterations (the history carries over) so a stop is seen quickly."""
    xd, yd = x.double(), y.double()
    w = w0.clone().double().requires_grad_(True)
    b = torch.tensor(b0, dtype=torch.float64, requires_grad=bias)
    params = [w, b] if bias else [w]
    opt = float64_lbfgs(params, tolerance_change=1e-15)

    def closure() -> Tensor:
        opt.zero_grad()
        loss = objective(xd @ w + b, yd, w.unsqueeze(0))
        loss.backward()  # type: ignore[no-untyped-call]  # torch's stub leaves it untyped
        return loss

    for _ in range(steps):
        if stop():  # the user stopped the run during set-up
            break
        opt.step(closure)  # type: ignore[no-untyped-call]  # LBFGS.step is untyped in torch
    return w.detach(), float(b.detach())


def optimum_method(loss: LossConfig) -> str:
    """How the optimum of this objective is found (a :class:`~engine.registry.LossSpec`'s
    ``optimum``): ``least_squares`` (exact), ``quantile_irls`` (reference, penalty-free only)
    or ``reference`` (L-BFGS). Custom and combined losses always get the L-BFGS reference."""
    spec = LOSSES.get(loss.name)
    method = spec.optimum if spec is not None else "reference"
    if method == "quantile_irls" and (loss.l1 or loss.l2):
        return "reference"
    return method


def _irls_level(loss: LossConfig) -> float:
    """The quantile an IRLS optimum is taken at: the loss's ``quantile`` parameter, else the
    median (MAE has the same minimiser as the pinball loss at q = 0.5)."""
    return loss_values(loss.name, loss.params, loss).get("quantile", 0.5)


def optimum_info(
    ds: Dataset,
    cfg: Config,
    objective: Objective,
    stop: Stop = _never,
    warnings: list[str] | None = None,
) -> tuple[dict[str, Any] | None, float | None]:
    """``({kind, method, loss, weights, bias}, condition number)`` for the training split.

    The optimum is None when there is none to show: stopped meanwhile, too big for a reference,
    or a loss that fails (or is not finite) in float64. A classification task gets the
    reference of :mod:`engine.training.class_optimum` (its warnings go to ``warnings``) and no
    condition number.
    """
    if ds.classes is not None:
        from engine.training.class_optimum import class_optimum

        if ds.train.x.shape[0] * ds.train.x.shape[1] > REFERENCE_MAX_CELLS:
            return None, None
        return class_optimum(
            ds, cfg, objective, stop, warnings if warnings is not None else []
        ), None
    try:
        return _optimum_info(ds, cfg, objective, stop)
    except _Stopped:
        return None, None


def _optimum_info(
    ds: Dataset, cfg: Config, objective: Objective, stop: Stop
) -> tuple[dict[str, Any] | None, float | None]:
    x, y = ds.train.x, ds.train.y
    bias, loss, (n, d) = cfg.model.bias, cfg.loss, x.shape
    method = optimum_method(loss)
    exact = method == "least_squares"
    direct = n * d <= DIRECT_MAX_CELLS
    xc = yc = None
    if d > n and direct:  # wide: never form the d×d Gram matrix
        xc, yc, mx, my = centred(x, y, bias)
        cond = condition_number_of_x(xc)
        if exact and loss.l1:
            if d > CD_MAX_FEATURES:
                return None, cond
            g, xy = xc.T @ xc, xc.T @ yc
        else:
            w, how = wide_solution(xc, yc, loss.l2 if exact else 0.0)
    else:
        g, xy, mx, my = gram(x, y, center=bias, stop=stop)  # one pass serves every solver
        cond = condition_number(g)
        if direct and math.isinf(cond):
            xc, yc, _, _ = centred(x, y, bias)
    if exact and loss.l1:  # elastic net: exact by coordinate descent
        if d > CD_MAX_FEATURES:
            return None, cond
        w = elastic_net_cd(g / n, xy / n, loss.l1, loss.l2, stop=stop)
        how = "coordinate descent"
    elif not (d > n and direct):  # ridge / least squares: exact for mse, else the start
        w, how = ridge_solution(g, xy, n, loss.l2 if exact else 0.0, xc, yc)
    b = float(my - mx @ w) if bias else 0.0
    kind = "exact"
    if not exact:
        if n * d > REFERENCE_MAX_CELLS:
            return None, cond
        if method == "quantile_irls":
            if d + bias > n:  # no unique quantile fit, and a (d+1)² solve per iteration
                return None, cond
            w, b = pinball_irls(x, y, _irls_level(loss), bias, stop=stop)
            kind, how = "reference", "IRLS (float64, full batch)"
        else:
            try:
                w, b = lbfgs_reference(objective, x, y, w, b, bias, stop=stop)
            except (RuntimeError, ValueError, TypeError):  # a user loss that fails in float64
                return None, cond
            if stop():
                return None, cond
            kind, how = "reference", "L-BFGS (float64, full batch)"
    value = objective_value(objective, x, y, w, b)
    if not math.isfinite(value):
        return None, cond
    return {
        "kind": kind,
        "method": how,
        "loss": value,
        "weights": w.tolist(),
        "bias": b if bias else None,
    }, cond
