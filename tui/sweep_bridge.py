"""What the sweep screen (:mod:`tui.sweep_screen`) needs beside its widgets: the bridge to the
dashboard's settings form, the search space as one line of YAML flow text, values rounded for
the form, and whether Optuna is there at all.

Kept apart so the screen module stays about the screen; the screen re-exports these names.
"""

from __future__ import annotations

from typing import Any, Protocol

from engine.config.yaml_io import load_yaml
from engine.core.numbers import fmt_number

SPACE_WHERE = "search space"
INSTALL_HINT = "sweeps need Optuna: pip install 'linreg-tui[sweep]'"
SIG_DIGITS = 4
"""Significant digits of a value ``b`` puts into the form (what the table shows)."""


def optuna_missing() -> bool:
    """Whether Optuna cannot be imported (found without importing it: the screen opens
    before Optuna is paid for)."""
    import importlib.util

    try:
        return importlib.util.find_spec("optuna") is None
    except (ImportError, ValueError):  # ValueError: a module set to None, i.e. blocked
        return True


def rounded(value: Any, digits: int = SIG_DIGITS) -> Any:
    """A float to ``digits`` significant digits (``0.8991721038`` → ``0.8992``); other values
    as they are."""
    if isinstance(value, float) and not isinstance(value, bool):
        return float(fmt_number(value, digits))
    return value


class FormBridge(Protocol):
    """What the screen needs from the dashboard's settings form."""

    def current(self) -> tuple[dict[str, Any], str]:
        """The form's settings as a preset mapping and the folder relative paths resolve from
        (raises ``tui.form.FieldError`` naming a bad field)."""

    def preset_sweep(self) -> Any:
        """The form's preset's ``sweep:`` section (None when it has none)."""

    def apply(self, values: dict[str, Any]) -> str:
        """Put dotted config values into the form as edits; say what was done."""


def flow(value: Any) -> str:
    """``value`` as one line of YAML flow syntax (what the field shows and reads back)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, float):
        text = repr(value)
        return text.replace("e", ".0e") if "e" in text and "." not in text else text
    return str(value)


def read_space(text: str) -> Any:
    """The field's text as a spec mapping: a whole spec (it has ``params``) or the searched
    keys alone; ConfigError (one line) for bad YAML."""
    raw = load_yaml(text, SPACE_WHERE, lines=False)
    if isinstance(raw, dict) and "params" not in raw:
        return {"params": raw}
    return raw


class SettingsBridge:
    """:class:`FormBridge` over the dashboard's :class:`tui.widgets.settings.SettingsPanel`:
    reads the form as the start key does, and writes values through the widgets, so each is
    an ordinary edit (checked, marked modified, undone by reset)."""

    def __init__(self, panel: Any) -> None:
        self.panel = panel
        """The dashboard's SettingsPanel (typed loosely: Textual widgets are imported lazily)."""

    def current(self) -> tuple[dict[str, Any], str]:
        form = self.panel.form
        self.panel.build_config()  # FieldError naming the field, marked there too
        raw = form.merged_raw(form.raw_values())
        raw.pop("sweep", None)
        return raw, str(form.base_dir or ".")

    def preset_sweep(self) -> Any:
        from engine.config.presets import load_raw

        return load_raw(self.panel.preset)[0].get("sweep")

    def apply(self, values: dict[str, Any]) -> str:
        from textual.widgets import Checkbox, Select

        from engine.registry import param_key
        from tui.form_fields import fmt_value
        from tui.widgets.settings import field_id

        form, done, missing = self.panel.form, [], []
        for key, value in values.items():
            field = key
            if key.startswith("loss.params."):
                field = param_key("", key.removeprefix("loss.params."))
            try:
                form.field(field)
            except KeyError:
                missing.append(key)
                continue
            widget = self.panel.query_one("#" + field_id(field))
            if isinstance(widget, Checkbox):
                widget.value = bool(value)
            elif isinstance(widget, Select):
                widget.value = value
            else:
                widget.value = fmt_value(value)
            done.append(f"{field.rsplit('.', 1)[-1]}={fmt_number(value)}")
        said = f"set {', '.join(done)} in the form" if done else "nothing to set in the form"
        if missing:
            said += f"; not in the form: {', '.join(missing)}"
        return said
