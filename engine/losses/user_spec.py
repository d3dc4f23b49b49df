"""Resolving a user loss spec: from ``"path/to/file.py:obj"`` or ``"package.module:obj"`` to
the object it names, importing the user's file or module on the way.

Split out of :mod:`engine.losses.user_loss` (which turns that object into a loss) because finding
and importing user code is its own concern: fresh module names so an edited file reloads, the
line a failing import broke at, and the closest name when the attribute is missing. It also
holds :class:`UserLossError`, the one error every bad spec raises, so both modules share it.
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
from pathlib import Path
from typing import Any

from torch import nn

from engine.config import ConfigError
from engine.config.yaml_io import QUOTE_CHARS, one_line
from engine.losses.user_code import UserCodeExit, guarded

_counter = itertools.count()
_loaded: dict[str, str] = {}
"""Resolved file path -> module name of its latest load (the previous one is dropped)."""


class UserLossError(ConfigError):
    """A user loss spec that cannot be loaded or called: one line naming the spec and the fault."""


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
            f"loss spec {spec!r}: importing {path}{where} {what_happened(exc)}"
        ) from None
    return module


def what_happened(exc: Exception) -> str:
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
        raise UserLossError(f"loss spec {spec!r}: importing {where} {what_happened(exc)}") from None
    except Exception as exc:  # noqa: BLE001
        raise UserLossError(f"loss spec {spec!r}: importing {where} {what_happened(exc)}") from None


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
