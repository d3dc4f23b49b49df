"""The optimizer registry: each built-in optimizer declared once, torch-free at import.

An :class:`OptimizerSpec` carries an optimizer's update rule (``"module:attr"``, imported only
when a run starts, through :func:`engine.registry.resolve`), its hyperparameters (the
``optim.*`` keys it reads, hence its form keys), the ``torch.optim`` class it is checked against,
and its update formula. Config choices, the "does this setting apply" rule
(:mod:`engine.config.applies`), the optimizer a run builds (:mod:`engine.training.optimizers`)
and the dashboard's form all read from :data:`OPTIMIZERS`.

It is its own module, beside the loss registry (:mod:`engine.registry`), because the two tables
share nothing: an optimizer never names a loss, nor a loss an optimizer. Adding an optimizer is
one :class:`OptimizerSpec` entry here plus its update rule and a README row;
:func:`register_optimizer` adds one at run time (a test's toy, a plugin).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer: its update rule, the ``optim.*`` keys it reads, and its torch class.

    ``hyperparams`` are the ``OptimConfig`` fields it takes besides the parameter groups
    (``lr`` always; ``momentum`` only for sgd): passed to the torch class as keyword arguments,
    and to the update rule after ``lr``. They are its form keys (``optim.<name>``) and the
    ``optim.*`` settings that apply only where it is chosen. Weight decay is set per parameter
    group so the bias is never decayed; every optimizer takes it.

    ``rule`` is ``"module:attr"`` of its update rule on the flat parameter vector,
    ``rule(theta, n_weights, lr, weight_decay, **hyperparams_but_lr)`` (see
    :mod:`engine.training.update_rules`), or None to step the ``torch.optim`` class instead.
    ``torch_class`` (``"torch.optim.SGD"``) is the reference the rule is tested against.
    ``formula`` is the update written out (README, help).
    """

    name: str
    torch_class: str
    hyperparams: tuple[str, ...]
    doc: str
    rule: str | None = None
    formula: str = ""

    def form_keys(self) -> tuple[str, ...]:
        """The config keys of its hyperparameters: ``optim.lr``, ``optim.momentum``."""
        return tuple(f"optim.{name}" for name in self.hyperparams)


_BUILTIN_OPTIMIZERS = (
    OptimizerSpec(
        "sgd",
        "torch.optim.SGD",
        ("lr", "momentum"),
        "stochastic gradient descent, optionally with momentum",
        "engine.training.update_rules:sgd",
        "g = ∇L + wd·w; b = μ·b + g (b = g at the first step); θ -= lr·b",
    ),
    OptimizerSpec(
        "adam",
        "torch.optim.Adam",
        ("lr",),
        "Adam; weight_decay adds weight_decay·w to the gradient",
        "engine.training.update_rules:adam",
        "g = ∇L + wd·w; m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²; "
        "θ -= lr·m̂/(√v̂ + ε), β = (0.9, 0.999), ε = 1e-8",
    ),
    OptimizerSpec(
        "adamw",
        "torch.optim.AdamW",
        ("lr",),
        "Adam with decoupled weight decay",
        "engine.training.update_rules:adamw",
        "w -= lr·wd·w, then adam's step with g = ∇L",
    ),
)

OPTIMIZERS: dict[str, OptimizerSpec] = {spec.name: spec for spec in _BUILTIN_OPTIMIZERS}
"""Every optimizer by name (the built-ins, then any registered with
:func:`register_optimizer`); ``optim.name`` must be one of these."""

_BUILTIN_OPTIMIZER_NAMES = tuple(OPTIMIZERS)


def register_optimizer(spec: OptimizerSpec) -> None:
    """Add an optimizer to :data:`OPTIMIZERS` (it becomes an ``optim.name`` choice)."""
    if spec.name in OPTIMIZERS:
        raise ValueError(f"an optimizer called {spec.name!r} already exists")
    OPTIMIZERS[spec.name] = spec


def unregister_optimizer(name: str) -> None:
    """Remove an optimizer added with :func:`register_optimizer` (built-ins cannot be removed)."""
    if name in _BUILTIN_OPTIMIZER_NAMES:
        raise ValueError(f"{name!r} is a built-in optimizer")
    OPTIMIZERS.pop(name, None)


def optimizer_names() -> tuple[str, ...]:
    """Every registered optimizer, built-ins first in declaration order."""
    return tuple(OPTIMIZERS)


def builtin_optimizer_names() -> tuple[str, ...]:
    """The built-in optimizers only, in declaration order."""
    return _BUILTIN_OPTIMIZER_NAMES
