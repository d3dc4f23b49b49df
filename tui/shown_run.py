"""Which run the screen shows, when the settings form no longer describes it.

After a run, the user may pick another preset or edit fields: the curves, the run panel and the
early-stopping panel still belong to the run that was shown, and the top bar must say so
(``showing default-021516 (lr=0.05)``). This module compares the form with the run's own
config (its ``RunStarted.config``) field by field; Textual-free, so it is tested without an app.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from tui.form import SettingsForm
from tui.form_fields import Values, fmt_value

SHORT_LABELS = {
    "optim.lr": "lr",
    "train.epochs": "epochs",
    "loss.name": "loss",
    "optim.name": "optim",
    "optim.batch_size": "batch",
    "early_stopping.enabled": "early stop",
    "early_stopping.patience": "patience",
    "data.val_fraction": "val",
    "train.device": "device",
}
"""Short names for the settings the label quotes (the rest use the key's last part)."""
FIRST = ("loss.name", "optim.name", "optim.lr", "train.epochs", "optim.batch_size")
"""The settings quoted first when several differ (what most changes a curve)."""
MAX_SETTINGS = 3
"""Settings the label quotes at most (then "…")."""
_STAMP = re.compile(r"^\d{8}-(\d{6})-")


def config_value(config: Mapping[str, Any], key: str) -> Any:
    """The value at a dotted form key in a run's config dict (None when absent)."""
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def differing(
    values: Values, applies: Callable[[str], bool], config: Mapping[str, Any]
) -> list[str]:
    """The form keys (that apply) whose value differs from the run's config."""
    return [
        key
        for key, value in values.items()
        if applies(key) and _norm(value) != _norm(config_value(config, key))
    ]


def _norm(value: Any) -> Any:
    """Compare as the form shows values: ``{}`` and None are both "none", 1 and 1.0 equal."""
    if value in ({}, [], ""):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return float(value)


def _shown(key: str, config: Mapping[str, Any]) -> str:
    """A run's setting as the label quotes it (a null batch size is the full batch)."""
    text = fmt_value(config_value(config, key))
    return text or ("full" if key == "optim.batch_size" else "none")


def short_run_name(run_dir_name: str | None, config_name: str) -> str:
    """``default-021516`` from ``20261126-021516-default-9b0f21`` (the preset and start time)."""
    if not run_dir_name:
        return config_name
    m = _STAMP.match(run_dir_name)
    return f"{config_name}-{m.group(1)}" if m else run_dir_name


def shown_run_label(
    values: Values,
    applies: Callable[[str], bool],
    preset: str,
    config: Mapping[str, Any],
    run_dir_name: str | None,
) -> str | None:
    """``showing default-021516 (lr=0.05, epochs=500)`` while the form differs from the shown
    run (another preset, or an edited field), else None.

    The settings quoted are the run's values of the fields that differ; when only the preset
    differs (same field values, other data), its loss and learning rate.
    """
    name = str(config.get("name", ""))
    keys = differing(values, applies, config)
    if not keys and name == preset:
        return None
    if not keys:
        keys = ["loss.name", "optim.lr"]
    keys.sort(key=lambda k: FIRST.index(k) if k in FIRST else len(FIRST))
    quoted = [
        f"{SHORT_LABELS.get(k, k.rsplit('.', 1)[-1])}={_shown(k, config)}"
        for k in keys[:MAX_SETTINGS]
    ]
    more = ", …" if len(keys) > MAX_SETTINGS else ""
    return f"showing {short_run_name(run_dir_name, name)} ({', '.join(quoted)}{more})"


def form_label(
    form: SettingsForm, preset: str, config: Mapping[str, Any], run_dir_name: str | None
) -> str | None:
    """:func:`shown_run_label` for the settings form as it stands: its values as the run's
    config holds them (a callable's path made absolute, a loss's terms and params as data),
    compared where they apply."""
    values = form.values()
    loss = form.loss_config()
    for key in ("callable", "terms", "params"):
        if loss is not None and f"loss.{key}" in values:
            values[f"loss.{key}"] = loss.get(key)
    return shown_run_label(
        values, lambda key: form.applies(key, values), preset, config, run_dir_name
    )
