"""Find, read and write YAML presets.

Bundled presets ship as package data in the ``presets`` package (read-only); the user's own live
in ``$XDG_CONFIG_HOME/linreg-tui`` (or ``~/.config/linreg-tui``). A preset is named by its bundled
or user name, or by a path to a ``.yaml`` file. Only ``yaml.safe_load`` is used. No torch import.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from engine.config import Config, ConfigError, apply_overrides, parse_config

DEFAULT_PRESET = "default"


@dataclass(frozen=True)
class PresetInfo:
    """A preset that can be listed: its name, one-line description, file and whether bundled."""

    name: str
    description: str
    path: Path
    bundled: bool


def bundled_dir() -> Path:
    """Folder of the bundled presets (works for editable and non-editable installs)."""
    return Path(str(resources.files("presets")))


def user_dir() -> Path:
    """The user's preset folder: ``$XDG_CONFIG_HOME/linreg-tui`` or ``~/.config/linreg-tui``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "linreg-tui"


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a preset file; a syntax error is reported with file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: preset file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read preset: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if mark is not None:
            raise ConfigError(f"{path}:{mark.line + 1}:{mark.column + 1}: YAML syntax error: "
                              f"{problem}") from None
        raise ConfigError(f"{path}: YAML syntax error: {problem}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a preset must be a mapping of keys, got "
                          f"{type(raw).__name__}")
    return raw


def _presets_in(folder: Path, bundled: bool) -> list[PresetInfo]:
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            raw = read_yaml(path)
            desc = str(raw.get("description", ""))
        except ConfigError as exc:
            desc = f"(unreadable: {exc})"
        out.append(PresetInfo(path.stem, desc, path, bundled))
    return out


def list_presets() -> list[PresetInfo]:
    """Bundled presets, then the user's (a user preset never shadows a bundled name)."""
    bundled = _presets_in(bundled_dir(), True)
    names = {p.name for p in bundled}
    return bundled + [p for p in _presets_in(user_dir(), False) if p.name not in names]


def resolve_preset(spec: str) -> Path:
    """Turn a preset name or path into a file path; unknown names suggest the closest."""
    looks_like_path = spec.endswith((".yaml", ".yml")) or os.sep in spec or "/" in spec
    if looks_like_path:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ConfigError(f"{spec}: preset file not found")
        return path.resolve()
    for folder in (bundled_dir(), user_dir()):
        path = folder / f"{spec}.yaml"
        if path.is_file():
            return path
    names = [p.name for p in list_presets()]
    close = difflib.get_close_matches(spec, names, n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(f"unknown preset '{spec}'{hint}; available: {', '.join(names)}")


def load_raw(spec: str = DEFAULT_PRESET) -> tuple[dict[str, Any], Path]:
    """The preset's raw mapping and its file."""
    path = resolve_preset(spec)
    return read_yaml(path), path


def load_config(spec: str = DEFAULT_PRESET, overrides: list[str] | None = None) -> Config:
    """Load a preset by name or path, apply ``--set`` overrides and validate."""
    raw, path = load_raw(spec)
    raw.setdefault("name", path.stem)
    raw = apply_overrides(raw, overrides or [])
    where = f"{path} with --set {' '.join(overrides)}" if overrides else str(path)
    return parse_config(raw, where=where, base_dir=str(path.parent))


def is_bundled(path: Path) -> bool:
    """Whether ``path`` is one of the read-only bundled presets."""
    try:
        return path.resolve().parent == bundled_dir().resolve()
    except OSError:
        return False


def _absolute_callable(spec: str | None, base: Path) -> str | None:
    """``file.py:obj`` relative to ``base`` made absolute; module specs are left alone."""
    if spec and ".py:" in spec and not os.path.isabs(spec):
        return str((base / spec).resolve())
    return spec


def save_preset(cfg: Config, name: str, *, overwrite: bool = False) -> Path:
    """Write ``cfg`` as ``<user_dir>/<name>.yaml``; refuse bundled names and silent overwrites.

    A relative ``data.path`` / ``loss.callable`` file is rewritten as absolute, so the saved preset
    still finds its files from the user's folder.
    """
    name = name.strip()
    for ext in (".yaml", ".yml"):  # "mine.yaml" means the preset "mine"
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise ConfigError(f"preset name {name!r}: use letters, digits, '-', '_' or '.'")
    if (bundled_dir() / f"{name}.yaml").is_file():
        raise ConfigError(f"preset name {name!r} is a bundled preset (read-only): choose another")
    path = user_dir() / f"{name}.yaml"
    if path.exists() and not overwrite:
        raise FileExistsError(str(path))
    data = cfg.to_dict()
    data["name"] = name
    base = Path(cfg.base_dir) if cfg.base_dir else None
    if base is not None:
        if data["data"].get("path") and not os.path.isabs(data["data"]["path"]):
            data["data"]["path"] = str((base / data["data"]["path"]).resolve())
        data["loss"]["callable"] = _absolute_callable(data["loss"].get("callable"), base)
        for term in data["loss"].get("terms") or []:
            params = term.get("params") or {}
            if params.get("callable"):
                params["callable"] = _absolute_callable(params["callable"], base)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    tmp.replace(path)
    return path
