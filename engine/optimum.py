"""The best possible answer, computed once per run, to show beside gradient descent.

For ``mse`` with optional ``l2`` the optimum is exact: with the same scaling as the engine's loss,
``mean((y - Xw - b)²) + l2·Σw²`` is minimised by the ridge normal equation
``(XcᵀXc/n + l2·I) w = Xcᵀyc/n``, ``b = ȳ - x̄·w`` (``Xc``, ``yc`` centred; without a bias,
uncentred and ``b = 0``). This is scikit-learn's ``Ridge(alpha = n·l2)`` and, for ``l2 = 0``,
``LinearRegression``. For every other objective a *reference* optimum comes from full-batch
L-BFGS in float64 from the least-squares start, labelled as such.

The optimiser's ``weight_decay`` is not part of the objective and is not included here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from engine.config import Config
from engine.data import Dataset
from engine.losses import Objective

CHUNK = 65536
REFERENCE_MAX_CELLS = 5_000_000
"""Skip the L-BFGS reference above this many training cells (rows x features)."""


def gram(x: Tensor, y: Tensor, center: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(XᵀX, Xᵀy, x̄, ȳ)`` in float64, centred when ``center``; chunked to bound memory."""
    n, d = x.shape
    g = torch.zeros(d, d, dtype=torch.float64)
    xy = torch.zeros(d, dtype=torch.float64)
    sx = torch.zeros(d, dtype=torch.float64)
    sy = torch.zeros((), dtype=torch.float64)
    for i in range(0, n, CHUNK):
        xc, yc = x[i:i + CHUNK].double(), y[i:i + CHUNK].double()
        g += xc.T @ xc
        xy += xc.T @ yc
        sx += xc.sum(0)
        sy += yc.sum()
    mx, my = sx / n, sy / n
    if center:
        g -= n * torch.outer(mx, mx)
        xy -= n * mx * my
    return g, xy, mx, my


def condition_number(g: Tensor) -> float:
    """Condition number of X from its Gram matrix: ``sqrt(λ_max / λ_min)`` of ``XᵀX``."""
    eig = torch.linalg.eigvalsh(g)
    return math.sqrt(float(eig[-1] / eig[0])) if float(eig[0]) > 0 else math.inf


def ridge_solution(g: Tensor, xy: Tensor, n: int, l2: float) -> Tensor:
    """Exact minimiser ``w`` of ``mean((y - Xw - b)²) + l2·Σw²`` from the (centred) Gram matrix:
    ``(XᵀX/n + l2·I) w = Xᵀy/n``."""
    a = g / n + l2 * torch.eye(g.shape[0], dtype=torch.float64)
    try:
        return torch.linalg.solve(a, xy / n)
    except RuntimeError:  # singular: minimum-norm solution
        return torch.linalg.lstsq(a, (xy / n).unsqueeze(1)).solution.squeeze(1)


def elastic_net_cd(a: Tensor, c: Tensor, l1: float, l2: float, tol: float = 1e-13,
                   max_sweeps: int = 100_000) -> Tensor:
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


def pinball_irls(x: Tensor, y: Tensor, q: float, bias: bool,
                 iters: int = 200) -> tuple[Tensor, float]:
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
        r = yd - xa @ beta
        wts = torch.where(r > 0, q, 1 - q) / r.abs().clamp_min(floor)
        lhs = xa.T @ (wts.unsqueeze(1) * xa)
        new = torch.linalg.solve(lhs, xa.T @ (wts * yd))
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


def lbfgs_reference(objective: Objective, x: Tensor, y: Tensor, w0: Tensor, b0: float,
                    bias: bool, steps: int = 4,
                    stop: Callable[[], bool] = lambda: False) -> tuple[Tensor, float]:
    """Minimise the objective by full-batch L-BFGS (strong Wolfe) in float64."""
    xd, yd = x.double(), y.double()
    w = w0.clone().double().requires_grad_(True)
    b = torch.tensor(b0, dtype=torch.float64, requires_grad=bias)
    params = [w, b] if bias else [w]
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=500, tolerance_grad=1e-12,
                            tolerance_change=1e-15, history_size=50,
                            line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        loss = objective(xd @ w + b, yd, w.unsqueeze(0))
        loss.backward()
        return loss

    for _ in range(steps):
        if stop():  # the user stopped the run during set-up
            break
        opt.step(closure)
    return w.detach(), float(b.detach())


def optimum_info(ds: Dataset, cfg: Config, objective: Objective,
                 stop: Callable[[], bool] = lambda: False
                 ) -> tuple[dict[str, Any] | None, float | None]:
    """``({kind, method, loss, weights, bias}, condition number)`` for the training split."""
    x, y = ds.train.x, ds.train.y
    bias, loss, n = cfg.model.bias, cfg.loss, x.shape[0]
    g, xy, mx, my = gram(x, y, center=bias)  # one pass over the data serves every solver
    cond = condition_number(g)
    if loss.name == "mse" and loss.l1:  # elastic net: exact by coordinate descent
        w = elastic_net_cd(g / n, xy / n, loss.l1, loss.l2)
        kind, method = "exact", "coordinate descent"
    else:  # ridge / least squares: exact for mse, the starting point for the others
        w = ridge_solution(g, xy, n, loss.l2 if loss.name == "mse" else 0.0)
        kind, method = "exact", "normal equation" if loss.l2 else "least squares"
    b = float(my - mx @ w) if bias else 0.0
    if loss.name != "mse":
        if x.shape[0] * x.shape[1] > REFERENCE_MAX_CELLS:
            return None, cond
        if loss.name in ("quantile", "mae") and loss.l1 == 0 and loss.l2 == 0:
            w, b = pinball_irls(x, y, loss.quantile if loss.name == "quantile" else 0.5, bias)
            kind, method = "reference", "IRLS (float64, full batch)"
        else:
            try:
                w, b = lbfgs_reference(objective, x, y, w, b, bias, stop=stop)
            except (RuntimeError, ValueError, TypeError):  # a user loss that fails in float64
                return None, cond
            if stop():
                return None, cond
            kind, method = "reference", "L-BFGS (float64, full batch)"
    value = objective_value(objective, x, y, w, b)
    if not math.isfinite(value):
        return None, cond
    return {"kind": kind, "method": method, "loss": value, "weights": w.tolist(),
            "bias": b if bias else None}, cond
