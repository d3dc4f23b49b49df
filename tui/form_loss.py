"""What the settings form's values mean for the loss, worked out from plain data.

:class:`tui.form.SettingsForm` keeps the fields, what each holds and each one's error line. What
its values say about the loss is worked out here, from values alone: the preset's raw mapping
with them written in (:func:`merged_raw`, what a start parses), the loss config a start would
use (:func:`portable_loss`, which the app compares with the running run's), the formula line
(:func:`formula_line`) and what a custom loss's params were read as (:func:`params_hint`). None
of it needs the form's state, so it lives apart from the class that tracks edits and errors.
"""

from __future__ import annotations

import copy
from typing import Any

from engine.config import Config, ConfigError, LossConfig, own_params, parse_loss_section
from engine.config.presets import portable_dict
from engine.losses.formulas import describe
from engine.registry import param_key
from tui.form_fields import Values, fmt_value

CUSTOM_NEEDS_CALLABLE = "custom: give its callable (file.py:obj or package.module:obj)"
COMBINED_NEEDS_TERMS = "combined: give its terms, e.g. [{name: mse, weight: 1}]"


def settings_message(exc: ConfigError) -> str:
    """An engine refusal of the form as a field line shows it (without the "settings:" source)."""
    return str(exc).removeprefix("settings: ")


def merged_raw(base_raw: dict[str, Any], values: Values) -> dict[str, Any]:
    """The preset's raw mapping ``base_raw`` with the form's ``values`` written in.

    What belongs to another kind of loss is dropped (a combined loss's terms, a custom loss's
    callable and params), so switching the loss never carries it along; a registered loss's own
    parameters are written into ``loss.params``. ``base_raw`` is not changed.
    """
    raw = copy.deepcopy(base_raw)
    for key, value in values.items():
        if key.startswith("loss.params."):
            continue
        *sections, leaf = key.split(".")
        node = raw
        for section in sections:
            node[section] = node = (
                dict(node[section]) if isinstance(node.get(section), dict) else {}
            )
        node[leaf] = value
    loss = raw.get("loss")
    if not isinstance(loss, dict):
        return raw
    name = loss.get("name")
    if name != "combined":
        loss.pop("terms", None)
    if name != "custom":
        loss.pop("callable", None)
        own = {
            p.name: values[k]
            for p in own_params(str(name))
            if (k := param_key(str(name), p.name)) in values
        }
        if own:
            loss["params"] = own
        else:
            loss.pop("params", None)
    return raw


def portable_loss(raw_loss: Any, base_dir: str | None) -> dict[str, Any] | None:
    """The loss section ``raw_loss`` as a start would use it, as plain data (None if refused).

    Formula *texts* cannot be compared, as the engine writes a custom loss's docstring where the
    form names the callable. So it is normalised as the run directory's ``config.yaml`` is
    (:func:`engine.config.presets.portable_dict`: a relative ``file.py:obj`` made absolute from
    the preset's folder ``base_dir``), and the same loss compares equal however its path was
    written.
    """
    try:
        loss = parse_loss_section(raw_loss, "settings")
    except (ConfigError, TypeError, ValueError):
        return None
    loss_section: dict[str, Any] = portable_dict(Config(loss=loss, base_dir=base_dir), "")["loss"]
    return loss_section


def formula_line(raw_loss: Any, bad_field: tuple[str, str] | None = None) -> str:
    """The formula of the loss section ``raw_loss``, for the formula line.

    ``bad_field`` is a loss field whose text is refused, as ``(key, reason)``: the line then
    asks for it to be fixed. A loss that cannot be described says what it still needs.
    """
    if bad_field is not None:
        key, reason = bad_field
        return f"(fix {key}: {reason})"
    try:
        loss: LossConfig = parse_loss_section(raw_loss, "settings")
    except ConfigError as exc:
        return f"(fix the loss fields: {settings_message(exc)})"
    if loss.name == "custom" and not loss.callable:
        return CUSTOM_NEEDS_CALLABLE
    if loss.name == "combined" and not loss.terms:
        return COMBINED_NEEDS_TERMS
    try:
        return describe(loss)
    except (KeyError, TypeError, ValueError):  # malformed combined terms
        return "(fix the loss terms in the preset)"


def params_hint(typed: str, params: dict[str, Any]) -> tuple[str, bool]:
    """What a custom loss's params text ``typed`` was read as (``params: under=3``), and whether
    that line is worth showing.

    YAML flow style has traps (``{under:3}`` is one key "under:3" with no value), so when the
    text is not already the plain ``{key: value}`` form the line shows the keyword arguments the
    loss will get (``params``, the text's parsed value).
    """
    if not params:
        return "", False
    text = "params: " + ", ".join(f"{k}={v}" for k, v in params.items())
    return text, typed.strip() != fmt_value(params)
