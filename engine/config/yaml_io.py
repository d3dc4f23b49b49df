"""A bounded, safe YAML reader for presets (and any other YAML a user hands us).

``yaml.safe_load`` is safe against code execution but not against cost: a 313-byte preset of
nested aliases (``&a [...]``, ``[*a, *a, ...]``) expands to gigabytes, a ``[`` repeated 500
times ends in a ``RecursionError``, duplicate keys are silently merged (last wins), and the pure
Python parser needs ~8 s per MB. So this module:

- reads at most :data:`MAX_PRESET_BYTES` from a regular file (a symlink to ``/dev/zero`` or a
  FIFO is refused before it is read);
- parses with libyaml's ``CSafeLoader`` when PyYAML was built with it (``SafeLoader`` otherwise;
  both construct only plain data, never Python objects);
- composes the node tree first and checks it before anything is constructed or validated:
  no aliases (``*name``), at most :data:`MAX_DEPTH` levels of nesting, no key twice in a
  mapping. Each refusal is one :class:`~engine.config.ConfigError` line naming the source and
  line.

No torch import (presets load before torch does).
"""

from __future__ import annotations

import reprlib
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from engine.core.errors import ConfigError

MAX_PRESET_BYTES = 1 << 20
"""Largest preset file read (1 MiB). Bundled presets are under 2 KB."""
MAX_DEPTH = 10
"""Deepest nesting accepted. The schema uses 5 levels (top → loss → terms → term → params);
the rest leaves room for a custom loss's own keyword arguments."""
QUOTE_CHARS = 80
"""How much of a user's value a message quotes."""

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"

_short = reprlib.Repr()
_short.maxstring = _short.maxother = QUOTE_CHARS
_short.maxlist = _short.maxtuple = _short.maxset = _short.maxdict = 6
_short.maxlevel = 3


def short_repr(value: Any, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` cut to about ``limit`` characters, in time bounded by that limit too."""
    text = _short.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` as one printable line of at most ``limit`` characters (for listings)."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text[: 4 * limit]).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


SYNTAX_ERROR = "YAML syntax error"
"""How the ``reason`` of a parse failure starts (``--set`` reads such a value as plain text)."""


def _error(
    where: str, message: str, line: int | None = None, column: int | None = None
) -> Exception:
    """``ConfigError("where[:line[:column]]: message")``; ``reason`` is ``message``."""
    at = "".join([where] + [f":{n}" for n in (line, column) if n is not None])
    return ConfigError(f"{at}: {message}", reason=message, where=where, line=line)


def is_syntax_error(exc: Exception) -> bool:
    """Whether a :func:`load_yaml` refusal is plain bad syntax (not an alias, depth, duplicate)."""
    return str(getattr(exc, "reason", None) or "").startswith(SYNTAX_ERROR)


def read_capped(path: Path, limit: int = MAX_PRESET_BYTES, what: str = "preset") -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes, else a ConfigError.

    The file type is checked before it is opened: opening a FIFO blocks, and reading
    ``/dev/zero`` never ends.
    """
    where = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise _error(where, f"{what} file not found") from None
    except (OSError, ValueError) as exc:
        raise _error(
            where, f"cannot read {what}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise _error(where, f"is a folder, not a {what} file")
    if not stat.S_ISREG(info.st_mode):
        raise _error(where, f"not a regular file (a {what} must be a YAML file)")
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise _error(where, f"cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise _error(where, f"{what} file is larger than {limit // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _error(where, f"cannot read {what}: not UTF-8 text (byte {exc.start + 1})") from None


def _check_tree(root: yaml.Node, source: str, lines: bool) -> None:
    """Refuse aliases, nesting deeper than MAX_DEPTH and duplicate keys (iterative walk)."""

    def line(node: yaml.Node) -> int | None:
        return node.start_mark.line + 1 if lines else None

    seen: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:  # the composer hands back the anchored node for each alias
            raise _error(
                source, "YAML aliases (*name) are not allowed; write the value out", line(node)
            )
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            continue
        if depth > MAX_DEPTH:
            raise _error(source, f"nested deeper than {MAX_DEPTH} levels", line(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in reversed(node.value))
            continue
        keys: set[tuple[str, str]] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG:
                if (key.tag, key.value) in keys:
                    raise _error(
                        source, f"duplicate key {short_repr(key.value)} in one mapping", line(key)
                    )
                keys.add((key.tag, key.value))
            stack.extend(((value, depth + 1), (key, depth + 1)))


def _parsed(step: Callable[[], Any], source: str, lines: bool) -> Any:
    """Run one PyYAML step; whatever it raises becomes one ConfigError line naming ``source``."""
    try:
        return step()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["invalid"])[0]
        problem = f"{SYNTAX_ERROR}: {one_line(str(problem), 2 * QUOTE_CHARS)}"
        if mark is None or not lines:
            raise _error(source, problem) from None
        raise _error(source, problem, mark.line + 1, mark.column + 1) from None
    except RecursionError:  # the pure-Python composer on deep input, before our depth check
        raise _error(source, f"nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date 2001-13-01
        raise _error(source, f"cannot read a value: {short_repr(str(exc))}") from None


def load_yaml(text: str, source: str, *, lines: bool = True) -> Any:
    """Parse one YAML document into plain data after the checks above.

    ``source`` names the text in messages (``file:line: ...``; ``lines=False`` leaves the line
    out, for a one-line ``--set`` value or form field). Every refusal is a ConfigError whose
    ``reason`` is the message without the source.
    """
    loader = _Loader(text)
    try:
        node = _parsed(loader.get_single_node, source, lines)
        if node is None:
            return None
        _check_tree(node, source, lines)
        return _parsed(lambda: loader.construct_document(node), source, lines)
    finally:
        loader.dispose()


def read_yaml_file(path: Path, limit: int = MAX_PRESET_BYTES) -> Any:
    """``load_yaml`` of a file read through :func:`read_capped`."""
    return load_yaml(read_capped(path, limit), str(path))


LOADER_NAME: str = _Loader.__name__
"""``CSafeLoader`` where PyYAML has libyaml, else ``SafeLoader``."""
