"""Regularisation path: the exact coefficients over a grid of λ, with validation error along it.

Why: one penalty value is one point; the path shows what the penalty *does* — which
coefficients shrink first, where the lasso zeroes one, and which λ the validation split likes.
It is MSE's path (the only data loss whose penalised minimiser is exact for every λ), on the
engine's prepared training split, in the engine's scaling (bias never penalised)::

    l2 (ridge):        mean((y - Xw - b)²) + λ·Σw²
    l1 (lasso):        mean((y - Xw - b)²) + λ·Σ|w|
    elasticnet (ρ):    mean((y - Xw - b)²) + λ·(ρ·Σ|w| + (1-ρ)·Σw²)

i.e. the run config's ``loss.l1 = ρ·λ``, ``loss.l2 = (1-ρ)·λ``. In scikit-learn's terms:
ridge is ``Ridge(alpha = n·λ)``, lasso ``Lasso(alpha = λ/2)``, elastic net
``ElasticNet(alpha = ρλ/2 + (1-ρ)λ, l1_ratio = (ρλ/2)/alpha)``.

Ridge, from one eigendecomposition. The bias is unpenalised, so ``b = ȳ - x̄·w`` and, with
centred ``Xc``, ``yc``, the objective is ``|yc - Xc·w|²/n + λ|w|²``. Setting its gradient
``-2Xcᵀ(yc - Xc·w)/n + 2λw`` to 0 gives ``(XcᵀXc + n·λ·I)·w = Xcᵀyc``; with
``XcᵀXc = V·diag(s)·Vᵀ``::

    w(λ) = V · diag(1 / (s_i + n·λ)) · Vᵀ·Xcᵀyc

for every λ at once (one ``K×d`` product). Lasso and elastic net: warm-started coordinate
descent down a decreasing grid (:mod:`engine.lab.coordinate`). All in float64. Without a bias
(``model.bias: false``) nothing is centred and ``b = 0``.

The default grid is geometric and decreasing, ``n_lambdas`` values from ``λ_max`` down to
``λ_max·min_ratio``: for l1/elasticnet ``λ_max = 2·max_j|Xcᵀyc/n|_j / ρ``, the smallest λ with
every coefficient 0; for ridge ``λ_max = 100·s_max/n`` (every coefficient shrunk to at most
1% of least squares). Validation: MSE (in the target's original units, like the run metrics)
and ``R² = 1 - Σr²/Σ(y - ȳ)²`` on the validation split; the best λ has the lowest validation MSE
(the largest such λ on a tie).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from engine.config import Config, ConfigError
from engine.data.dataset import Dataset, load_dataset
from engine.lab.coordinate import DEFAULT_TOL, enet_path
from engine.lab.influence import clean

PENALTIES = ("l2", "l1", "elasticnet")
DEFAULT_LAMBDAS = 50
RIDGE_MAX_FACTOR = 100.0


@dataclass(frozen=True)
class PathResult:
    """A regularisation path, JSON-ready (:meth:`to_dict`). ``coefs[k]`` and ``intercepts[k]``
    minimise the objective at ``lambdas[k]``, in the prepared (trained-on) units."""

    penalty: str
    l1_ratio: float
    objective: str
    feature_names: list[str]
    lambdas: list[float]
    coefs: list[list[float]]
    intercepts: list[float]
    nonzero: list[int]
    val_mse: list[float | None] | None
    val_r2: list[float | None] | None
    best: int | None
    n_train: int
    n_val: int
    converged: bool

    def to_dict(self) -> dict[str, Any]:
        """Every field, plus ``best_lambda``; strict JSON (a non-finite number is None)."""
        out: dict[str, Any] = clean(
            {
                **asdict(self),
                "best_lambda": self.lambdas[self.best] if self.best is not None else None,
            }
        )
        return out


def check_penalty(penalty: str, l1_ratio: float) -> float:
    """The ρ this penalty uses (1 for l1, 0 for l2); a ConfigError for a bad name or ratio."""
    if penalty not in PENALTIES:
        raise ConfigError(
            f"--penalty must be one of {', '.join(PENALTIES)}, got '{penalty}'",
            key="penalty",
            reason="unknown penalty",
        )
    if penalty == "elasticnet" and not 0 < l1_ratio <= 1:
        raise ConfigError(
            f"--l1-ratio must be in (0, 1], got {l1_ratio:g}",
            key="l1_ratio",
            reason="must be in (0, 1]",
        )
    return {"l2": 0.0, "l1": 1.0}.get(penalty, l1_ratio)


def objective_text(penalty: str, rho: float, bias: bool = True) -> str:
    """The minimised objective as text, λ left as a symbol."""
    fit = "mean((y - Xw - b)²)" if bias else "mean((y - Xw)²)"
    term = {"l2": "λ·Σw²", "l1": "λ·Σ|w|"}.get(penalty, f"λ·({rho:g}·Σ|w| + {1 - rho:g}·Σw²)")
    return f"{fit} + {term}"


def centre(x: Tensor, y: Tensor, bias: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(Xc, yc, x̄, ȳ)`` in float64; uncentred with zero means when there is no bias."""
    xd, yd = x.double(), y.double().reshape(-1)
    if not bias:
        return xd, yd, torch.zeros(xd.shape[1], dtype=torch.float64), yd.new_zeros(())
    mx, my = xd.mean(0), yd.mean()
    return xd - mx, yd - my, mx, my


def geometric_grid(top: float, count: int, min_ratio: float) -> Tensor:
    """``count`` values from ``top`` down to ``top·min_ratio``, evenly spaced in log."""
    if count < 1 or not 0 < min_ratio < 1 or not top > 0:
        raise ConfigError(
            f"need n_lambdas >= 1 and min_ratio in (0, 1), got {count} and {min_ratio:g}"
        )
    return torch.logspace(math.log10(top), math.log10(top * min_ratio), count, dtype=torch.float64)


def ridge_path(xc: Tensor, yc: Tensor, lambdas: Tensor) -> Tensor:
    """``w(λ)`` for every λ from one eigendecomposition of ``XcᵀXc`` (``K×d``)."""
    n = xc.shape[0]
    s, v = torch.linalg.eigh(xc.T @ xc)
    s = s.clamp_min(0.0)  # rounding can leave tiny negative eigenvalues of a PSD matrix
    proj = v.T @ (xc.T @ yc)  # Vᵀ·Xcᵀyc
    coefs: Tensor = (proj / (s + n * lambdas[:, None])) @ v.T
    return coefs


def validation(
    coefs: Tensor, intercepts: Tensor, x: Tensor, y: Tensor, y_std: float
) -> tuple[list[float | None], list[float | None]]:
    """Validation MSE (original units) and R² of every coefficient row, one matrix product."""
    yd = y.double().reshape(-1)
    r = yd[:, None] - (x.double() @ coefs.T + intercepts)
    ss_res = (r * r).sum(0)
    yc = yd - yd.mean()
    ss_tot = float(torch.dot(yc, yc))
    mse = (ss_res * y_std**2 / len(yd)).tolist()
    r2 = [1.0 - float(s) / ss_tot if ss_tot > 0 else None for s in ss_res]
    return [float(m) for m in mse], r2


def coefficient_path(
    x: Tensor,
    y: Tensor,
    penalty: str,
    *,
    l1_ratio: float = 0.5,
    lambdas: Tensor | None = None,
    n_lambdas: int = DEFAULT_LAMBDAS,
    min_ratio: float | None = None,
    bias: bool = True,
    tol: float = DEFAULT_TOL,
) -> tuple[Tensor, Tensor, Tensor, bool]:
    """``(lambdas, coefs K×d, intercepts K, converged)`` of the penalised least-squares path.

    ``lambdas`` (any order) replaces the default grid; ``min_ratio`` defaults to 1e-6 for
    ridge, else 1e-4 with more rows than features and 1e-2 otherwise (glmnet's choice).
    """
    rho = check_penalty(penalty, l1_ratio)
    xc, yc, mx, my = centre(x, y, bias)
    n, d = xc.shape
    if min_ratio is None:
        min_ratio = 1e-6 if penalty == "l2" else (1e-4 if n > d else 1e-2)
    converged = True
    if penalty == "l2":
        if lambdas is None:
            s_max = float(torch.linalg.eigvalsh(xc.T @ xc)[-1]) if d else 0.0
            lambdas = geometric_grid(RIDGE_MAX_FACTOR * max(s_max, 1e-12) / n, n_lambdas, min_ratio)
        lambdas = lambdas.double()
        coefs = ridge_path(xc, yc, lambdas)
    else:
        a, c = xc.T @ xc / n, xc.T @ yc / n
        if lambdas is None:
            top = 2 * float(c.abs().max()) / rho if d else 0.0
            lambdas = geometric_grid(max(top, 1e-12), n_lambdas, min_ratio)
        lambdas = lambdas.double()
        order = torch.argsort(lambdas, descending=True)  # warm starts run from strong to weak
        ls = lambdas[order].tolist()
        solved, _, ok = enet_path(
            a, c, [rho * lam for lam in ls], [(1 - rho) * lam for lam in ls], tol=tol
        )
        coefs = torch.empty_like(solved)
        coefs[order] = solved
        converged = all(ok)
    intercepts = my - coefs @ mx if bias else torch.zeros(len(lambdas), dtype=torch.float64)
    return lambdas, coefs, intercepts, converged


def regularisation_path(
    ds: Dataset,
    penalty: str,
    *,
    l1_ratio: float = 0.5,
    lambdas: Tensor | None = None,
    n_lambdas: int = DEFAULT_LAMBDAS,
    min_ratio: float | None = None,
    bias: bool = True,
) -> PathResult:
    """The path on ``ds``'s training split, scored on its validation split."""
    rho = check_penalty(penalty, l1_ratio)
    lams, coefs, intercepts, ok = coefficient_path(
        ds.train.x,
        ds.train.y,
        penalty,
        l1_ratio=l1_ratio,
        lambdas=lambdas,
        n_lambdas=n_lambdas,
        min_ratio=min_ratio,
        bias=bias,
    )
    val_mse = val_r2 = None
    best = None
    if len(ds.val):
        val_mse, val_r2 = validation(coefs, intercepts, ds.val.x, ds.val.y, ds.y_std)
        scored = [
            (m, -lam, k)
            for k, (m, lam) in enumerate(zip(val_mse, lams.tolist(), strict=True))
            if m is not None and math.isfinite(m)
        ]
        best = min(scored)[2] if scored else None
    return PathResult(
        penalty,
        rho,
        objective_text(penalty, rho, bias),
        list(ds.feature_names),
        lams.tolist(),
        coefs.tolist(),
        intercepts.tolist(),
        [int(k) for k in (coefs != 0).sum(1).tolist()],
        val_mse,
        val_r2,
        best,
        len(ds.train),
        len(ds.val),
        ok,
    )


def config_path(cfg: Config, penalty: str, **options: Any) -> PathResult:
    """:func:`regularisation_path` on the prepared data of a config (its ``loss`` section is
    not used: the path is always of MSE), with the config's ``model.bias``."""
    return regularisation_path(load_dataset(cfg), penalty, bias=cfg.model.bias, **options)
