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

Every bad spec raises :class:`UserLossError` (a :class:`~engine.config.ConfigError`) with one
line naming the spec and what is wrong: missing file, file that fails to import (with the line),
missing attribute (with the closest name), not callable, wrong signature, unknown or missing
parameters. Loading runs under a time limit (:mod:`engine.losses.user_code`), and a loss that calls
``sys.exit`` or raises ``KeyboardInterrupt`` while it loads is such a bad spec too.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.util
import inspect
import itertools
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from engine.config import ConfigError
from engine.config.yaml_io import QUOTE_CHARS, one_line
from engine.losses.user_code import DEFAULT_TIMEOUT_S, TimedOut, UserCodeExit, guarded, run_limited

WEIGHT_NAMES = ("weights", "weight", "w")
"""Names under which an optional third positional parameter is taken to be the weights."""

_counter = itertools.count()
_loaded: dict[str, str] = {}
"""Resolved file path -> module name of its latest load (the previous one is dropped)."""


class UserLossError(ConfigError):
    """A user loss spec that cannot be loaded or called: one line naming the spec and the fault."""


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
# Resolving the spec


def split_spec(spec: Any) -> tuple[str, str]:
    """``"where:obj"`` -> ``(where, obj)``; the last ``:`` separates (so ``C:\\x.py:f`` works)."""
    if not isinstance(spec, str) or not spec.strip():
        raise UserLossError(
            f"loss spec {spec!r}: expected 'path/to/file.py:obj' or 'package.module:obj'"
        )
    spec = spec.strip()
    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr:
        raise UserLossError(
            f"loss spec {spec!r}: expected 'path/to/file.py:obj' or "
            "'package.module:obj' (the ':obj' part names the loss)"
        )
    return where, attr


def is_file_spec(where: str) -> bool:
    """Whether the part before ``:`` is a file path (ends in .py or contains a separator)."""
    return where.endswith(".py") or "/" in where or os.sep in where


def resolve_file(where: str, base_dir: str | None) -> Path:
    """A relative path resolves from ``base_dir`` (the preset's folder), else the cwd."""
    path = Path(where).expanduser()
    if not path.is_absolute():
        path = Path(base_dir or os.getcwd()) / path
    return path


def _import_error_line(exc: BaseException, filename: str) -> str:
    """``file:line`` of the deepest frame of ``exc`` inside ``filename`` ('' when none)."""
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f":{exc.lineno}"
    line = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == os.path.abspath(filename):
            line = f":{frame.lineno}"
    return line


def load_module_from_file(path: Path, spec: str) -> Any:
    """Execute a ``.py`` file as a fresh module (a unique name, so edits are picked up)."""
    if not path.is_file():
        hint = " (it is a folder)" if path.is_dir() else ""
        raise UserLossError(f"loss spec {spec!r}: file {path} not found{hint}")
    name = f"linreg_user_loss_{next(_counter)}_{path.stem.replace('-', '_')}"
    mod_spec = importlib.util.spec_from_file_location(name, path)
    if mod_spec is None or mod_spec.loader is None:
        raise UserLossError(f"loss spec {spec!r}: {path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(mod_spec)
    key = str(path.resolve())
    if key in _loaded:  # a reload (the file may have been edited): forget the old module
        sys.modules.pop(_loaded.pop(key), None)
    sys.modules[name] = module  # dataclasses, pickling and typing look the module up by name
    _loaded[key] = name
    try:
        guarded(mod_spec.loader.exec_module, module)
    except Exception as exc:  # noqa: BLE001 - user code: any failure is one clear message
        sys.modules.pop(name, None)
        _loaded.pop(key, None)
        where = _import_error_line(getattr(exc, "original", exc), str(path))
        raise UserLossError(
            f"loss spec {spec!r}: importing {path}{where} {_what_happened(exc)}"
        ) from None
    return module


def _what_happened(exc: Exception) -> str:
    """``raised ValueError: ...`` / ``called sys.exit(0)``, cut to one short line."""
    if isinstance(exc, UserCodeExit):
        return one_line(str(exc), 2 * QUOTE_CHARS)
    msg = exc.msg if isinstance(exc, SyntaxError) else exc
    return one_line(f"raised {type(exc).__name__}: {msg}", 2 * QUOTE_CHARS)


def load_module(where: str, spec: str) -> Any:
    """Import ``package.module`` (user code in it runs, as with any import)."""
    try:
        return guarded(importlib.import_module, where)
    except ModuleNotFoundError as exc:
        if exc.name and where.startswith(exc.name):
            raise UserLossError(
                f"loss spec {spec!r}: no module named {exc.name!r} (for a file "
                "write 'path/to/file.py:obj')"
            ) from None
        raise UserLossError(
            f"loss spec {spec!r}: importing {where} {_what_happened(exc)}"
        ) from None
    except Exception as exc:  # noqa: BLE001
        raise UserLossError(
            f"loss spec {spec!r}: importing {where} {_what_happened(exc)}"
        ) from None


def resolve_object(spec: str, base_dir: str | None = None) -> tuple[Any, str]:
    """The object a spec names and a short label (``file.py:obj`` or ``module:obj``)."""
    where, attr = split_spec(spec)
    if is_file_spec(where):
        path = resolve_file(where, base_dir)
        module = load_module_from_file(path, spec)
        label = f"{path.name}:{attr}"
    else:
        module = load_module(where, spec)
        label = f"{where}:{attr}"
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserLossError(
                f"loss spec {spec!r}: {where} has no attribute {part!r}{_missing_hint(obj, part)}"
            )
        obj = getattr(obj, part)
    return obj, label


def _missing_hint(owner: Any, part: str) -> str:
    """`` (did you mean 'x'?)`` or ``; callables there: a, b`` for a name ``owner`` lacks.

    Only what ``owner`` itself defines is offered (see :func:`defined_callables`): a close name
    among those first, then among every public callable (a package re-exports its losses).
    """
    own = defined_callables(owner)
    public = [n for n in dir(owner) if not n.startswith("_") and callable(getattr(owner, n))]
    close = difflib.get_close_matches(part, own, n=1, cutoff=0.5) or difflib.get_close_matches(
        part, public, n=1, cutoff=0.5
    )
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f"; callables there: {', '.join(own[:8])}" if own else ""


def defined_callables(owner: Any) -> list[str]:
    """The public names in ``owner`` (a module, or a class for ``obj.attr`` specs) that could
    be a loss and that it defines itself, sorted: not what it imported (``Tensor``,
    ``dataclass``, torch's functions...).

    A function or an ``nn.Module`` class counts when its ``__module__`` is the module's (the
    one ``owner`` is, or the one it was defined in); other classes are never a loss. An
    instance built there (``loss = nn.HuberLoss()``, a ``functools.partial``) carries its
    class's module, so an ``nn.Module`` or partial instance always counts.
    """
    home = owner.__name__ if inspect.ismodule(owner) else getattr(owner, "__module__", None)
    names = []
    for name in dir(owner):
        value = getattr(owner, name, None)
        if name.startswith("_") or not callable(value):
            continue
        if inspect.isclass(value) and not issubclass(value, nn.Module):
            continue  # not a loss: wrap_loss refuses it
        if inspect.isclass(value) or inspect.isroutine(value):
            if getattr(value, "__module__", None) == home:
                names.append(name)
        elif isinstance(value, (nn.Module, functools.partial)):
            names.append(name)
    return names


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
                f"loss spec {spec!r}: {name}({_format_params(params)}) {_what_happened(exc)}"
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
