"""Check a loss before trusting it: the properties a training loss must have, with numbers.

``check_loss(...)`` runs these on small seeded batches (``pred``, ``target`` of shape ``(n,)`` and
the model's weights ``w`` of shape ``(1, d)``, exactly as the trainer calls a loss):

==============  ===============================================================================
runs            it can be called on a batch of 8 (float32, as in training) without raising
scalar          it returns a real floating-point tensor with one element (not a Python float,
                not a vector of per-sample losses)
finite          its value is finite on a random batch, at ŷ = y and at residuals of ±10
differentiable  the output has a ``grad_fn``; ``∂L/∂ŷ`` reaches the predictions, is finite and
                not zero everywhere at residuals ≠ 0 (``.item()``, ``.detach()`` or
                ``torch.tensor(...)`` inside the loss cut the graph); ``∂L/∂w`` reaches the
                weights when the loss takes them
gradcheck       ``torch.autograd.gradcheck`` passes in float64 on 3 random batches: autograd's
                gradient equals central finite differences (eps 1e-6, atol 1e-5, rtol 1e-3)
minimal         ``L(ŷ=y) <= L(ŷ=y+δ·u)`` for δ in 1e-3, 1e-2, 0.1, 1 along 4 directions u:
                the loss is lowest (or at least not higher) when predictions equal the targets
==============  ===============================================================================

and reports, without passing or failing, whether it is *symmetric* in over/under-prediction
(``L(r) = L(-r)`` with the residual ``r = y - ŷ`` the same for every row, ``r > 0`` meaning the
model predicts too low) and its value at ``r = -2, -1, -0.5, 0, 0.5, 1, 2``.

:func:`preflight` is what the trainer runs before a custom loss (or a combined loss with a custom
term) trains: a failed check raises :class:`~engine.config.ConfigError` naming the failed
property, unless ``loss.force`` is true (then it is a warning) and the loss can train at all
(one that does not run, returns no scalar or has no gradient is refused even when forced).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from engine.config import LOSS_NAMES, Config, ConfigError, LossConfig
from engine.user_loss import UserLoss, UserLossError, load_user_loss, wrap_loss

Status = Literal["PASS", "FAIL", "SKIP"]
RESIDUALS = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0)
"""Residuals ``r = y - ŷ`` at which the loss's value is tabulated."""
N_ROWS, N_FEATURES, GRADCHECK_BATCHES = 8, 3, 3
PERTURB_SIZES = (1e-3, 1e-2, 0.1, 1.0)
SYM_RTOL = 1e-6


@dataclass
class Property:
    """One checked property: its name, PASS / FAIL / SKIP and the numbers behind it."""

    name: str
    status: Status
    detail: str
    fatal: bool = False
    """A failure that makes training impossible (``loss.force`` cannot override it)."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail,
                "fatal": self.fatal}


@dataclass
class CheckReport:
    """The result of :func:`check_loss`.

    ``ok`` is true when the loss loaded and no property failed; ``failures`` lists
    ``"property: numbers"`` for each failed one; ``summary`` is one line for a status bar, an
    error message or the dashboard's loss field.
    """

    label: str
    formula: str = ""
    takes_weights: bool = False
    properties: list[Property] = field(default_factory=list)
    symmetric: bool | None = None
    symmetry: str = ""
    table: list[tuple[float, float]] = field(default_factory=list)
    load_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.load_error is None and not any(p.status == "FAIL" for p in self.properties)

    @property
    def fatal(self) -> bool:
        """Whether training cannot run at all: the loss does not load, does not run, returns no
        scalar, or its output has no gradient (``backward()`` would raise)."""
        return self.load_error is not None or any(
            p.status == "FAIL" and p.fatal for p in self.properties)

    @property
    def failures(self) -> list[str]:
        if self.load_error is not None:
            return [f"loads: {self.load_error}"]
        return [f"{p.name}: {p.detail}" for p in self.properties if p.status == "FAIL"]

    @property
    def summary(self) -> str:
        if self.ok:
            n = sum(p.status == "PASS" for p in self.properties)
            sym = "symmetric" if self.symmetric else "asymmetric" if self.symmetric is False else ""
            return f"loss check passed for {self.label}: {n}/{len(self.properties)} properties" + \
                (f"; {sym}" if sym else "")
        if self.load_error is not None:
            return f"loss check failed: {self.load_error}"
        fails = self.failures
        more = f" (and {len(fails) - 1} more)" if len(fails) > 1 else ""
        return f"loss check failed for {self.label}: {fails[0]}{more}"

    def lines(self) -> list[str]:
        """The report as printed by ``linreg-tui check-loss``."""
        out = [f"loss: {self.label}"]
        if self.load_error is not None:
            out.append(f"  FAIL  loads           {self.load_error}")
            out.append("result: FAIL (the loss could not be loaded)")
            return out
        out.append(f"formula: {self.formula}")
        out.append("signature: (pred, target, weights)" if self.takes_weights
                   else "signature: (pred, target)")
        width = max(len(p.name) for p in self.properties)
        for p in self.properties:
            out.append(f"  {p.status}  {p.name.ljust(width)}  {p.detail}")
        if self.symmetry:
            out.append(f"symmetry: {self.symmetry}")
        if self.table:
            head = ["r = y - ŷ"] + [f"{r:g}" for r, _ in self.table]
            vals = ["L"] + [f"{v:.4g}" for _, v in self.table]
            widths = [max(len(a), len(b)) for a, b in zip(head, vals)]
            out.append("  ".join(h.rjust(w) if i else h.ljust(w)
                                 for i, (h, w) in enumerate(zip(head, widths))))
            out.append("  ".join(v.rjust(w) if i else v.ljust(w)
                                 for i, (v, w) in enumerate(zip(vals, widths))))
        n = sum(p.status == "PASS" for p in self.properties)
        out.append(f"result: {'PASS' if self.ok else 'FAIL'} ({n}/{len(self.properties)} "
                   "properties passed)")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "formula": self.formula, "ok": self.ok,
                "summary": self.summary, "failures": self.failures,
                "takes_weights": self.takes_weights,
                "properties": [p.to_dict() for p in self.properties],
                "symmetric": self.symmetric, "symmetry": self.symmetry,
                "table": [list(t) for t in self.table], "load_error": self.load_error}


# ---------------------------------------------------------------------------------------------
# The loss under test


@dataclass
class _Subject:
    """A loss as the trainer calls it: ``call(pred, target, weights)``."""

    call: Callable[[Tensor, Tensor, Tensor], Any]
    label: str
    formula: str
    takes_weights: bool
    """Whether the loss itself reads the weights (then their gradient must reach them)."""


def _from_user(user: UserLoss, label: str) -> _Subject:
    fn = user.fn
    if user.takes_weights:
        return _Subject(lambda p, t, w: fn(p, t, w), label, user.formula, True)
    return _Subject(lambda p, t, w: fn(p, t), label, user.formula, False)


def _builtin_subject(name: str, params: dict[str, Any]) -> _Subject:
    from engine.formulas import formula
    from engine.losses import builtin

    allowed = {"huber": ("delta",), "smooth_l1": ("delta",), "quantile": ("quantile", "q")}
    for key, value in params.items():
        if key not in allowed.get(name, ()):
            ok = ", ".join(allowed.get(name, ())) or "none"
            raise UserLossError(f"built-in loss {name!r}: unknown parameter {key!r} "
                                f"(it accepts: {ok})")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserLossError(f"built-in loss {name!r}: parameter {key} must be a number, "
                                f"got {value!r}")
    delta = float(params.get("delta", 1.0))
    q = float(params.get("quantile", params.get("q", 0.5)))
    if delta <= 0:
        raise UserLossError(f"built-in loss {name!r}: delta must be > 0, got {delta:g}")
    if not 0 < q < 1:
        raise UserLossError(f"built-in loss {name!r}: quantile must be in (0, 1), got {q:g}")
    fn = builtin(name, delta=delta, q=q)
    return _Subject(lambda p, t, w: fn(p, t), name, formula(name, delta=delta, q=q), False)


def _config_subject(cfg: LossConfig, base_dir: str | None) -> _Subject:
    """The whole objective of a ``loss`` section (penalties included), as it trains."""
    from engine.losses import build_objective

    if cfg.name == "custom":
        user = load_user_loss(cfg.callable or "", dict(cfg.params), base_dir)
        label = cfg.callable or "custom"
        sub = _from_user(user, label)
        if cfg.l1 or cfg.l2:
            objective = build_objective(cfg, base_dir)
            return _Subject(objective, label, objective.formula, sub.takes_weights)
        return sub
    objective = build_objective(cfg, base_dir)
    label = cfg.name if cfg.name != "combined" else "combined loss"
    # Only a user term that reads the weights must pass them a gradient; built-in terms don't.
    reads_w = objective.takes_weights and cfg.name != "combined"
    return _Subject(objective, label, objective.formula, reads_w)


def _subject(target: Any, params: dict[str, Any] | None, base_dir: str | None) -> _Subject:
    params = dict(params or {})
    if isinstance(target, Config):
        return _config_subject(target.loss, base_dir or target.base_dir)
    if isinstance(target, LossConfig):
        return _config_subject(target, base_dir)
    if isinstance(target, str):
        if target in LOSS_NAMES:
            return _builtin_subject(target, params)
        if ":" not in target:
            import difflib

            close = difflib.get_close_matches(target, LOSS_NAMES, n=1, cutoff=0.6)
            if close:
                raise UserLossError(f"loss spec {target!r}: unknown built-in loss (did you mean "
                                    f"{close[0]!r}?)")
            raise UserLossError(f"loss spec {target!r}: expected a built-in loss "
                                f"({', '.join(LOSS_NAMES)}), 'path/to/file.py:obj' or "
                                "'package.module:obj'")
        return _from_user(load_user_loss(target, params, base_dir), target)
    if callable(target):
        user = wrap_loss(target, params)
        return _from_user(user, getattr(target, "__qualname__", type(target).__name__))
    raise UserLossError(f"cannot check {target!r}: give a loss spec, a LossConfig or a callable")


# ---------------------------------------------------------------------------------------------
# The checks


def _err(exc: BaseException) -> str:
    return f"raised {type(exc).__name__}: {exc}".splitlines()[0]


def _batch(gen: torch.Generator, dtype: torch.dtype, n: int = N_ROWS
           ) -> tuple[Tensor, Tensor, Tensor]:
    """``(pred, target, weights)``: residuals of both signs, at least 0.2 away from 0."""
    target = 1.5 * torch.randn(n, generator=gen, dtype=dtype) + 0.5
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).to(dtype)
    sign[0], sign[1] = 1.0, -1.0
    r = sign * (0.2 + torch.rand(n, generator=gen, dtype=dtype) * 1.8)
    weights = torch.randn(1, N_FEATURES, generator=gen, dtype=dtype)
    return target - r, target, weights


def _fmt(v: float) -> str:
    return f"{v + 0.0:.4g}"  # + 0.0 turns -0.0 into 0


def _scalar_problem(out: Any) -> str | None:
    """Why ``out`` is not a real floating scalar tensor (None when it is)."""
    if not isinstance(out, Tensor):
        kind = type(out).__name__
        hint = (" (a Python number: .item() or float() cut the graph; return the tensor)"
                if isinstance(out, (int, float)) else "")
        return f"returned a {kind}, not a tensor{hint}"
    if out.is_complex() or not out.is_floating_point():
        return f"returned a {out.dtype} tensor; a loss must be a real floating-point tensor"
    if out.numel() != 1:
        return (f"returned a tensor of shape {tuple(out.shape)}, not a scalar: reduce the "
                "per-sample losses with .mean() or .sum()")
    return None


def _nonfinite(t: Tensor) -> str:
    bad = t[~torch.isfinite(t)]
    return _fmt(float(bad.reshape(-1)[0])) if bad.numel() else "ok"


def _check_finite(sub: _Subject, gen: torch.Generator) -> Property:
    pred, target, w = _batch(gen, torch.float32)
    cases = [("a random batch", pred, target),
             ("ŷ = y", target.clone(), target),
             ("residuals of ±10", target - 10.0 * torch.sign(target - pred), target)]
    values = []
    for what, p, t in cases:
        try:
            with torch.no_grad():
                out = sub.call(p, t, w)
        except Exception as exc:  # noqa: BLE001 - user code
            return Property("finite", "FAIL", f"{_err(exc)} on {what}")
        problem = _scalar_problem(out)
        if problem:
            return Property("finite", "FAIL", f"{problem} on {what}")
        v = float(out.reshape(()))
        if not math.isfinite(v):
            r = (t - p)
            return Property("finite", "FAIL", f"returned {v} on {what} (residuals in "
                            f"[{_fmt(float(r.min()))}, {_fmt(float(r.max()))}])")
        values.append(v)
    return Property("finite", "PASS", "L = " + ", ".join(
        f"{_fmt(v)} ({what})" for v, (what, _, _) in zip(values, cases)))


def _check_grad(sub: _Subject, pred: Tensor, target: Tensor, w: Tensor) -> Property:
    p = pred.clone().requires_grad_(True)
    wt = w.clone().requires_grad_(True)
    try:
        out = sub.call(p, target, wt)
    except Exception as exc:  # noqa: BLE001
        return Property("differentiable", "FAIL", _err(exc))
    if not isinstance(out, Tensor) or out.grad_fn is None:
        return Property("differentiable", "FAIL",
                        "gradient does not reach the predictions: the output has no grad_fn "
                        "(does the loss call .item(), .detach(), .numpy() or build a new tensor "
                        "from numbers?)", fatal=True)
    inputs = [p, wt] if sub.takes_weights else [p]
    try:
        grads = torch.autograd.grad(out.reshape(()), inputs, allow_unused=True)
    except Exception as exc:  # noqa: BLE001
        return Property("differentiable", "FAIL", f"backward {_err(exc)}")
    gp = grads[0]
    if gp is None:
        return Property("differentiable", "FAIL",
                        "gradient does not reach the predictions: ∂L/∂ŷ is None (is ŷ "
                        "detached, or is the loss built from the targets only?)")
    if not torch.isfinite(gp).all():
        i = int((~torch.isfinite(gp)).nonzero()[0])
        return Property("differentiable", "FAIL",
                        f"∂L/∂ŷ[{i}] = {_fmt(float(gp[i]))} is not finite "
                        f"(residual {_fmt(float(target[i] - pred[i]))})")
    if float(gp.abs().max()) == 0.0:
        return Property("differentiable", "FAIL",
                        f"∂L/∂ŷ is 0 for all {gp.numel()} predictions although every residual "
                        "is ≠ 0 (at least 0.2): the gradient does not reach the predictions "
                        "(is ŷ detached inside the loss?)")
    detail = f"|∂L/∂ŷ| max {_fmt(float(gp.abs().max()))} over {gp.numel()} predictions, finite"
    if sub.takes_weights:
        gw = grads[1]
        if gw is None:
            return Property("differentiable", "FAIL",
                            "gradient does not reach the weights: ∂L/∂w is None although the "
                            "loss takes (pred, target, weights) (weights detached or unused?)")
        if not torch.isfinite(gw).all():
            return Property("differentiable", "FAIL", f"∂L/∂w = {gw.tolist()} is not finite")
        detail += f"; |∂L/∂w| max {_fmt(float(gw.abs().max()))}, finite"
    return Property("differentiable", "PASS", detail)


def _numeric_mismatch(fn: Callable[..., Tensor], inputs: tuple[Tensor, ...],
                      names: tuple[str, ...], eps: float = 1e-6) -> str:
    """The largest analytic-vs-central-difference gradient mismatch, in words."""
    xs = [x.detach().clone().requires_grad_(True) for x in inputs]
    out = fn(*xs)
    analytic = torch.autograd.grad(out.reshape(()), xs, allow_unused=True)
    worst = (-1.0, "")
    with torch.no_grad():
        for k, x in enumerate(xs):
            a = analytic[k] if analytic[k] is not None else torch.zeros_like(x)
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
                    worst = (diff, f"∂L/∂{names[k]}[{i}]: autograd {_fmt(ana)} vs finite "
                                   f"difference {_fmt(num)}")
    return worst[1] or "gradcheck found a mismatch (not reproduced by central differences)"


def _check_gradcheck(sub: _Subject, gen: torch.Generator) -> Property:
    for b in range(1, GRADCHECK_BATCHES + 1):
        pred, target, w = _batch(gen, torch.float64, n=5)
        if sub.takes_weights:
            def fn(p: Tensor, wt: Tensor, _t: Tensor = target) -> Tensor:
                return sub.call(p, _t, wt)
            inputs: tuple[Tensor, ...] = (pred.requires_grad_(True), w.requires_grad_(True))
            names: tuple[str, ...] = ("ŷ", "w")
        else:
            def fn(p: Tensor, _t: Tensor = target, _w: Tensor = w) -> Tensor:
                return sub.call(p, _t, _w)
            inputs, names = (pred.requires_grad_(True),), ("ŷ",)
        try:
            passed = torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3,
                                              raise_exception=False)
        except Exception as exc:  # noqa: BLE001 - user code, e.g. float32 constants
            return Property("gradcheck", "FAIL", f"in float64, batch {b}: {_err(exc)}")
        if not passed:
            try:
                where = _numeric_mismatch(fn, inputs, names)
            except Exception as exc:  # noqa: BLE001
                where = _err(exc)
            return Property("gradcheck", "FAIL",
                            f"autograd's gradient differs from finite differences in float64 "
                            f"(batch {b} of {GRADCHECK_BATCHES}): {where}")
    return Property("gradcheck", "PASS",
                    f"torch.autograd.gradcheck passed in float64 on {GRADCHECK_BATCHES} random "
                    f"batches ({'ŷ and w' if sub.takes_weights else 'ŷ'})")


def _check_minimal(sub: _Subject, gen: torch.Generator) -> Property:
    _, target, w = _batch(gen, torch.float64)
    n = target.numel()
    signs = torch.where(torch.rand(2, n, generator=gen) < 0.5, -1.0, 1.0).double()
    dirs = [torch.ones(n, dtype=torch.float64), -torch.ones(n, dtype=torch.float64),
            signs[0], signs[1]]
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
            return Property("minimal", "FAIL", f"in float64: {_err(exc)}")
    count = len(dirs) * len(PERTURB_SIZES)
    if not math.isfinite(at_y) or not math.isfinite(worst[0]):
        return Property("minimal", "FAIL", f"non-finite values near ŷ = y (L(ŷ=y) = {at_y})")
    dir_names = ("all +", "all -", "random signs", "random signs")
    tol = 1e-9 * max(1.0, abs(at_y))
    if worst[0] < at_y - tol:
        return Property("minimal", "FAIL",
                        f"L(ŷ=y) = {_fmt(at_y)} but L(ŷ = y + {worst[1]:g}·u) = "
                        f"{_fmt(worst[0])} is lower (u: {dir_names[worst[2]]}): the loss is not "
                        "smallest when predictions equal the targets")
    return Property("minimal", "PASS",
                    f"L(ŷ=y) = {_fmt(at_y)} <= L at {count} nearby predictions (lowest "
                    f"{_fmt(worst[0])})")


def _values_at_residuals(sub: _Subject, gen: torch.Generator) -> list[tuple[float, float]]:
    _, target, w = _batch(gen, torch.float64)
    with torch.no_grad():
        return [(r, float(sub.call(target - r, target, w).reshape(()))) for r in RESIDUALS]


def _symmetry(table: list[tuple[float, float]]) -> tuple[bool, str]:
    val = dict(table)
    base = val[0.0]
    for r in (1.0, 0.5, 2.0):
        a, b = val[r], val[-r]
        if abs(a - b) > SYM_RTOL * max(1.0, abs(a), abs(b)):
            ea, eb = a - base, b - base
            more = "under" if ea > eb else "over"
            ratio = max(ea, eb) / min(ea, eb) if min(ea, eb) > 0 else math.inf
            ratio_txt = f"{ratio:.3g}×" if math.isfinite(ratio) else "infinitely"
            return False, (f"asymmetric — {more}-prediction costs {ratio_txt} more at |r| = "
                           f"{r:g} (L(r=+{r:g}) = {_fmt(a)} with ŷ too low, L(r=-{r:g}) = "
                           f"{_fmt(b)} with ŷ too high; r = y - ŷ)")
    return True, "symmetric — L(r) = L(-r) at |r| = 0.5, 1, 2 (over- and under-prediction cost " \
                 "the same)"


def check_loss(target: str | LossConfig | Config | Callable[..., Any],
               params: dict[str, Any] | None = None, *, base_dir: str | None = None,
               seed: int = 0) -> CheckReport:
    """Check a loss and return a :class:`CheckReport` (never raises for a bad loss).

    ``target`` is a spec (``"file.py:obj"``, ``"package.module:obj"`` or a built-in name such as
    ``"huber"``), a ``LossConfig`` / ``Config`` (its whole objective, penalties included), or a
    loss object (``nn.Module`` class or instance, or function). ``params`` are the loss's keyword
    arguments (``loss.params``; ``delta`` / ``quantile`` for the built-ins). A relative file
    path resolves from ``base_dir`` (the cwd when None). The batches are seeded by ``seed``.
    """
    label = target if isinstance(target, str) else getattr(target, "callable", None) or \
        getattr(target, "__qualname__", None) or type(target).__name__
    try:
        sub = _subject(target, params, base_dir)
    except ConfigError as exc:
        return CheckReport(label=str(label), load_error=str(exc))
    report = CheckReport(label=sub.label, formula=sub.formula, takes_weights=sub.takes_weights)
    props = report.properties
    gen = torch.Generator().manual_seed(seed)
    pred, target_t, w = _batch(gen, torch.float32)

    names = ("runs", "scalar", "finite", "differentiable", "gradcheck", "minimal")

    def skip_rest(after: str, why: str) -> CheckReport:
        for name in names[names.index(after) + 1:]:
            props.append(Property(name, "SKIP", why))
        return report

    try:
        with torch.no_grad():
            out = sub.call(pred, target_t, w)
    except Exception as exc:  # noqa: BLE001 - user code
        props.append(Property("runs", "FAIL", f"on a batch of {N_ROWS} (float32): {_err(exc)}",
                              fatal=True))
        return skip_rest("runs", "the loss did not run")
    props.append(Property("runs", "PASS", f"called on a batch of {N_ROWS} rows (float32)"
                          + (f" with weights of shape (1, {N_FEATURES})" if sub.takes_weights
                             else "")))
    problem = _scalar_problem(out)
    if problem:
        props.append(Property("scalar", "FAIL", problem, fatal=True))
        return skip_rest("scalar", "not a scalar")
    props.append(Property("scalar", "PASS", f"{out.dtype} tensor of shape {tuple(out.shape)}"))
    props.append(_check_finite(sub, gen))
    if props[-1].status == "FAIL":
        return skip_rest("finite", "the loss is not finite")
    props.append(_check_grad(sub, pred, target_t, w))
    if props[-1].status == "FAIL":
        props.append(Property("gradcheck", "SKIP", "no usable gradient"))
    else:
        props.append(_check_gradcheck(sub, gen))
    props.append(_check_minimal(sub, gen))
    try:
        report.table = _values_at_residuals(sub, gen)
        if all(math.isfinite(v) for _, v in report.table):
            report.symmetric, report.symmetry = _symmetry(report.table)
        else:
            report.symmetry = "not judged (non-finite values at some residuals)"
    except Exception as exc:  # noqa: BLE001 - user code
        report.symmetry = f"not judged: {_err(exc)}"
    return report


def preflight(cfg: LossConfig, base_dir: str | None = None) -> list[str]:
    """Check every user loss in ``cfg`` before training; return warnings (when forced).

    A single ``custom`` loss is checked with its ``loss.params``; a combined loss has each
    ``custom`` term checked with its own params. A failed check raises ``ConfigError`` with one
    line naming the term, the failed property and its numbers, unless ``loss.force`` is true
    and the failure still lets training run (a loss that does not run, returns no scalar or has no
    gradient at all is refused even when forced: ``backward()`` would fail).
    """
    subjects: list[tuple[str, str, dict[str, Any]]] = []
    if cfg.name == "custom":
        subjects.append(("loss.callable", cfg.callable or "", dict(cfg.params)))
    elif cfg.name == "combined":
        for i, term in enumerate(cfg.terms or []):
            if term.get("name") == "custom":
                p = dict(term.get("params") or {})
                spec = p.pop("callable")
                p.pop("force", None)
                subjects.append((f"loss.terms[{i}]", spec, p))
    warnings: list[str] = []
    for where, spec, params in subjects:
        report = check_loss(spec, params, base_dir=base_dir)
        if report.load_error is not None:
            raise ConfigError(f"{where}: {report.load_error}")
        if report.ok:
            continue
        if cfg.force and not report.fatal:
            warnings.append(f"{where}: {report.summary}; training anyway because loss.force "
                            "is true")
        elif cfg.force:
            raise ConfigError(f"{where}: {report.summary} — training cannot run with this loss, "
                              "even with loss.force")
        else:
            raise ConfigError(f"{where}: {report.summary} — training not started (fix the loss, "
                              "or set loss.force: true to train anyway)")
    return warnings
