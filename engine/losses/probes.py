"""The properties a training loss must have, each checked with numbers on small seeded batches.

Each ``check_*`` takes a :class:`~engine.losses.subject.Subject` and returns one
:class:`~engine.losses.check_report.Property`; what each one checks is tabulated in
:mod:`engine.losses.check`. User code may raise anything: every call goes through
``Subject.call`` (guarded), so a failure is an ``Exception`` reported with its type and text.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from engine.config.yaml_io import QUOTE_CHARS, one_line
from engine.core.numbers import fmt_number
from engine.losses.check_report import Property
from engine.losses.subject import Subject
from engine.losses.user_code import UserCodeExit

RESIDUALS = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0)
"""Residuals ``r = y - ŷ`` at which the loss's value is tabulated."""
N_ROWS, N_FEATURES, GRADCHECK_BATCHES = 8, 3, 3
PERTURB_SIZES = (1e-3, 1e-2, 0.1, 1.0)
SYM_RTOL = 1e-6
LARGE_RESIDUALS = (1e3, 1e6)
"""Residuals (finite in float32, squared too) at which a loss may overflow but never be NaN."""


def err_text(exc: BaseException) -> str:
    """What user code did, in one short line: ``raised ValueError: ...``, ``called sys.exit(0)``."""
    text = str(exc) if isinstance(exc, UserCodeExit) else f"raised {type(exc).__name__}: {exc}"
    return one_line((text.splitlines() or [""])[0], 2 * QUOTE_CHARS)


def make_batch(
    gen: torch.Generator, dtype: torch.dtype, n: int = N_ROWS
) -> tuple[Tensor, Tensor, Tensor]:
    """``(pred, target, weights)``: residuals of both signs, at least 0.2 away from 0."""
    target = 1.5 * torch.randn(n, generator=gen, dtype=dtype) + 0.5
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).to(dtype)
    sign[0], sign[1] = 1.0, -1.0
    r = sign * (0.2 + torch.rand(n, generator=gen, dtype=dtype) * 1.8)
    weights = torch.randn(1, N_FEATURES, generator=gen, dtype=dtype)
    return target - r, target, weights


fmt = fmt_number
"""A number in a report line: the project's one formatter, :func:`engine.core.numbers.fmt_number`
(4 significant digits, ``1e-5`` not ``1e-05``, ``-0.0`` as ``0``), under its old name."""


def scalar_problem(out: Any) -> str | None:
    """Why ``out`` is not a real floating scalar tensor (None when it is)."""
    if not isinstance(out, Tensor):
        kind = type(out).__name__
        hint = (
            " (a Python number: .item() or float() cut the graph; return the tensor)"
            if isinstance(out, (int, float))
            else ""
        )
        return f"returned a {kind}, not a tensor{hint}"
    if out.is_complex() or not out.is_floating_point():
        return f"returned a {out.dtype} tensor; a loss must be a real floating-point tensor"
    if out.numel() != 1:
        return (
            f"returned a tensor of shape {tuple(out.shape)}, not a scalar: reduce the "
            "per-sample losses with .mean() or .sum()"
        )
    return None


def check_finite(sub: Subject, gen: torch.Generator) -> Property:
    """Finite on a random batch, at ŷ = y and at residuals of ±10; never NaN at ±1e3, ±1e6.

    Very large residuals may overflow to inf (an exponential loss does), which is reported but
    not a failure; a NaN there (``0·inf``, ``inf - inf``, a guard gone wrong) is.
    """
    pred, target, w = make_batch(gen, torch.float32)
    away = torch.sign(target - pred)
    cases = [
        ("a random batch", pred, target),
        ("ŷ = y", target.clone(), target),
        ("residuals of ±10", target - 10.0 * away, target),
    ]
    large = [(f"residuals of ±{fmt(r)}", target - r * away, target) for r in LARGE_RESIDUALS]
    values: list[float] = []
    for what, p, t in cases + large:
        try:
            with torch.no_grad():
                out = sub.call(p, t, w)
        except Exception as exc:  # noqa: BLE001 - user code
            return Property("finite", "FAIL", f"{err_text(exc)} on {what}")
        problem = scalar_problem(out)
        if problem:
            return Property("finite", "FAIL", f"{problem} on {what}")
        v = float(out.reshape(()))
        if math.isnan(v) or (not math.isfinite(v) and len(values) < len(cases)):
            r = t - p
            return Property(
                "finite",
                "FAIL",
                f"returned {v} on {what} (residuals in "
                f"[{fmt(float(r.min()))}, {fmt(float(r.max()))}])",
            )
        values.append(v)
    detail = "L = " + ", ".join(f"{fmt(v)} ({what})" for v, (what, _, _) in zip(values, cases))
    overflow = [
        what.removeprefix("residuals of ")
        for v, (what, _, _) in zip(values[len(cases) :], large)
        if not math.isfinite(v)
    ]
    detail += f"; not NaN at ±{', ±'.join(fmt(r) for r in LARGE_RESIDUALS)}" + (
        f" (inf at {', '.join(overflow)})" if overflow else ""
    )
    return Property("finite", "PASS", detail)


def check_grad(sub: Subject, pred: Tensor, target: Tensor, w: Tensor) -> Property:
    p = pred.clone().requires_grad_(True)
    wt = w.clone().requires_grad_(True)
    try:
        out = sub.call(p, target, wt)
    except Exception as exc:  # noqa: BLE001
        return Property("differentiable", "FAIL", err_text(exc))
    if not isinstance(out, Tensor) or out.grad_fn is None:
        return Property(
            "differentiable",
            "FAIL",
            "gradient does not reach the predictions: the output has no grad_fn "
            "(does the loss call .item(), .detach(), .numpy() or build a new tensor "
            "from numbers?)",
            fatal=True,
        )
    inputs = [p, wt] if sub.takes_weights else [p]
    try:  # allow_unused: an input the loss does not reach gets None (torch types it Tensor)
        grads: tuple[Tensor | None, ...] = torch.autograd.grad(
            out.reshape(()), inputs, allow_unused=True
        )
    except Exception as exc:  # noqa: BLE001
        return Property("differentiable", "FAIL", f"backward {err_text(exc)}")
    gp = grads[0]
    if gp is None:
        return Property(
            "differentiable",
            "FAIL",
            "gradient does not reach the predictions: ∂L/∂ŷ is None (is ŷ "
            "detached, or is the loss built from the targets only?)",
        )
    if not torch.isfinite(gp).all():
        i = int((~torch.isfinite(gp)).nonzero()[0])
        return Property(
            "differentiable",
            "FAIL",
            f"∂L/∂ŷ[{i}] = {fmt(float(gp[i]))} is not finite "
            f"(residual {fmt(float(target[i] - pred[i]))})",
        )
    if float(gp.abs().max()) == 0.0:
        return Property(
            "differentiable",
            "FAIL",
            f"∂L/∂ŷ is 0 for all {gp.numel()} predictions although every residual "
            "is ≠ 0 (at least 0.2): the gradient does not reach the predictions "
            "(is ŷ detached inside the loss?)",
        )
    detail = f"|∂L/∂ŷ| max {fmt(float(gp.abs().max()))} over {gp.numel()} predictions, finite"
    if sub.takes_weights:
        gw = grads[1]
        if gw is None:
            return Property(
                "differentiable",
                "FAIL",
                "gradient does not reach the weights: ∂L/∂w is None although the "
                "loss takes (pred, target, weights) (weights detached or unused?)",
            )
        if not torch.isfinite(gw).all():
            return Property("differentiable", "FAIL", f"∂L/∂w = {gw.tolist()} is not finite")
        detail += f"; |∂L/∂w| max {fmt(float(gw.abs().max()))}, finite"
    return Property("differentiable", "PASS", detail)


def _numeric_mismatch(
    fn: Callable[..., Tensor], inputs: tuple[Tensor, ...], names: tuple[str, ...], eps: float = 1e-6
) -> str:
    """The largest analytic-vs-central-difference gradient mismatch, in words."""
    xs = [x.detach().clone().requires_grad_(True) for x in inputs]
    out = fn(*xs)
    analytic: tuple[Tensor | None, ...] = torch.autograd.grad(
        out.reshape(()), xs, allow_unused=True
    )
    worst = (-1.0, "")
    with torch.no_grad():
        for k, (x, g) in enumerate(zip(xs, analytic)):
            a = g if g is not None else torch.zeros_like(x)
            flat = x.reshape(-1)
            for i in range(flat.numel()):
                old = float(flat[i])
                flat[i] = old + eps
                hi = float(fn(*xs).reshape(()))
                flat[i] = old - eps
                lo = float(fn(*xs).reshape(()))
                flat[i] = old
                num = (hi - lo) / (2 * eps)
                ana = float(a.reshape(-1)[i])
                diff = abs(ana - num)
                if math.isnan(diff):
                    diff = math.inf
                if diff > worst[0]:
                    worst = (
                        diff,
                        f"∂L/∂{names[k]}[{i}]: autograd {fmt(ana)} vs finite difference {fmt(num)}",
                    )
    return worst[1] or "gradcheck found a mismatch (not reproduced by central differences)"


def check_gradcheck(sub: Subject, gen: torch.Generator) -> Property:
    for b in range(1, GRADCHECK_BATCHES + 1):
        pred, target, w = make_batch(gen, torch.float64, n=5)
        fn: Callable[..., Any]  # returns whatever the user's loss returns
        if sub.takes_weights:

            def of_pred_w(p: Tensor, wt: Tensor, _t: Tensor = target) -> Any:
                return sub.call(p, _t, wt)

            fn = of_pred_w
            inputs: tuple[Tensor, ...] = (pred.requires_grad_(True), w.requires_grad_(True))
            names: tuple[str, ...] = ("ŷ", "w")
        else:

            def of_pred(p: Tensor, _t: Tensor = target, _w: Tensor = w) -> Any:
                return sub.call(p, _t, _w)

            fn = of_pred
            inputs, names = (pred.requires_grad_(True),), ("ŷ",)
        try:
            passed = torch.autograd.gradcheck(
                fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=False
            )
        except Exception as exc:  # noqa: BLE001 - user code, e.g. float32 constants
            return Property("gradcheck", "FAIL", f"in float64, batch {b}: {err_text(exc)}")
        if not passed:
            try:
                where = _numeric_mismatch(fn, inputs, names)
            except Exception as exc:  # noqa: BLE001
                where = err_text(exc)
            return Property(
                "gradcheck",
                "FAIL",
                f"autograd's gradient differs from finite differences in float64 "
                f"(batch {b} of {GRADCHECK_BATCHES}): {where}",
            )
    return Property(
        "gradcheck",
        "PASS",
        f"torch.autograd.gradcheck passed in float64 on {GRADCHECK_BATCHES} random "
        f"batches ({'ŷ and w' if sub.takes_weights else 'ŷ'})",
    )


def check_minimal(sub: Subject, gen: torch.Generator) -> Property:
    _, target, w = make_batch(gen, torch.float64)
    n = target.numel()
    signs = torch.where(torch.rand(2, n, generator=gen) < 0.5, -1.0, 1.0).double()
    dirs = [
        torch.ones(n, dtype=torch.float64),
        -torch.ones(n, dtype=torch.float64),
        signs[0],
        signs[1],
    ]
    with torch.no_grad():
        try:
            at_y = float(sub.call(target.clone(), target, w).reshape(()))
            worst = (math.inf, 0.0, 0)
            for k, u in enumerate(dirs):
                for d in PERTURB_SIZES:
                    v = float(sub.call(target + d * u, target, w).reshape(()))
                    if v < worst[0]:
                        worst = (v, d, k)
        except Exception as exc:  # noqa: BLE001
            return Property("minimal", "FAIL", f"in float64: {err_text(exc)}")
    count = len(dirs) * len(PERTURB_SIZES)
    if not math.isfinite(at_y) or not math.isfinite(worst[0]):
        return Property("minimal", "FAIL", f"non-finite values near ŷ = y (L(ŷ=y) = {at_y})")
    dir_names = ("all +", "all -", "random signs", "random signs")
    tol = 1e-9 * max(1.0, abs(at_y))
    if worst[0] < at_y - tol:
        return Property(
            "minimal",
            "FAIL",
            f"L(ŷ=y) = {fmt(at_y)} but L(ŷ = y + {fmt(worst[1])}·u) = "
            f"{fmt(worst[0])} is lower (u: {dir_names[worst[2]]}): the loss is not "
            "smallest when predictions equal the targets",
        )
    return Property(
        "minimal",
        "PASS",
        f"L(ŷ=y) = {fmt(at_y)} <= L at {count} nearby predictions (lowest {fmt(worst[0])})",
    )


def values_at_residuals(sub: Subject, gen: torch.Generator) -> list[tuple[float, float]]:
    _, target, w = make_batch(gen, torch.float64)
    with torch.no_grad():
        return [(r, float(sub.call(target - r, target, w).reshape(()))) for r in RESIDUALS]


def symmetry(table: list[tuple[float, float]]) -> tuple[bool, str]:
    val = dict(table)
    base = val[0.0]
    for r in (1.0, 0.5, 2.0):
        a, b = val[r], val[-r]
        if abs(a - b) > SYM_RTOL * max(1.0, abs(a), abs(b)):
            ea, eb = a - base, b - base
            more = "under" if ea > eb else "over"
            ratio = max(ea, eb) / min(ea, eb) if min(ea, eb) > 0 else math.inf
            ratio_txt = f"{fmt(ratio, 3)}×" if math.isfinite(ratio) else "infinitely"
            return False, (
                f"asymmetric — {more}-prediction costs {ratio_txt} more at |r| = "
                f"{fmt(r)} (L(r=+{fmt(r)}) = {fmt(a)} with ŷ too low, L(r=-{fmt(r)}) = "
                f"{fmt(b)} with ŷ too high; r = y - ŷ)"
            )
    return (
        True,
        "symmetric — L(r) = L(-r) at |r| = 0.5, 1, 2 (over- and under-prediction cost the same)",
    )
