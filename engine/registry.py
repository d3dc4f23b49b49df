"""The loss registry: each built-in loss declared once, torch-free at import.

A :class:`LossSpec` says everything the rest of the program needs to know about a loss: its
name, formula template (README, ``check-loss``, help screen, dashboard), parameters with their
defaults and valid ranges, whether it is smooth, how its exact or reference optimum is found,
where its torch function and its closed-form derivative live (``"module:attr"``, imported only
when a run starts, by :func:`resolve`), and so its form keys. Config choices and docs,
combined-loss term parameters, formulas, ``check-loss``'s parameter checks, the optimum
dispatch, the fast path's gradient, the "does this setting apply" rule
(:mod:`engine.config.applies`) and the dashboard's form all read from :data:`LOSSES`.

The optimizers are declared likewise, in :mod:`engine.optimizer_registry`.

Adding a built-in loss is one :class:`LossSpec` entry here plus its torch function (and
derivative) and a README row. :func:`register_loss` adds one at run time (a test's toy, a
plugin).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_SYMBOLS = {"gt": ">", "min": ">=", "lt": "<", "max": "<="}

LOSS_FIELD_PARAMS = ("delta", "quantile")
"""Loss parameters that are fields of ``LossConfig`` (``loss.delta``, ``loss.quantile``)."""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a loss: name, default, documentation, formula symbol and valid range.

    ``bounds`` uses the config field keys ``gt`` / ``min`` / ``lt`` / ``max``. ``aliases`` are
    other names accepted inside a combined loss's term params (``q`` for ``quantile``).
    """

    name: str
    default: float
    doc: str
    symbol: str
    bounds: dict[str, float] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    def in_range(self, value: float) -> bool:
        """Whether ``value`` satisfies every bound."""
        b = self.bounds
        return (
            ("gt" not in b or value > b["gt"])
            and ("min" not in b or value >= b["min"])
            and ("lt" not in b or value < b["lt"])
            and ("max" not in b or value <= b["max"])
        )

    def range_phrase(self) -> str:
        """What a valid value is, to follow "must be": ``> 0`` or ``in (0, 1)``."""
        if len(self.bounds) == 1:
            ((name, bound),) = self.bounds.items()
            return f"{_SYMBOLS[name]} {bound:g}"
        return f"in {self.range_text()}"

    def range_text(self) -> str:
        """The range as an interval, e.g. ``(0, 1)`` or ``(0, inf)``."""
        b = self.bounds
        lo = f"[{b['min']:g}" if "min" in b else f"({b['gt']:g}" if "gt" in b else "(-inf"
        hi = f"{b['max']:g}]" if "max" in b else f"{b['lt']:g})" if "lt" in b else "inf)"
        return f"{lo}, {hi}"


@dataclass(frozen=True)
class LossSpec:
    """A data loss (a mean over samples of a function of the residual ``r = y - ŷ``).

    ``formula`` is a :meth:`str.format` template filled with the params by name (``{delta:g}``).
    ``optimum`` names how the exact/reference optimum is found: ``least_squares`` (closed form),
    ``quantile_irls`` (a pinball-loss quantile regression at a given level), or ``reference``
    (a converged full-batch L-BFGS fit of the loss itself). ``fn`` is ``"module:attr"`` of the
    torch function ``fn(pred, target, **params)``. ``derivative`` is ``"module:attr"`` of its
    closed-form ``φ'`` (see :mod:`engine.losses.derivatives` for the signature), or None: the
    loss then trains through autograd.
    """

    name: str
    summary: str
    formula: str
    params: tuple[ParamSpec, ...]
    smooth: bool
    optimum: str
    fn: str
    derivative: str | None = None
    task: str = "regression"
    """``regression`` (a function of the residual), ``binary`` (logits ``z`` and labels in
    {0, 1}) or ``multiclass`` (``K`` logits per row and labels 0..K-1); ``model.task`` must
    match it (:mod:`engine.config.checks`)."""

    def param(self, name: str) -> ParamSpec | None:
        """The parameter called ``name`` (or one of its aliases), if this loss has it."""
        return next((p for p in self.params if name == p.name or name in p.aliases), None)

    def values(self, *layers: Mapping[str, Any]) -> dict[str, float]:
        """Every parameter's value: its default, overridden by each layer in turn.

        A layer names a parameter by its name or an alias (the name wins within a layer);
        keys that are not parameters of this loss are ignored.
        """
        out = {p.name: p.default for p in self.params}
        for given in layers:
            for p in self.params:
                for n in (*p.aliases, p.name):
                    if n in given:
                        out[p.name] = float(given[n])
        return out

    def render(self, *layers: Mapping[str, Any]) -> str:
        """The formula with the parameter values of :meth:`values` filled in."""
        return self.formula.format(**self.values(*layers))

    def symbolic(self) -> str:
        """The formula with its parameters as symbols, for a table that states the values
        elsewhere (the README): a trailing binding ``, δ={delta:g}`` is dropped and any other
        placeholder becomes its symbol (``{scale:g}·mean(…)`` reads ``s·mean(…)``)."""
        symbols = {p.name: p.symbol for p in self.params}
        text = _BINDING.sub(lambda m: "" if m[2] in symbols else m[0], self.formula)
        return _PLACEHOLDER.sub(lambda m: symbols.get(m[1], m[0]), text)

    def form_keys(self) -> tuple[str, ...]:
        """The config keys of this loss's own parameters (``loss.delta``, ``loss.params.x``):
        the form's rows for it, and the keys that apply only where it is used."""
        return tuple(param_key(self.name, p.name) for p in self.params)


_PLACEHOLDER = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_BINDING = re.compile(r",\s*([^,\s=]+)=\{(\w+)(?::[^}]*)?\}")


_DELTA_DOC = "Threshold δ between the quadratic and linear parts. Default 1.0; > 0."
_QUANTILE_DOC = "Quantile q of the pinball loss. Default 0.5; in (0, 1)."

_BUILTIN_LOSSES = (
    LossSpec(
        "mse",
        "mean squared error; the classic least-squares fit",
        "mean((y-ŷ)²)",
        (),
        True,
        "least_squares",
        "engine.losses.functions:mse",
        "engine.losses.functions:mse_derivative",
    ),
    LossSpec(
        "mae",
        "mean absolute error; robust to outliers, fits the median",
        "mean(|y-ŷ|)",
        (),
        False,
        "quantile_irls",
        "engine.losses.functions:mae",
        "engine.losses.functions:mae_derivative",
    ),
    LossSpec(
        "huber",
        "quadratic near zero, linear beyond δ",
        "mean(½r² if |r|≤δ else δ(|r|-½δ)), r=y-ŷ, δ={delta:g}",
        (ParamSpec("delta", 1.0, _DELTA_DOC, "δ", {"gt": 0.0}),),
        True,
        "reference",
        "engine.losses.functions:huber",
        "engine.losses.functions:huber_derivative",
    ),
    LossSpec(
        "smooth_l1",
        "huber divided by δ (PyTorch's SmoothL1Loss)",
        "mean(½r²/δ if |r|<δ else |r|-½δ), r=y-ŷ, δ={delta:g}",
        (ParamSpec("delta", 1.0, _DELTA_DOC, "δ", {"gt": 0.0}),),
        True,
        "reference",
        "engine.losses.functions:smooth_l1",
        "engine.losses.functions:smooth_l1_derivative",
    ),
    LossSpec(
        "log_cosh",
        "≈ ½r² for small r, |r| - log 2 for large",
        "mean(log(cosh(y-ŷ)))",
        (),
        True,
        "reference",
        "engine.losses.functions:log_cosh",
        "engine.losses.functions:log_cosh_derivative",
    ),
    LossSpec(
        "quantile",
        "pinball loss; its minimiser is the q-quantile",
        "mean(max(q·r, (q-1)·r)), r=y-ŷ, q={quantile:g}",
        (ParamSpec("quantile", 0.5, _QUANTILE_DOC, "q", {"gt": 0.0, "lt": 1.0}, aliases=("q",)),),
        False,
        "quantile_irls",
        "engine.losses.functions:quantile",
        "engine.losses.functions:quantile_derivative",
    ),
)

LOSSES: dict[str, LossSpec] = {spec.name: spec for spec in _BUILTIN_LOSSES}
"""Every known regression loss by name: the built-ins, then any registered with
:func:`register_loss`. The classification losses are in :data:`CLASSIFICATION_LOSSES`: they are
not functions of a residual, so the regression tools that walk this table (loss shape, row
influence, the closed-form fast paths) do not apply to them."""

_CLASSIFICATION = "engine.losses.classification"
_BUILTIN_CLASSIFICATION_LOSSES = (
    LossSpec(
        "log_loss",
        "logistic regression's loss on logits (stable: softplus)",
        "mean(softplus(-s·z)), s=2y-1",
        (),
        True,
        "classification",
        f"{_CLASSIFICATION}:log_loss",
        task="binary",
    ),
    LossSpec(
        "hinge",
        "the linear SVM's loss; zero beyond the margin",
        "mean(max(0, 1-s·z)), s=2y-1",
        (),
        False,
        "classification",
        f"{_CLASSIFICATION}:hinge",
        task="binary",
    ),
    LossSpec(
        "squared_hinge",
        "hinge squared: smooth, LinearSVC's default",
        "mean(max(0, 1-s·z)²), s=2y-1",
        (),
        True,
        "classification",
        f"{_CLASSIFICATION}:squared_hinge",
        task="binary",
    ),
    LossSpec(
        "cross_entropy",
        "softmax regression on K logits per row",
        "mean(-log softmax(z)_y)",
        (),
        True,
        "classification",
        f"{_CLASSIFICATION}:cross_entropy",
        task="multiclass",
    ),
)

CLASSIFICATION_LOSSES: dict[str, LossSpec] = {
    spec.name: spec for spec in _BUILTIN_CLASSIFICATION_LOSSES
}
"""The classification losses by name (``task`` binary or multiclass): ``z`` is the logit
``x·w + b`` (a row of K logits for multiclass), ``y`` the class label and ``s = 2y - 1``."""

TASKS = ("regression", "binary", "multiclass")
"""``model.task`` choices."""


def any_loss(name: str) -> LossSpec | None:
    """The regression or classification loss called ``name``, if there is one."""
    return LOSSES.get(name) or CLASSIFICATION_LOSSES.get(name)


def task_of(name: str) -> str | None:
    """The task a named loss is for (None: custom or combined, which fit any task)."""
    spec = any_loss(name)
    return spec.task if spec is not None else None


_BUILTIN_NAMES = tuple(LOSSES)


def register_loss(spec: LossSpec) -> None:
    """Add a loss to :data:`LOSSES` (it becomes a ``loss.name`` choice and a term name)."""
    if (
        spec.name in LOSSES
        or spec.name in CLASSIFICATION_LOSSES
        or spec.name in ("custom", "combined")
    ):
        raise ValueError(f"a loss called {spec.name!r} already exists")
    LOSSES[spec.name] = spec


def unregister_loss(name: str) -> None:
    """Remove a loss added with :func:`register_loss` (built-ins cannot be removed)."""
    if name in _BUILTIN_NAMES:
        raise ValueError(f"{name!r} is a built-in loss")
    LOSSES.pop(name, None)


def loss_names() -> tuple[str, ...]:
    """Every registered data loss, built-ins first in declaration order."""
    return tuple(LOSSES)


def builtin_loss_names() -> tuple[str, ...]:
    """The built-in data losses only, in declaration order."""
    return _BUILTIN_NAMES


def param_key(loss_name: str, param_name: str) -> str:
    """The dotted config key that sets ``param_name`` of the single loss ``loss_name``.

    Today's ``LossConfig`` fields keep their keys (``loss.delta``, ``loss.quantile``); any other
    parameter of a registered loss is set under ``loss.params.<name>``.
    """
    del loss_name  # the key depends on the parameter only; kept for callers' readability
    return f"loss.{param_name}" if param_name in LOSS_FIELD_PARAMS else f"loss.params.{param_name}"


def resolve(pointer: str) -> Any:
    """The object a ``"module:attr"`` pointer of a registry entry names, importing its module
    now (entries name torch code by pointer so that this module never imports torch)."""
    module, sep, attr = pointer.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"expected 'module:attr', got {pointer!r}")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
