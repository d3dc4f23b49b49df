"""Sweeps over ``loss.l1`` / ``loss.l2`` alone on MSE: each trial solved exactly, no training.

Why: with MSE as the data loss the penalised minimiser at every (l1, l2) is known without
gradient descent (:mod:`engine.lab.path`): ridge in closed form, lasso and elastic net by
coordinate descent. A trial then costs a d×d solve instead of hundreds of epochs, and its value
is the objective at the true optimum rather than wherever early stopping left the weights.

On the prepared training split (``Xc``, ``yc`` centred when the model has a bias, which is not
penalised), with ``A = XcᵀXc/n`` and ``c = Xcᵀyc/n``, the trial minimises::

    mean((y - Xw - b)²) + l1·Σ|w| + l2·Σw²

- ``l1 = 0``: ``(A + l2·I)·w = c`` (closed-form ridge, one solve);
- otherwise: coordinate descent on ``wᵀAw - 2cᵀw + l1·Σ|w| + l2·Σw²``
  (:func:`engine.lab.coordinate.enet_fit`);

and ``b = ȳ - x̄·w``. Its value is the same objective on the metric's split (``val_loss``: the
validation split, ``train_loss``: the training split), in the units training reports. A trained
run's ``val_loss`` is its best epoch's, which early stopping can leave slightly off this value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from engine.config import Config, parse_config
from engine.sweep.trial import StopSwitch, TrialContext, TrialResult

EXACT_KEYS = frozenset({"loss.l1", "loss.l2"})


def exact_applies(ctx: TrialContext, base: Config) -> bool:
    """Whether every trial of the sweep has an exact answer: only ``loss.l1``/``loss.l2``
    searched, a plain MSE loss on a regression, a loss metric (``val_loss`` needs a
    validation split: checked by the caller's data)."""
    keys = {p.key for p in ctx.spec.params}
    return (
        bool(keys)
        and keys <= EXACT_KEYS
        and base.loss.name == "mse"
        and not base.loss.terms
        and base.model.task == "regression"
        and ctx.spec.metric in ("val_loss", "train_loss")
    )


class ExactSolver:
    """The data's moments, computed once; :meth:`value` of any (l1, l2)."""

    def __init__(self, dataset: Any, bias: bool) -> None:
        from engine.lab.path import centre

        xc, yc, self.mx, self.my = centre(dataset.train.x, dataset.train.y, bias)
        n = xc.shape[0]
        self.a, self.c = xc.T @ xc / n, xc.T @ yc / n
        self.bias = bias
        self.splits = {"train_loss": dataset.train, "val_loss": dataset.val}

    def solve(self, l1: float, l2: float) -> tuple[Any, float, bool]:
        """``(w, b, converged)`` minimising the trial's objective."""
        import torch

        from engine.lab.coordinate import enet_fit

        if l1 == 0:
            eye = torch.eye(self.a.shape[0], dtype=torch.float64)
            w, ok = torch.linalg.solve(self.a + l2 * eye, self.c), True
        else:
            w, _, ok = enet_fit(self.a, self.c, l1, l2)
        b = float(self.my - self.mx @ w) if self.bias else 0.0
        return w, b, ok

    def value(self, l1: float, l2: float, metric: str) -> tuple[float | None, bool]:
        """The objective at the optimum on the metric's split (None: the split is empty)."""
        split = self.splits[metric]
        if len(split) == 0:
            return None, True
        w, b, ok = self.solve(l1, l2)
        r = split.y.double().reshape(-1) - (split.x.double() @ w + b)
        obj = float((r * r).mean()) + l1 * float(w.abs().sum()) + l2 * float((w * w).sum())
        return obj, ok


def exact_result(
    solver: ExactSolver, number: int, params: dict[str, Any], base: Config, metric: str
) -> TrialResult:
    """One trial's result from the exact solve."""
    l1 = float(params.get("loss.l1", base.loss.l1))
    l2 = float(params.get("loss.l2", base.loss.l2))
    value, ok = solver.value(l1, l2, metric)
    out = TrialResult(number, params, "failed", message="solved exactly (no training)")
    if value is None or not math.isfinite(value):
        out.error = f"{metric} is not available (no such split)"
    else:
        out.state, out.value = "complete", value
        if not ok:
            out.message = "solved by coordinate descent (stopped at its sweep limit)"
    return out


def work_exact(
    job: Any, on_trial: Callable[[TrialResult], None], switch: StopSwitch, storage: Any, batch: int
) -> int:
    """Take trials ``batch`` at a time and solve each exactly; return how many ran."""
    from engine.data.dataset import load_dataset
    from engine.sweep.batch_store import BatchStudy
    from engine.sweep.batch_work import batch_size
    from engine.sweep.study import open_study

    ctx = job.ctx
    asker = BatchStudy(open_study(storage, ctx.study_name, ctx.spec), ctx.spec, ctx.runs_root)
    base = parse_config(ctx.base, where="sweep", base_dir=ctx.base_dir)
    dataset = load_dataset(base, stop=lambda: switch.stopping)
    solver = ExactSolver(dataset, base.model.bias)
    k = batch_size(ctx.spec, batch, len(dataset.train))
    ran = 0
    while not switch.stopping:
        trials = asker.ask(k)
        if not trials:
            break
        results = []
        for t in trials:
            results.append(exact_result(solver, t.number, t.params, base, ctx.spec.metric))
            t.set_user_attr("solver", "exact")
        asker.tell(trials, results)  # the batch's record: one transaction
        for r in results:
            ran += 1
            on_trial(r)
    return ran
