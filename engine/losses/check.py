"""Check a loss before trusting it: the properties a training loss must have, with numbers.

``check_loss(...)`` runs these on small seeded batches (``pred``, ``target`` of shape ``(n,)`` and
the model's weights ``w`` of shape ``(1, d)``, exactly as the trainer calls a loss):

==============  ===============================================================================
runs            it can be called on a batch of 8 (float32, as in training) without raising
scalar          it returns a real floating-point tensor with one element (not a Python float,
                not a vector of per-sample losses)
finite          its value is finite on a random batch, at ŷ = y and at residuals of ±10, and
                not NaN at residuals of ±1e3 and ±1e6 (it may overflow to inf there)
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

The loss is loaded and checked in a daemon thread under a time limit (``timeout``, default
:data:`~engine.losses.user_code.DEFAULT_TIMEOUT_S`; :mod:`engine.losses.user_code`): a loss that
loops forever at import or in a call fails with one line naming the time-out, and ``sys.exit``,
``KeyboardInterrupt`` or any other ``BaseException`` from the loss is reported as its fault.

:func:`preflight` is what the trainer runs before a custom loss (or a combined loss with a custom
term) trains: a failed check raises :class:`~engine.config.ConfigError` naming the failed
property, unless ``loss.force`` is true (then it is a warning) and the loss can train at all
(one that does not run, returns no scalar or has no gradient is refused even when forced).

The report model is :mod:`engine.losses.check_report`, the loss under test
:mod:`engine.losses.subject`, the properties :mod:`engine.losses.probes`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from engine.config import Config, ConfigError, LossConfig
from engine.losses.check_classes import class_properties
from engine.losses.check_report import CheckReport, Property, Status
from engine.losses.probes import (
    N_FEATURES,
    N_ROWS,
    RESIDUALS,
    check_finite,
    check_grad,
    check_gradcheck,
    check_minimal,
    err_text,
    make_batch,
    scalar_problem,
    symmetry,
    values_at_residuals,
)
from engine.losses.subject import Subject, subject_of
from engine.losses.user_code import DEFAULT_TIMEOUT_S, Stopped, TimedOut, run_limited, stray_threads
from engine.registry import task_of

__all__ = ["RESIDUALS", "CheckReport", "Property", "Status", "Stopped", "check_loss", "preflight"]

PROPERTIES = ("runs", "scalar", "finite", "differentiable", "gradcheck", "minimal")


def _label(target: Any) -> str:
    if isinstance(target, Config):
        return f"preset {target.name}"
    return str(
        target
        if isinstance(target, str)
        else getattr(target, "callable", None)
        or getattr(target, "__qualname__", None)
        or type(target).__name__
    )


def check_loss(
    target: str | LossConfig | Config | Callable[..., Any],
    params: dict[str, Any] | None = None,
    *,
    base_dir: str | None = None,
    seed: int = 0,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    stop: Callable[[], bool] | None = None,
    task: str | None = None,
) -> CheckReport:
    """Check a loss and return a :class:`CheckReport` (never raises for a bad loss).

    ``target`` is a spec (``"file.py:obj"``, ``"package.module:obj"`` or a built-in name such as
    ``"huber"``), a ``LossConfig`` / ``Config`` (its whole objective, penalties included), or a
    loss object (``nn.Module`` class or instance, or function). ``params`` are the loss's keyword
    arguments (``loss.params``; ``delta`` / ``quantile`` for the built-ins). A relative file
    path resolves from ``base_dir`` (the cwd when None). The batches are seeded by ``seed``.

    Loading and checking take at most ``timeout`` seconds (None: no limit); past it the report's
    ``load_error`` names the time-out and what was running. When ``stop()`` turns true meanwhile
    (the first Ctrl-C of a run), :class:`~engine.losses.user_code.Stopped` is raised.

    ``task`` is what the loss is checked as: ``regression`` (predictions and targets) or
    ``binary`` / ``multiclass`` (logits and labels, :mod:`engine.losses.check_classes`). None:
    a Config's ``model.task``, a built-in loss's own task, else regression. A task that
    contradicts the Config's or the built-in's is a ``load_error``.
    """
    label = _label(target)
    phase = ["loading the loss"]
    # a whole config and a built-in loss say their task; another loss is checked as regression
    named = task_of(target) if isinstance(target, str) else None
    own = target.model.task if isinstance(target, Config) else named
    if task is not None and own is not None and task != own:
        what = (
            f"the preset's model.task is {own}"
            if isinstance(target, Config)
            else f"it is a {own} loss"
        )
        return CheckReport(
            label=label, load_error=f"loss {label!r} cannot be checked as {task}: {what}", task=task
        )
    task = task or own or "regression"
    try:
        return run_limited(
            lambda: _check(target, params, base_dir, seed, label, phase, task), timeout, stop
        )
    except TimedOut as exc:
        return CheckReport(
            label=label,
            load_error=(
                f"loss {label!r}: {phase[0]} {exc} (an endless loop? 'check-loss --timeout "
                "SECONDS' allows longer)"
            ),
        )


def _check(
    target: Any,
    params: dict[str, Any] | None,
    base_dir: str | None,
    seed: int,
    label: str,
    phase: list[str],
    task: str = "regression",
) -> CheckReport:
    """The whole check, in the thread :func:`check_loss` waits for; ``phase[0]`` says what
    runs now (for a time-out message)."""
    try:
        sub = subject_of(target, params, base_dir)
    except ConfigError as exc:
        return CheckReport(label=label, load_error=str(exc), task=task)
    report = CheckReport(
        label=sub.label, formula=sub.formula, takes_weights=sub.takes_weights, task=task
    )
    gen = torch.Generator().manual_seed(seed)
    if task != "regression":  # a loss of logits: its own properties, no residual table
        phase[0] = f"checking the loss on {task} logits"
        class_properties(sub, gen, task, report.properties)
        return report
    _properties(sub, gen, report.properties, phase)
    if any(p.status == "FAIL" and p.name in PROPERTIES[:3] for p in report.properties):
        return report
    phase[0] = "tabulating the loss at residuals " + ", ".join(f"{r:g}" for r in RESIDUALS)
    try:
        report.table = values_at_residuals(sub, gen)
        if all(math.isfinite(v) for _, v in report.table):
            report.symmetric, report.symmetry = symmetry(report.table)
        else:
            report.symmetry = "not judged (non-finite values at some residuals)"
    except Exception as exc:  # noqa: BLE001 - user code
        report.symmetry = f"not judged: {err_text(exc)}"
    return report


def _properties(
    sub: Subject, gen: torch.Generator, props: list[Property], phase: list[str]
) -> None:
    """Append each property's result; after a failure that makes the rest meaningless, SKIP."""

    def skip_rest(after: str, why: str) -> None:
        props.extend(
            Property(name, "SKIP", why) for name in PROPERTIES[PROPERTIES.index(after) + 1 :]
        )

    pred, target, w = make_batch(gen, torch.float32)
    phase[0] = f"calling the loss on a batch of {N_ROWS} rows"
    try:
        with torch.no_grad():
            out = sub.call(pred, target, w)
    except Exception as exc:  # noqa: BLE001 - user code
        props.append(
            Property(
                "runs", "FAIL", f"on a batch of {N_ROWS} (float32): {err_text(exc)}", fatal=True
            )
        )
        return skip_rest("runs", "the loss did not run")
    props.append(
        Property(
            "runs",
            "PASS",
            f"called on a batch of {N_ROWS} rows (float32)"
            + (f" with weights of shape (1, {N_FEATURES})" if sub.takes_weights else ""),
        )
    )
    problem = scalar_problem(out)
    if problem:
        props.append(Property("scalar", "FAIL", problem, fatal=True))
        return skip_rest("scalar", "not a scalar")
    props.append(Property("scalar", "PASS", f"{out.dtype} tensor of shape {tuple(out.shape)}"))
    phase[0] = "checking the loss is finite"
    finite = check_finite(sub, gen)
    props.append(finite)
    if finite.status == "FAIL":
        return skip_rest("finite", "the loss is not finite")
    phase[0] = "checking the loss's gradient"
    grad = check_grad(sub, pred, target, w)
    props.append(grad)
    phase[0] = "running gradcheck"
    props.append(
        Property("gradcheck", "SKIP", "no usable gradient")
        if grad.status == "FAIL"
        else check_gradcheck(sub, gen)
    )
    phase[0] = "checking the loss is smallest at ŷ = y"
    props.append(check_minimal(sub, gen))
    return None


def preflight(
    cfg: LossConfig,
    base_dir: str | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    stop: Callable[[], bool] | None = None,
    task: str = "regression",
) -> list[str]:
    """Check every user loss in ``cfg`` before training; return warnings (when forced).

    A single ``custom`` loss is checked with its ``loss.params``; a combined loss has each
    ``custom`` term checked with its own params. A failed check raises ``ConfigError`` with one
    line naming the term, the failed property and its numbers, unless ``loss.force`` is true
    and the failure still lets training run (a loss that does not run, returns no scalar or has no
    gradient at all is refused even when forced: ``backward()`` would fail). A loss that takes
    longer than ``timeout`` seconds is refused (forced or not). When ``stop()`` turns true (the
    first Ctrl-C) the check is abandoned and the warnings so far are returned: the run then
    ends at once.
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
    for key, spec, params in subjects:
        before = set(stray_threads())
        try:
            report = check_loss(
                spec, params, base_dir=base_dir, timeout=timeout, stop=stop, task=task
            )
        except Stopped:
            return warnings
        left = [name for name in stray_threads() if name not in before]
        if left:
            warnings.append(
                f"{key}: the loss started thread(s) still running ({', '.join(left)})"
                ": the process cannot exit until they end"
            )
        _judge(cfg, key, report, warnings)
    return warnings


def _judge(cfg: LossConfig, key: str, report: CheckReport, warnings: list[str]) -> None:
    """Raise ``ConfigError`` for a failed check, or add a warning when ``loss.force`` allows."""
    if report.load_error is not None:
        raise ConfigError(f"{key}: {report.load_error}", key=key, reason=report.load_error)
    if report.ok:
        return
    if cfg.force and not report.fatal:
        warnings.append(f"{key}: {report.summary}; training anyway because loss.force is true")
    elif cfg.force:
        raise ConfigError(
            f"{key}: {report.summary} — training cannot run with this loss, even with loss.force",
            key=key,
            reason=report.summary,
        )
    else:
        raise ConfigError(
            f"{key}: {report.summary} — not trained (fix it, or loss.force: true)",
            key=key,
            reason=report.summary,
        )
