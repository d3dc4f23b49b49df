"""Load a user-written loss named by a spec: ``"path/to/file.py:obj"`` or ``"package.module:obj"``.

This is the only place linreg-tui runs user code, and it runs only when a preset
(``loss.name: custom`` with ``loss.callable``, or a ``custom`` term of a combined loss) or the
``check-loss`` command names it.

What ``obj`` may be:

- an ``nn.Module`` *class*: instantiated as ``obj(**params)``; its ``forward`` is the loss;
- an ``nn.Module`` *instance* (e.g. ``loss = nn.HuberLoss(delta=2.0)`` at module level);
  ``params`` must then be empty;
- a *function*: ``params`` are bound as keyword arguments (``functools.partial``).

The loss takes ``(pred, target)`` and returns a scalar tensor, or ``(pred, target, weights)`` to
penalise the model's weights itself: ``pred`` and ``target`` have shape ``(n,)`` and ``weights``
is the model's weight tensor of shape ``(1, n_features)`` (the bias is never passed). A third
positional parameter counts as ``weights`` when it has no default, or when it is named
``weights``, ``weight`` or ``w``.

Every bad spec raises :class:`~engine.losses.user_spec.UserLossError` (a
:class:`~engine.config.ConfigError`) with one line naming the spec and what is wrong: missing
file, file that fails to import (with the line), missing attribute (with the closest name), not
callable, wrong signature, unknown or missing parameters. Loading runs under a time limit
(:mod:`engine.losses.user_code`), and a loss that calls ``sys.exit`` or raises
``KeyboardInterrupt`` while it loads is such a bad spec too. Finding and importing the object a
spec names is :mod:`engine.losses.user_spec`; this module checks its signature and wraps it.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from engine.losses.user_code import DEFAULT_TIMEOUT_S, TimedOut, guarded, run_limited
from engine.losses.user_spec import UserLossError, resolve_object, what_happened

WEIGHT_NAMES = ("weights", "weight", "w")
"""Names under which an optional third positional parameter is taken to be the weights."""


@dataclass
class UserLoss:
    """A loaded user loss, ready for :class:`engine.losses.functions.Objective`.

    ``fn(pred, target)`` or, when ``takes_weights``, ``fn(pred, target, weights)`` returns the
    loss; ``formula`` is the first line of the object's docstring (with its parameters) or a
    ``custom module:obj`` label.
    """

    fn: Callable[..., Tensor]
    formula: str
    takes_weights: bool


# ---------------------------------------------------------------------------------------------
# Signatures


def _signature(fn: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have none: trust them
        return None


def _check_kwargs(
    sig: inspect.Signature | None, params: dict[str, Any], what: str, spec: str, skip: int = 0
) -> None:
    """Every key of ``params`` must be a parameter of ``sig`` (or ``sig`` takes ``**kwargs``).

    The first ``skip`` positional parameters (a function's ``pred, target``) are not offered.
    """
    if sig is None or not params:
        return
    ps = list(sig.parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in ps):
        return
    names = [p.name for p in ps if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    names = [n for n in names[skip:] if n not in WEIGHT_NAMES]
    for key in params:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
            hint = (
                f" (did you mean {close[0]!r}?)"
                if close
                else f"; it accepts: {', '.join(names)}"
                if names
                else "; it accepts none"
            )
            raise UserLossError(f"loss spec {spec!r}: unknown parameter {key!r} for {what}{hint}")


def loss_arity(sig: inspect.Signature | None, bound: dict[str, Any], what: str, spec: str) -> bool:
    """Check a loss signature takes 2 or 3 positional tensors; return ``takes_weights``.

    Parameters named in ``bound`` (from ``loss.params``) are not counted.
    """
    if sig is None:
        return False
    pos, required_kw = [], []
    var_pos = False
    for p in sig.parameters.values():
        if p.name in bound:
            continue
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            pos.append(p)
        elif p.kind is p.VAR_POSITIONAL:
            var_pos = True
        elif p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            required_kw.append(p.name)
    required = [p for p in pos if p.default is p.empty]
    shown = f"{what}{sig}"
    if required_kw:
        raise UserLossError(
            f"loss spec {spec!r}: {shown} needs keyword argument(s) "
            f"{', '.join(required_kw)}: give them in loss.params / --params"
        )
    if len(required) > 3:
        extra = ", ".join(p.name for p in required[3:])
        raise UserLossError(
            f"loss spec {spec!r}: {shown} has {len(required)} required "
            f"arguments; a loss takes (pred, target) or (pred, target, weights) "
            f"— give {extra} in loss.params / --params or a default"
        )
    if len(required) == 3:
        return True
    if len(pos) < 2 and not var_pos:
        raise UserLossError(
            f"loss spec {spec!r}: {shown} takes {len(pos)} positional "
            "argument(s); a loss takes (pred, target) or (pred, target, weights)"
        )
    return len(pos) >= 3 and pos[2].name in WEIGHT_NAMES


# ---------------------------------------------------------------------------------------------
# Building the callable


def _first_doc_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    for line in doc.splitlines():
        if line.strip():
            return line.strip()
    return ""


class _ModuleLoss:
    """Call an ``nn.Module`` loss, moving it to the predictions' device when it has state."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.has_state = any(True for _ in itertools.chain(module.parameters(), module.buffers()))
        self.device: Any = None

    def __call__(self, *args: Tensor) -> Tensor:
        if self.has_state and args[0].device != self.device:
            self.module.to(args[0].device)
            self.device = args[0].device
        out: Tensor = self.module(*args)  # torch types Module.__call__ as returning Any
        return out


CALLABLE_KEY = "loss.callable"
"""The config key that names a custom loss: where its load errors belong (a form shows them
at that field, not at the loss choice)."""


def load_user_loss(
    spec: str,
    kwargs: dict[str, Any] | None = None,
    base_dir: str | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    stop: Callable[[], bool] | None = None,
    key: str | None = CALLABLE_KEY,
) -> UserLoss:
    """Load the loss ``spec`` names, with keyword parameters ``kwargs``.

    A relative file path resolves from ``base_dir`` (the preset's folder; the cwd when None).
    Raises :class:`UserLossError` with one line for every bad spec, and when importing and
    building it takes longer than ``timeout`` seconds (:func:`engine.losses.user_code.run_limited`;
    :class:`~engine.losses.user_code.Stopped` when ``stop()`` turns true meanwhile). The error's
    ``key`` is ``key``: the config key the spec came from (``loss.callable``, or a combined
    loss's ``loss.terms[i]``; ``check-loss`` shows only the text).
    """

    def load() -> UserLoss:
        obj, label = resolve_object(spec, base_dir)
        return wrap_loss(obj, kwargs, spec=spec, label=label)

    try:
        return run_limited(load, timeout, stop)
    except TimedOut as exc:
        raise UserLossError(
            f"loss spec {spec!r}: loading it {exc} (an endless loop at import?)", key=key
        ) from None
    except UserLossError as exc:
        if exc.key is None:
            exc.key = key
        raise


def _format_params(params: dict[str, Any]) -> str:
    def one(v: Any) -> str:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return f"{v:g}"
        return repr(v)

    return ", ".join(f"{k}={one(v)}" for k, v in params.items())


def wrap_loss(
    obj: Any, kwargs: dict[str, Any] | None = None, *, spec: str = "", label: str = ""
) -> UserLoss:
    """Turn an ``nn.Module`` class or instance, or a function, into a :class:`UserLoss`.

    ``kwargs`` instantiate the class (``obj(**kwargs)``) or are bound to the function
    (``functools.partial``). ``spec``/``label`` only name the loss in messages.
    """
    params = dict(kwargs or {})
    label = label or getattr(obj, "__qualname__", None) or type(obj).__name__
    spec = spec or label
    doc = _first_doc_line(obj)
    fn: Callable[..., Tensor]
    if isinstance(obj, type):
        name = obj.__name__
        if not issubclass(obj, nn.Module):
            raise UserLossError(
                f"loss spec {spec!r}: {name} is a class but not an nn.Module "
                "subclass; write the loss as an nn.Module or a function"
            )
        _check_kwargs(_signature(obj), params, f"{name}()", spec)
        try:
            module = guarded(obj, **params)
        except Exception as exc:  # noqa: BLE001 - user code
            raise UserLossError(
                f"loss spec {spec!r}: {name}({_format_params(params)}) {what_happened(exc)}"
            ) from None
        takes_w = loss_arity(_signature(module.forward), {}, f"{name}.forward", spec)
        fn = _ModuleLoss(module)
    elif isinstance(obj, nn.Module):
        name = type(obj).__name__
        if params:
            raise UserLossError(
                f"loss spec {spec!r}: {label} is an nn.Module instance; it "
                "takes no params (name its class to pass params)"
            )
        takes_w = loss_arity(_signature(obj.forward), {}, f"{name}.forward", spec)
        fn = _ModuleLoss(obj)
    elif callable(obj):
        name = getattr(obj, "__name__", label)
        sig = _signature(obj)
        _check_kwargs(sig, params, f"{name}()", spec, skip=2)
        takes_w = loss_arity(sig, params, name, spec)
        fn = functools.partial(obj, **params) if params else obj
    else:
        raise UserLossError(
            f"loss spec {spec!r}: {label} is not callable (it is of type "
            f"{type(obj).__name__}); name an nn.Module class or a function"
        )
    text = doc or f"custom {label}"
    if params:
        text += f" [{_format_params(params)}]"
    return UserLoss(fn=fn, formula=text, takes_weights=takes_w)
