"""Find, read and write YAML presets.

Bundled presets ship as package data in the ``presets`` package (read-only); the user's own live
in ``$XDG_CONFIG_HOME/linreg-tui`` (or ``~/.config/linreg-tui``). A preset is named by its bundled
or user name, or by a path to a ``.yaml`` file. Files are read by the bounded safe loader in
:mod:`engine.config.yaml_io`; saving uses ``yaml.safe_dump``. No torch import.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from engine.config import Config, ConfigError, apply_overrides, key_line, parse_config
from engine.config.yaml_io import one_line, read_capped, read_yaml_file, short_repr

DEFAULT_PRESET = "default"
DESCRIPTION_CHARS = 120
"""A listed description is cut to one line of this length (bundled ones are under 110)."""


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
    """Read a preset file through the bounded loader (:mod:`engine.config.yaml_io`).

    A syntax error, alias, duplicate key, over-deep nesting, oversized or non-regular file is one
    :class:`ConfigError` naming the file (and line where there is one).
    """
    raw = read_yaml_file(path)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a preset must be a mapping of keys, got {type(raw).__name__}")
    return raw


def _presets_in(folder: Path, bundled: bool) -> list[PresetInfo]:
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            desc = one_line(str(read_yaml(path).get("description", "")), DESCRIPTION_CHARS)
        except ConfigError as exc:
            desc = one_line(f"(unreadable: {exc})", 2 * DESCRIPTION_CHARS)
        out.append(PresetInfo(path.stem, desc, path, bundled))
    return out


def list_presets() -> list[PresetInfo]:
    """Bundled presets, then the user's (a user preset never shadows a bundled name)."""
    bundled = _presets_in(bundled_dir(), True)
    names = {p.name for p in bundled}
    return bundled + [p for p in _presets_in(user_dir(), False) if p.name not in names]


def resolve_preset(spec: str) -> Path:
    """Turn a preset name or path into a file path; unknown names suggest the closest.

    A name whose ``<name>.yaml`` exists but is not a regular file (a folder, a device) resolves
    to it, so that reading it says what is wrong instead of "unknown preset".
    """
    looks_like_path = spec.endswith((".yaml", ".yml")) or os.sep in spec or "/" in spec
    if looks_like_path:
        path = Path(spec).expanduser()
        if not _exists(path):
            raise ConfigError(f"{spec}: preset file not found")
        return path.resolve()
    for folder in (bundled_dir(), user_dir()):
        path = folder / f"{spec}.yaml"
        if _exists(path):
            return path
    names = [p.name for p in list_presets()]
    close = difflib.get_close_matches(spec, names, n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(f"unknown preset '{one_line(spec)}'{hint}; available: {', '.join(names)}")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long, or with a NUL byte
        return False


def load_raw(spec: str = DEFAULT_PRESET) -> tuple[dict[str, Any], Path]:
    """The preset's raw mapping and its file."""
    path = resolve_preset(spec)
    return read_yaml(path), path


def load_config(spec: str = DEFAULT_PRESET, overrides: list[str] | None = None) -> Config:
    """Load a preset by name or path, apply ``--set`` overrides and validate."""
    raw, path = load_raw(spec)
    raw.setdefault("name", path.stem)
    raw = apply_overrides(raw, overrides or [])
    where = (
        f"{path} with --set {' '.join(one_line(o) for o in overrides)}" if overrides else str(path)
    )
    try:
        return parse_config(raw, where=where, base_dir=str(path.parent))
    except ConfigError as exc:  # point a form or editor at the key's line in the file
        if exc.key and exc.line is None and not overrides:
            exc.line = key_line(read_capped(path), exc.key)
        raise


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


class PresetExistsError(FileExistsError):
    """``save_preset`` without ``overwrite`` found a preset of that name (ask, then overwrite)."""


class PresetSaveError(ConfigError):
    """The preset cannot be written (the folder is a file, no permission, disk full...)."""


def save_preset(cfg: Config, name: str, *, overwrite: bool = False) -> Path:
    """Write ``cfg`` as ``<user_dir>/<name>.yaml``; refuse bundled names and silent overwrites.

    Raises :class:`PresetExistsError` only when a preset file of that name exists (the one case
    where asking "overwrite?" makes sense), :class:`PresetSaveError` when the file cannot be
    written, and :class:`ConfigError` for a bad name. A relative ``data.path`` /
    ``loss.callable`` file is rewritten as absolute, so the saved preset still finds its files
    from the user's folder.
    """
    name = _preset_name(name)
    folder = user_dir()
    path = folder / f"{name}.yaml"
    if _exists(folder) and not folder.is_dir():
        raise PresetSaveError(
            f"cannot save preset: {folder} is a file, not a folder "
            "(move it away or set XDG_CONFIG_HOME)"
        )
    if _exists(path) and not path.is_file():
        raise PresetSaveError(f"cannot save preset: {path} exists and is not a file")
    if path.is_file() and not overwrite:
        raise PresetExistsError(str(path))
    text = yaml.safe_dump(portable_dict(cfg, name), sort_keys=False, allow_unicode=True)
    tmp = path.with_suffix(".yaml.tmp")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise PresetSaveError(f"cannot save preset {path}: {exc.strerror or exc}") from None
    return path


def _preset_name(name: str) -> str:
    """The bare preset name, checked: "mine.yaml" means "mine"; no path parts, not bundled."""
    name = name.strip()
    for ext in (".yaml", ".yml"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise ConfigError(
            f"preset name {short_repr(name)}: use letters, digits, '-', '_' or '.' "
            "(not as the first character)"
        )
    if (bundled_dir() / f"{name}.yaml").is_file():
        raise ConfigError(f"preset name {name!r} is a bundled preset (read-only): choose another")
    return name


def portable_dict(cfg: Config, name: str) -> dict[str, Any]:
    """``cfg`` as preset data named ``name``, relative files made absolute from its folder."""
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
    return data
