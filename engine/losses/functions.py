"""Loss functions: the torch side of :data:`engine.registry.LOSSES`, each with its formula
and its closed-form derivative.

Conventions (also in the README and the dashboard's help): ``r = y - ŷ`` is the residual, every
data loss is a *mean over samples*, and the penalties ``l1·Σ|w| + l2·Σw²`` are added on top of any
data loss with the bias never penalised. So ``mse`` with ``l2 = λ`` is the classic ridge objective
``mean((y - ŷ)²) + λ·Σw²``.

Every built-in is ``mean(φ(e))`` of the error ``e = ŷ - y`` (``= -r``); beside each function is
its ``φ'`` (``<name>_derivative``, the registry entry's ``derivative``), in the form
:data:`engine.losses.derivatives.Derivative` describes: ``(e, out, params) -> (t, c)`` with
``φ'(e) = c·t``. Each equals what autograd gives for the function, ties included.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.config import LossConfig
from engine.losses.formulas import loss_values, penalty_formula
from engine.registry import LossSpec, any_loss, resolve

LossFn = Callable[[Tensor, Tensor], Tensor]
"""``(pred, target) -> scalar``: a data loss, the mean over samples."""


def mse(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error: ``mean((y - ŷ)²)`` (PyTorch's fused kernel, one autograd node)."""
    return F.mse_loss(pred, target)


def mse_derivative(e: Tensor, out: Tensor, p: dict[str, float]) -> tuple[Tensor, float]:
    """``φ'(e) = 2e``: ``e`` itself, no op (the factor 2 folds into the step size)."""
    return e, 2.0


def mae(pred: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error: ``mean(|y - ŷ|)``. Robust to outliers; gradient sign(r)."""
    return F.l1_loss(pred, target)


def mae_derivative(e: Tensor, out: Tensor, p: dict[str, float]) -> tuple[Tensor, float]:
    """``φ'(e) = sign(e)``."""
    return torch.sign(e, out=out), 1.0


def huber(pred: Tensor, target: Tensor, delta: float = 1.0) -> Tensor:
    """Huber: ``mean(½r²)`` where ``|r| <= δ``, else ``mean(δ·(|r| - ½δ))``.

    Quadratic near zero, linear in the tails: MSE's smoothness with MAE's robustness.
    """
    return F.huber_loss(pred, target, delta=delta)


def huber_derivative(e: Tensor, out: Tensor, p: dict[str, float]) -> tuple[Tensor, float]:
    """``φ'(e) = clamp(e, -δ, δ)``."""
    return torch.clamp(e, -p["delta"], p["delta"], out=out), 1.0


def smooth_l1(pred: Tensor, target: Tensor, delta: float = 1.0) -> Tensor:
    """Smooth L1: ``mean(½r²/δ)`` where ``|r| < δ``, else ``mean(|r| - ½δ)``; equals huber/δ."""
    return F.smooth_l1_loss(pred, target, beta=delta)


def smooth_l1_derivative(e: Tensor, out: Tensor, p: dict[str, float]) -> tuple[Tensor, float]:
    """``φ'(e) = clamp(e, -δ, δ)/δ``."""
    return torch.clamp(e, -p["delta"], p["delta"], out=out), 1.0 / p["delta"]


def log_cosh(pred: Tensor, target: Tensor) -> Tensor:
    """Log-cosh: ``mean(log(cosh(r)))``, ≈ ½r² for small r and |r| - log 2 for large.

    Computed as ``|r| + softplus(-2|r|) - log 2``, which never overflows.
    """
    a = torch.abs(target - pred)
    return torch.mean(a + F.softplus(-2.0 * a) - math.log(2.0))


def log_cosh_derivative(e: Tensor, out: Tensor, p: dict[str, float]) -> tuple[Tensor, float]:
    """``φ'(e) = tanh(e)``."""
    return torch.tanh(e, out=out), 1.0


def quantile(pred: Tensor, target: Tensor, quantile: float = 0.5) -> Tensor:
    """Pinball (quantile) loss: ``mean(max(q·r, (q - 1)·r))``; its minimiser is the q-quantile.

    q = 0.5 gives half the MAE; q = 0.9 charges under-prediction 9x more than over-prediction.
    """
    q, r = quantile, target - pred
    return torch.mean(torch.maximum(q * r, (q - 1.0) * r))


def quantile_derivative(e: Tensor, out: Tensor, p: dict[str, float]) -> tuple[Tensor, float]:
    """``φ'(e) = ½·sign(e) + ½ - q``: ``1-q`` above the target, ``-q`` below, and autograd's
    half-and-half ``½-q`` at a tie."""
    return torch.sign(e, out=out).add_(1.0 - 2.0 * p["quantile"]), 0.5


def loss_function(spec: LossSpec) -> Callable[..., Tensor]:
    """The torch function a :class:`~engine.registry.LossSpec` names (``"module:attr"``)."""
    fn: Callable[..., Tensor] = resolve(spec.fn)
    return fn


def builtin(name: str, **params: Any) -> LossFn:
    """The registered loss ``name`` with its parameters (by name or alias, else defaults) bound."""
    spec = any_loss(name)
    if spec is None:
        raise KeyError(name)
    fn, values = loss_function(spec), spec.values(params)
    if not values:
        return fn
    return lambda pred, target: fn(pred, target, **values)


@dataclass
class Objective:
    """What the engine minimises: ``data_loss(ŷ, y) + l1·Σ|w| + l2·Σw²`` (bias not penalised).

    ``data_loss`` may take the weights as a third argument (``takes_weights``) for user losses
    that penalise them themselves.
    """

    data_loss: Callable[..., Tensor]
    l1: float
    l2: float
    formula: str
    takes_weights: bool = False

    def penalty(self, weight: Tensor) -> Tensor:
        """``l1·Σ|w| + l2·Σw²`` (a zero tensor when both are 0)."""
        out = weight.new_zeros(())
        if self.l1:
            out = out + self.l1 * weight.abs().sum()
        if self.l2:
            out = out + self.l2 * (weight * weight).sum()
        return out

    def __call__(self, pred: Tensor, target: Tensor, weight: Tensor) -> Tensor:
        data = (
            self.data_loss(pred, target, weight)
            if self.takes_weights
            else self.data_loss(pred, target)
        )
        if self.l1 or self.l2:
            return data + self.penalty(weight)
        return data


def _term_loss(
    name: str,
    params: dict[str, Any],
    cfg: LossConfig,
    base_dir: str | None,
    key: str = "loss.callable",
) -> tuple[Callable[..., Tensor], str, bool]:
    """One loss term: its function, formula and whether it takes the weights (``key``: the
    config key a custom term's load error names)."""
    if name == "custom":
        from engine.losses.user_loss import load_user_loss  # user code only when a preset names it

        spec = str(params.get("callable", cfg.callable) or "")
        kwargs = {k: v for k, v in params.items() if k not in ("callable", "force")}
        user = load_user_loss(spec, kwargs, base_dir, key=key)
        return user.fn, user.formula, user.takes_weights
    values = loss_values(name, params, cfg)
    return builtin(name, **values), formula_of(name, values), False


def formula_of(name: str, values: dict[str, float]) -> str:
    """The formula of the regression or classification loss ``name`` with ``values``."""
    spec = any_loss(name)
    return spec.render(values) if spec is not None else name


def build_objective(cfg: LossConfig, base_dir: str | None = None) -> Objective:
    """Build the objective from the ``loss`` section (single, combined or custom)."""
    if cfg.name == "combined":
        parts, texts = [], []
        for i, term in enumerate(cfg.terms or []):
            weight = float(term.get("weight", 1.0))
            fn, text, takes_w = _term_loss(
                term["name"], term.get("params") or {}, cfg, base_dir, key=f"loss.terms[{i}]"
            )
            parts.append((weight, fn, takes_w))
            texts.append(f"{weight:g}·{text}")
        text = " + ".join(texts)

        def combined(pred: Tensor, target: Tensor, weight: Tensor) -> Tensor:
            total = pred.new_zeros(())
            for w, fn, takes_w in parts:
                total = total + w * (fn(pred, target, weight) if takes_w else fn(pred, target))
            return total

        return Objective(
            combined, cfg.l1, cfg.l2, text + penalty_formula(cfg.l1, cfg.l2), takes_weights=True
        )
    params = dict(cfg.params)
    if cfg.name == "custom":
        params["callable"] = cfg.callable
    fn, text, takes_w = _term_loss(cfg.name, params, cfg, base_dir)
    return Objective(fn, cfg.l1, cfg.l2, text + penalty_formula(cfg.l1, cfg.l2), takes_w)
