"""``check-loss`` for a classification loss: the properties a loss *of logits* must have.

A classification loss (``model.task`` binary or multiclass; a user loss then receives the
logits ``z`` and the labels ``y``) is not a function of a residual: there is no ``ŷ = y`` where
it must be smallest and no residual table. Its checks, on small seeded batches (binary: 8
logits and labels 0/1; multiclass: 8 rows of 3 logits and labels 0..2), are:

- runs / scalar: it runs and returns one real floating-point number;
- finite: finite at random logits and at ``z = 0``; never NaN at logits of ±1e3 (inf allowed);
- differentiable: ``∂L/∂z`` exists, is finite and not 0 everywhere;
- gradcheck: autograd agrees with finite differences in float64;
- margin: the loss falls when every row's logits move towards its true class
  (binary: ``z + s``, ``s = 2y - 1``; multiclass: +1 on the true class's logit).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from engine.losses.check_report import Property
from engine.losses.probes import N_FEATURES, N_ROWS, err_text, fmt, scalar_problem
from engine.losses.subject import Subject

CLASS_PROPERTIES = ("runs", "scalar", "finite", "differentiable", "gradcheck", "margin")
K_PROBE = 3
"""Classes of the multiclass probe batch."""


def class_batch(
    gen: torch.Generator, task: str, dtype: torch.dtype = torch.float32, scale: float = 0.5
) -> tuple[Tensor, Tensor, Tensor]:
    """``(logits, labels, weights)``: both (all) classes present, logits of size ~``scale``."""
    if task == "binary":
        z = scale * torch.randn(N_ROWS, generator=gen, dtype=dtype)
        y = (torch.arange(N_ROWS) % 2).to(dtype)
        w = torch.randn(1, N_FEATURES, generator=gen, dtype=dtype)
    else:
        z = scale * torch.randn(N_ROWS, K_PROBE, generator=gen, dtype=dtype)
        y = (torch.arange(N_ROWS) % K_PROBE).to(dtype)
        w = torch.randn(K_PROBE, N_FEATURES, generator=gen, dtype=dtype)
    return z, y, w


def _value(sub: Subject, z: Tensor, y: Tensor, w: Tensor) -> float:
    with torch.no_grad():
        out = sub.call(z, y, w)
    problem = scalar_problem(out)
    if problem:
        raise ValueError(problem)
    return float(out.reshape(()))


def towards_truth(z: Tensor, y: Tensor, step: float = 1.0) -> Tensor:
    """The logits moved ``step`` towards each row's true class."""
    if z.dim() == 1:
        return z + step * (2 * y - 1)
    return z + step * torch.nn.functional.one_hot(y.long(), z.shape[1]).to(z.dtype)


def class_properties(sub: Subject, gen: torch.Generator, task: str, props: list[Property]) -> None:
    """Append each property's result (SKIP the rest after a failure that ends the check)."""

    def skip_rest(after: str, why: str) -> None:
        props.extend(
            Property(name, "SKIP", why)
            for name in CLASS_PROPERTIES[CLASS_PROPERTIES.index(after) + 1 :]
        )

    z, y, w = class_batch(gen, task)
    shape = "logits" if task == "binary" else f"rows of {K_PROBE} logits"
    try:
        with torch.no_grad():
            out = sub.call(z, y, w)
    except Exception as exc:  # noqa: BLE001 - user code
        props.append(
            Property("runs", "FAIL", f"on {N_ROWS} {shape} (float32): {err_text(exc)}", fatal=True)
        )
        return skip_rest("runs", "the loss did not run")
    props.append(Property("runs", "PASS", f"called on {N_ROWS} {shape} and labels (float32)"))
    problem = scalar_problem(out)
    if problem:
        props.append(Property("scalar", "FAIL", problem, fatal=True))
        return skip_rest("scalar", "not a scalar")
    props.append(Property("scalar", "PASS", f"{out.dtype} tensor of shape {tuple(out.shape)}"))
    finite = _finite(sub, z, y, w)
    props.append(finite)
    if finite.status == "FAIL":
        return skip_rest("finite", "the loss is not finite")
    grad = _differentiable(sub, z, y, w)
    props.append(grad)
    if grad.status == "FAIL":
        return skip_rest("differentiable", "no usable gradient")
    props.append(_gradcheck(sub, gen, task))
    props.append(_margin(sub, z, y, w))
    return None


def _finite(sub: Subject, z: Tensor, y: Tensor, w: Tensor) -> Property:
    cases = [("random logits", z), ("z = 0", torch.zeros_like(z))]
    large = [(f"logits of ±{a:g}", a * torch.sign(z)) for a in (1e3,)]
    values = []
    for what, logits in cases + large:
        try:
            v = _value(sub, logits, y, w)
        except Exception as exc:  # noqa: BLE001 - user code
            return Property("finite", "FAIL", f"{err_text(exc)} on {what}")
        if math.isnan(v) or (not math.isfinite(v) and (what, logits) in cases):
            return Property("finite", "FAIL", f"returned {v} on {what}")
        values.append(v)
    return Property(
        "finite",
        "PASS",
        "L = "
        + ", ".join(f"{fmt(v)} ({what})" for v, (what, _) in zip(values, cases))
        + "; not NaN at ±1e3",
    )


def _differentiable(sub: Subject, z: Tensor, y: Tensor, w: Tensor) -> Property:
    p = z.clone().requires_grad_(True)
    try:
        out = sub.call(p, y, w)
        if not isinstance(out, Tensor) or out.grad_fn is None:
            return Property(
                "differentiable",
                "FAIL",
                "gradient does not reach the logits: the output has no grad_fn",
                fatal=True,
            )
        (g,) = torch.autograd.grad(out.reshape(()), [p], allow_unused=True)
    except Exception as exc:  # noqa: BLE001 - user code
        return Property("differentiable", "FAIL", err_text(exc))
    if g is None or not bool(torch.isfinite(g).all()) or float(g.abs().max()) == 0.0:
        return Property(
            "differentiable", "FAIL", "∂L/∂z is missing, not finite or 0 for every logit"
        )
    return Property(
        "differentiable",
        "PASS",
        f"|∂L/∂z| max {fmt(float(g.abs().max()))} over {g.numel()} logits, finite",
    )


def _gradcheck(sub: Subject, gen: torch.Generator, task: str) -> Property:
    z, y, w = class_batch(gen, task, torch.float64, scale=2.0)
    try:
        ok = torch.autograd.gradcheck(
            lambda p: sub.call(p, y, w),
            (z.requires_grad_(True),),
            eps=1e-6,
            atol=1e-5,
            raise_exception=False,
        )
    except Exception as exc:  # noqa: BLE001 - user code
        return Property("gradcheck", "FAIL", f"in float64: {err_text(exc)}")
    if not ok:
        return Property(
            "gradcheck", "FAIL", "autograd's ∂L/∂z differs from finite differences (float64)"
        )
    return Property("gradcheck", "PASS", "autograd matches finite differences (float64)")


def _margin(sub: Subject, z: Tensor, y: Tensor, w: Tensor) -> Property:
    try:
        before, after = _value(sub, z, y, w), _value(sub, towards_truth(z, y), y, w)
    except Exception as exc:  # noqa: BLE001 - user code
        return Property("margin", "FAIL", err_text(exc))
    if not after < before:
        return Property(
            "margin",
            "FAIL",
            f"the loss does not fall when the logits move "
            f"towards the true classes ({fmt(before)} → {fmt(after)}): are the "
            "labels or the sign swapped?",
        )
    return Property(
        "margin",
        "PASS",
        f"falls when the logits move towards the true classes ({fmt(before)} → {fmt(after)})",
    )
