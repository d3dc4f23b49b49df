"""The loss and optimizer registries: each built-in declared once, torch-free at import.

A :class:`LossSpec` says everything the rest of the program needs to know about a loss: its
name, formula template (README, ``check-loss``, help screen, dashboard), parameters with their
defaults and valid ranges, whether it is smooth, how its exact or reference optimum is found,
and where its torch function lives (``"module:attr"``, imported only when a run starts). Config
choices, combined-loss term parameters, formulas, ``check-loss``'s parameter checks, the optimum
dispatch and the dashboard's form all read from :data:`LOSSES`.

Adding a built-in loss with one parameter is one :class:`LossSpec` entry here (plus the torch
function and a README row). Adding an optimizer is one :class:`OptimizerSpec` entry.
"""

from __future__ import annotations

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
        return (("gt" not in b or value > b["gt"]) and ("min" not in b or value >= b["min"])
                and ("lt" not in b or value < b["lt"]) and ("max" not in b or value <= b["max"]))

    def range_phrase(self) -> str:
        """What a valid value is, to follow "must be": ``> 0`` or ``in (0, 1)``."""
        if len(self.bounds) == 1:
            (name, bound), = self.bounds.items()
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
    torch function ``fn(pred, target, **params)``.
    """

    name: str
    summary: str
    formula: str
    params: tuple[ParamSpec, ...]
    smooth: bool
    optimum: str
    fn: str

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


_DELTA_DOC = "Threshold δ between the quadratic and linear parts. Default 1.0; > 0."
_QUANTILE_DOC = "Quantile q of the pinball loss. Default 0.5; in (0, 1)."

_BUILTIN_LOSSES = (
    LossSpec("mse", "mean squared error; the classic least-squares fit", "mean((y-ŷ)²)",
             (), True, "least_squares", "engine.losses.functions:mse"),
    LossSpec("mae", "mean absolute error; robust to outliers, fits the median", "mean(|y-ŷ|)",
             (), False, "quantile_irls", "engine.losses.functions:mae"),
    LossSpec("huber", "quadratic near zero, linear beyond δ",
             "mean(½r² if |r|≤δ else δ(|r|-½δ)), r=y-ŷ, δ={delta:g}",
             (ParamSpec("delta", 1.0, _DELTA_DOC, "δ", {"gt": 0.0}),),
             True, "reference", "engine.losses.functions:huber"),
    LossSpec("smooth_l1", "huber divided by δ (PyTorch's SmoothL1Loss)",
             "mean(½r²/δ if |r|<δ else |r|-½δ), r=y-ŷ, δ={delta:g}",
             (ParamSpec("delta", 1.0, _DELTA_DOC, "δ", {"gt": 0.0}),),
             True, "reference", "engine.losses.functions:smooth_l1"),
    LossSpec("log_cosh", "≈ ½r² for small r, |r| - log 2 for large", "mean(log(cosh(y-ŷ)))",
             (), True, "reference", "engine.losses.functions:log_cosh"),
    LossSpec("quantile", "pinball loss; its minimiser is the q-quantile",
             "mean(max(q·r, (q-1)·r)), r=y-ŷ, q={quantile:g}",
             (ParamSpec("quantile", 0.5, _QUANTILE_DOC, "q", {"gt": 0.0, "lt": 1.0},
                        aliases=("q",)),),
             False, "quantile_irls", "engine.losses.functions:quantile"),
)

LOSSES: dict[str, LossSpec] = {spec.name: spec for spec in _BUILTIN_LOSSES}
"""Every known data loss by name: the built-ins, then any registered with :func:`register_loss`."""

_BUILTIN_NAMES = tuple(LOSSES)


def register_loss(spec: LossSpec) -> None:
    """Add a loss to :data:`LOSSES` (it becomes a ``loss.name`` choice and a term name)."""
    if spec.name in LOSSES or spec.name in ("custom", "combined"):
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


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer: name, torch class (``"torch.optim.SGD"``) and which ``optim.*`` keys apply.

    ``hyperparams`` are the ``OptimConfig`` fields passed to the torch class as keyword
    arguments besides the parameter groups (``lr`` always; ``momentum`` only for sgd). Weight
    decay is set per parameter group so the bias is never decayed.
    """

    name: str
    torch_class: str
    hyperparams: tuple[str, ...]
    doc: str


OPTIMIZERS: dict[str, OptimizerSpec] = {spec.name: spec for spec in (
    OptimizerSpec("sgd", "torch.optim.SGD", ("lr", "momentum"),
                  "stochastic gradient descent, optionally with momentum"),
    OptimizerSpec("adam", "torch.optim.Adam", ("lr",),
                  "Adam; weight_decay adds weight_decay·w to the gradient"),
    OptimizerSpec("adamw", "torch.optim.AdamW", ("lr",),
                  "Adam with decoupled weight decay"),
)}
"""Every optimizer by name; ``optim.name`` must be one of these."""


def optimizer_names() -> tuple[str, ...]:
    """The optimizers in declaration order."""
    return tuple(OPTIMIZERS)
