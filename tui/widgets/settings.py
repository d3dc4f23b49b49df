"""The settings form: a preset's values as fields that validate as they are typed.

The form never trains and never second-guesses the engine: each field checks its own type and
range (from the config field's metadata, the same numbers the engine enforces), and
:meth:`SettingsPanel.build_config` hands the whole form to ``engine.config.parse_config`` so the
engine's cross-checks decide. A refusal names the field and marks it.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.validation import ValidationResult, Validator
from textual.widgets import Checkbox, Input, Label, Select, Static

from engine.config import (LOSS_CHOICES, OPTIM_NAMES, SECTIONS, Config, ConfigError,
                           LossConfig, apply_overrides, parse_config, parse_loss_section)
from engine.formulas import describe
from engine.presets import list_presets, load_raw

from tui.messages import PresetChosen, SettingsEdited

Values = dict[str, Any]


@dataclass(frozen=True)
class FieldSpec:
    """One form field: config key, label, input kind and when it applies."""

    key: str
    label: str
    kind: str  # float | int | optint | choice | bool | spec (a "file.py:obj" loss callable)
    #   | params (a YAML flow mapping) | terms (a YAML flow list of {name, weight, params})
    choices: tuple[str, ...] = ()
    applies: Callable[[Values], bool] = lambda v: True
    placeholder: str = ""


def _loss_is(*names: str) -> Callable[[Values], bool]:
    return lambda v: v.get("loss.name") in names


def _es_on(v: Values) -> bool:
    return bool(v.get("early_stopping.enabled"))


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("loss.name", "loss", "choice", LOSS_CHOICES),
    FieldSpec("loss.terms", "terms", "terms", applies=_loss_is("combined"),
              placeholder="[{name: mse, weight: 1}]"),
    FieldSpec("loss.callable", "callable", "spec", applies=_loss_is("custom"),
              placeholder="file.py:obj"),
    FieldSpec("loss.params", "params", "params", applies=_loss_is("custom"),
              placeholder="{} (none)"),
    FieldSpec("loss.delta", "delta δ", "float", applies=_loss_is("huber", "smooth_l1")),
    FieldSpec("loss.quantile", "quantile q", "float", applies=_loss_is("quantile")),
    FieldSpec("loss.l1", "l1", "float"),
    FieldSpec("loss.l2", "l2", "float"),
    FieldSpec("optim.name", "optimizer", "choice", OPTIM_NAMES),
    FieldSpec("optim.lr", "lr", "float"),
    FieldSpec("optim.momentum", "momentum", "float", applies=lambda v: v.get("optim.name") == "sgd"),
    FieldSpec("optim.weight_decay", "weight decay", "float"),
    FieldSpec("optim.batch_size", "batch size", "optint", placeholder="full batch"),
    FieldSpec("train.epochs", "epochs", "int"),
    FieldSpec("data.val_fraction", "val fraction", "float"),
    FieldSpec("seed", "seed", "int"),
    FieldSpec("early_stopping.enabled", "early stop", "bool"),
    FieldSpec("early_stopping.monitor", "monitor", "choice", ("val_loss", "train_loss"),
              applies=_es_on),
    FieldSpec("early_stopping.patience", "patience", "int", applies=_es_on),
    FieldSpec("early_stopping.min_delta", "min delta", "float", applies=_es_on),
    FieldSpec("early_stopping.restore_best", "restore best", "bool", applies=_es_on),
    FieldSpec("train.device", "device", "choice", ("auto", "cpu")),
)
SPECS = {f.key: f for f in FIELDS}
KEY_RE = re.compile(r"\b(seed|(?:data|model|loss|optim|train|early_stopping)\.\w+)")
LOSS_ONLY_KEYS = ("callable", "params")
"""Loss keys that belong to a custom loss only: left out of the config for any other loss (the
engine refuses ``loss.params`` on a built-in loss)."""
_IDENT = r"[A-Za-z_]\w*"
SPEC_RE = re.compile(rf"^(?:.+\.py|.*/.*|{_IDENT}(?:\.{_IDENT})*):{_IDENT}(?:\.{_IDENT})*$")
"""A loss callable as the engine loads it: ``path/to/file.py:obj`` or ``package.module:obj``."""
CUSTOM_NEEDS_CALLABLE = "custom: give its callable (file.py:obj or package.module:obj)"
COMBINED_NEEDS_TERMS = "combined: give its terms, e.g. [{name: mse, weight: 1}]"
EXAMPLE_TERMS: list[dict[str, Any]] = [{"name": "mse", "weight": 0.7},
                                       {"name": "mae", "weight": 0.3}]
"""What the terms field is filled with when combined is chosen with no terms yet."""
YAML_KINDS = {"params": "a mapping, e.g. {under: 3, over: 1}",
              "terms": "a list, e.g. [{name: mse, weight: 0.7}, {name: mae, weight: 0.3}]"}
"""The fields typed as YAML flow collections, and what each expects."""
OWN_FIELD_LOSS_KEYS = ("loss.delta", "loss.quantile", "loss.l1", "loss.l2", "loss.params",
                       "loss.terms")
"""Loss keys whose engine complaints are shown at their own field (the rest at the loss)."""
NEXT_RUN_NOTE = "applies next run"
"""The settings panel's subtitle while a run goes and the form is edited (fits at 80 columns)."""


def field_id(key: str) -> str:
    """DOM id of a field's widget."""
    return "f-" + key.replace(".", "-")


def _field_meta(key: str) -> tuple[Any, dict[str, Any]]:
    """The annotation and metadata (min/max/gt/lt, doc) of a config key."""
    if "." in key:
        section, name = key.split(".", 1)
        cls = SECTIONS[section]
    else:
        cls, name = Config, key
    fld = next(f for f in dataclasses.fields(cls) if f.name == name)
    return typing.get_type_hints(cls)[name], dict(fld.metadata)


def parse_yaml(kind: str, text: str) -> Any:
    """A params/terms field's YAML, checked by the engine as the config would be.

    Empty means none (``{}`` params, no terms). The engine's own check runs on a minimal config
    holding only this value, so its message (``loss.terms[1].weight must be >= 0``) is shown as
    the field is typed. Raises ValueError with the reason.
    """
    value, reason = _parse_yaml(kind, text.strip())
    if reason is not None:
        raise ValueError(reason)
    return copy.deepcopy(value)  # the cached value is never handed out to be changed


@functools.lru_cache(maxsize=64)
def _parse_yaml(kind: str, text: str) -> tuple[Any, str | None]:
    """``(value, None)`` or ``(None, reason)``; cached, as the form reads its fields at every
    redraw."""
    if not text:
        return ({} if kind == "params" else None), None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "cannot read it"
        mark = getattr(exc, "problem_mark", None)
        where = f" at column {mark.column + 1}" if mark is not None else ""
        return None, f"not valid YAML: {problem}{where}"
    if kind == "params" and value is None:
        return {}, None
    if not isinstance(value, dict if kind == "params" else list):
        return None, f"expected {YAML_KINDS[kind]}"
    loss = ({"name": "custom", "callable": "check.py:loss", "params": value} if kind == "params"
            else {"name": "combined", "terms": value})
    try:
        parse_config({"loss": loss}, where="settings")
    except ConfigError as exc:
        return None, str(exc).removeprefix("settings: ")
    return value, None


def parse_text(kind: str, text: str) -> Any:
    """Turn a field's text into a value; raise ValueError with a short reason."""
    if kind in YAML_KINDS:
        return parse_yaml(kind, text)
    text = text.strip()
    if kind == "optint" and text == "":
        return None
    if text == "":
        raise ValueError("required")
    if kind == "spec":
        if not SPEC_RE.match(text):
            raise ValueError("expected file.py:obj or package.module:obj")
        return text
    if kind in ("int", "optint"):
        try:
            return int(text)
        except ValueError:
            raise ValueError("must be a whole number") from None
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def check_range(value: Any, meta: dict[str, Any]) -> str | None:
    """The reason a value is out of the field's range, or None (limits from config metadata)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    for name, sym, ok in (("min", ">=", value >= meta.get("min", -math.inf)),
                          ("max", "<=", value <= meta.get("max", math.inf)),
                          ("gt", ">", value > meta.get("gt", -math.inf)),
                          ("lt", "<", value < meta.get("lt", math.inf))):
        if name in meta and not ok:
            return f"must be {sym} {meta[name]:g}"
    return None


class FieldValidator(Validator):
    """Validates one numeric field as typed: its type, then its range from the config metadata."""

    def __init__(self, spec: FieldSpec) -> None:
        super().__init__()
        self.spec = spec
        _, self.meta = _field_meta(spec.key)

    def validate(self, value: str) -> ValidationResult:
        try:
            parsed = parse_text(self.spec.kind, value)
        except ValueError as exc:
            return self.failure(str(exc))
        reason = check_range(parsed, self.meta)
        return self.failure(reason) if reason else self.success()


def fmt_value(value: Any) -> str:
    """A config value as the text a field shows (floats keep full precision)."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):  # params / terms: one line of YAML flow style
        if not value:
            return ""
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True,
                              width=1 << 30).strip()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def config_values(cfg: Config) -> Values:
    """The form's values read from a config."""
    out: Values = {}
    for spec in FIELDS:
        obj: Any = cfg
        for part in spec.key.split("."):
            obj = getattr(obj, part)
        out[spec.key] = obj
    return out


class FieldError(ValueError):
    """A field's value is refused: ``key`` names it, the message says why."""

    def __init__(self, key: str | None, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason


def keys_in_message(text: str) -> list[str]:
    """The form fields a ConfigError message names.

    A complaint about loss.params or loss.terms[i] is shown at that field, and so is a custom
    loss that refuses a parameter ("unknown parameter 'lam'"). Every other loss complaint (a
    custom loss that fails its check, naming loss.callable or only the loss spec) is shown at
    the loss choice, right above the callable field: the callable field's own error line is
    for the form's check of its text. (:meth:`SettingsPanel.set_error` moves a complaint about
    a hidden params/terms field to the loss choice.)
    """
    keys: list[str] = []
    if "unknown parameter" in text and "loss spec" in text:
        keys.append("loss.params")
    for match in KEY_RE.finditer(text):
        key = match.group(1)
        if key.startswith("loss.") and key not in OWN_FIELD_LOSS_KEYS:
            key = "loss.name"
        key = key if key in SPECS else ""
        if key and key not in keys:
            keys.append(key)
    if not keys and "loss" in text.lower():
        keys.append("loss.name")
    return keys


def key_in_message(text: str) -> str | None:
    """The first form field a ConfigError message names, if any."""
    keys = keys_in_message(text)
    return keys[0] if keys else None


class ErrorLine(Label):
    """A field's error line: plain text (never markup) that keeps itself in view.

    It can grow after it is first laid out (the panel's scrollbar appears and the text wraps to
    one more row), so the panel re-scrolls it into view whenever its size changes.
    """

    def __init__(self, *, id: str) -> None:  # noqa: A002
        super().__init__("", classes="error", id=id, markup=False)

    def on_resize(self) -> None:
        panel = next((a for a in self.ancestors if isinstance(a, SettingsPanel)), None)
        if panel is not None and panel._revealing is not None:
            panel.call_after_refresh(panel._reveal)


class SettingsPanel(VerticalScroll):
    """Preset selector and the fields of the settings; owns the preset's raw mapping.

    Every text that comes from a user or the engine (preset descriptions, error messages, a
    custom loss's params) is shown as plain text, never as markup: "[lr=0.1]" is not a style.
    """

    def __init__(self, preset: str, overrides: list[str], *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.launch_preset = preset
        self.launch_overrides = list(overrides)
        self.preset = preset
        self.base_raw: dict[str, Any] = {}
        self.base_dir: str | None = None
        self._loading = False
        self._devices: list[tuple[str, str]] = [("auto", "auto"), ("cpu", "cpu")]
        self._revealing: str | None = None
        """The field whose new error line is kept in view (until the next edit)."""
        self._checked: set[str] = set()
        """Fields marked by the engine's cross-checks at the last start; re-checked on edits."""
        self.border_title = "Settings"
        self._load_raw(preset, overrides)
        self._initial = config_values(self._parse(self.base_raw))

    # -- composition --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("preset", classes="label")
            yield Select(self._preset_options(), value=self.preset, allow_blank=False,
                         compact=True, id="preset")
        yield Static("", id="preset-desc", classes="hint", markup=False)
        for spec in FIELDS:
            with Horizontal(classes="row", id=f"row-{field_id(spec.key)}"):
                yield Label(spec.label, classes="label")
                yield self._make_widget(spec, self._initial[spec.key])
            yield ErrorLine(id=f"err-{field_id(spec.key)}")
            if spec.key == "loss.params":
                yield Static("", id="loss-extra", classes="hint", markup=False)

    def _make_widget(self, spec: FieldSpec, value: Any) -> Input | Select | Checkbox:
        wid = field_id(spec.key)
        if spec.kind == "choice":
            options = self._choice_options(spec, value)
            return Select(options, value=value, allow_blank=False, compact=True, id=wid)
        if spec.kind == "bool":
            return Checkbox("", value=bool(value), compact=True, id=wid)
        return Input(fmt_value(value), placeholder=spec.placeholder, compact=True, id=wid,
                     validators=[FieldValidator(spec)], validate_on=["changed", "submitted"])

    def _choice_options(self, spec: FieldSpec, value: Any) -> list[tuple[str, str]]:
        if spec.key == "train.device":
            options = list(self._devices)
            if value not in {v for _, v in options}:
                options.append((str(value), str(value)))
            return [(label, v) for v, label in options]
        return [(c, c) for c in spec.choices]

    def _preset_options(self) -> list[tuple[Text, str]]:
        """The presets to pick from; names are files' names, shown as plain text."""
        out = [(Text(p.name if p.bundled else f"{p.name} (yours)"), p.name)
               for p in list_presets()]
        if self.preset not in {v for _, v in out}:  # a preset given as a path
            out.append((Text(Path(self.preset).stem), self.preset))
        return out

    def on_mount(self) -> None:
        self._apply_visibility()
        self._show_preset_info()

    # -- loading ------------------------------------------------------------------------------
    def _load_raw(self, preset: str, overrides: list[str]) -> None:
        raw, path = load_raw(preset)
        raw.setdefault("name", path.stem)
        self.base_raw = apply_overrides(raw, overrides)
        self.base_dir = str(path.parent)
        self.preset_path = path

    def _parse(self, raw: dict[str, Any]) -> Config:
        return parse_config(raw, where="settings", base_dir=self.base_dir)

    def load_preset(self, preset: str) -> None:
        """Fill the form from a preset (the launch overrides apply to the launch preset only)."""
        overrides = self.launch_overrides if preset == self.launch_preset else []
        self._load_raw(preset, overrides)
        self._initial = config_values(self._parse(self.base_raw))
        self.set_values(self._initial)
        self.preset = preset
        select = self.query_one("#preset", Select)
        if select.value != preset:
            with self.prevent(Select.Changed):
                select.value = preset
        self._show_preset_info()

    def refresh_presets(self, select: str | None = None) -> None:
        """Re-read the preset list (after a save), optionally selecting one without reloading."""
        sel = self.query_one("#preset", Select)
        with self.prevent(Select.Changed):
            if select is not None:
                self.preset = select
            sel.set_options(self._preset_options())
            sel.value = self.preset

    def set_devices(self, devices: list[tuple[str, str]]) -> None:
        """Offer the machine's devices (found after first paint, since it imports torch)."""
        self._devices = devices
        sel = self.query_one("#" + field_id("train.device"), Select)
        current = sel.value
        with self.prevent(Select.Changed):
            sel.set_options(self._choice_options(SPECS["train.device"], current))
            sel.value = current

    def set_values(self, values: Values) -> None:
        """Put values into the fields without announcing each as an edit."""
        self._loading = True
        try:
            with self.prevent(Input.Changed, Select.Changed, Checkbox.Changed):
                for key, value in values.items():
                    spec = SPECS[key]
                    widget = self.query_one("#" + field_id(key))
                    if isinstance(widget, Select):
                        if spec.key == "train.device":
                            widget.set_options(self._choice_options(spec, value))
                        widget.value = value
                    elif isinstance(widget, Checkbox):
                        widget.value = bool(value)
                    elif isinstance(widget, Input):
                        widget.value = fmt_value(value)
                    self.set_error(key, None)
        finally:
            self._loading = False
        self._checked.clear()
        self._apply_visibility()

    def _show_preset_info(self) -> None:
        desc = str(self.base_raw.get("description", ""))
        ro = " (bundled, read-only)" if self._is_bundled() else ""
        self.query_one("#preset-desc", Static).update(Text(f"{desc}{ro}"))
        self._show_loss_extra()

    def _is_bundled(self) -> bool:
        from engine.presets import is_bundled
        return is_bundled(self.preset_path)

    # -- reading ------------------------------------------------------------------------------
    def _read(self) -> tuple[Values, dict[str, str]]:
        """Every field's value and, per field whose text is invalid, the reason.

        An invalid field's value falls back to the preset's, so one bad field never hides what
        the others say (the formula line and the visibility rules keep working).
        """
        values: Values = {}
        errors: dict[str, str] = {}
        for spec in FIELDS:
            widget = self.query_one("#" + field_id(spec.key))
            if isinstance(widget, Input):
                try:
                    value = parse_text(spec.kind, widget.value)
                    reason = check_range(value, _field_meta(spec.key)[1])
                except ValueError as exc:
                    reason = str(exc)
                if reason:
                    errors[spec.key] = reason
                    value = self._initial[spec.key]
                values[spec.key] = value
            else:
                values[spec.key] = widget.value  # type: ignore[attr-defined]
        return values, errors

    def raw_values(self) -> Values:
        """Current widget values; raises FieldError for the first invalid field that applies.

        A field that does not apply to the other choices (hidden) cannot block a start: an empty
        custom-loss callable must not refuse an mse run. Such a field is left out, so the
        preset's value stands.
        """
        values, errors = self._read()
        for spec in FIELDS:
            if spec.key not in errors:
                continue
            if spec.applies(values):
                raise FieldError(spec.key, errors[spec.key])
            del values[spec.key]
        return values

    def merged_raw(self, values: Values) -> dict[str, Any]:
        """The preset's raw mapping with the form's values written in.

        Keys that belong to another kind of loss are dropped (the terms of a combined loss, the
        callable and params of a custom one), so switching the loss never carries them along.
        """
        raw = copy.deepcopy(self.base_raw)
        for key, value in values.items():
            if "." in key:
                section, name = key.split(".", 1)
                sect = raw.get(section)
                raw[section] = sect = dict(sect) if isinstance(sect, dict) else {}
                sect[name] = value
            else:
                raw[key] = value
        loss = raw.get("loss")
        if isinstance(loss, dict):
            if loss.get("name") != "combined":
                loss.pop("terms", None)
            if loss.get("name") != "custom":
                for key in LOSS_ONLY_KEYS:
                    loss.pop(key, None)
        return raw

    def build_config(self) -> Config:
        """The validated config of the form; FieldError names the field (and marks it).

        On success every error line that no longer applies is cleared (a cross-check answered
        at another field, the last run's failure): only a field's own complaint about its text
        stays.
        """
        try:
            values = self.raw_values()
            cfg = self._parse(self.merged_raw(values))
        except FieldError as exc:
            self.set_error(exc.key, exc.reason)
            raise
        except ConfigError as exc:
            text = str(exc).removeprefix("settings: ")
            keys = [self._shown_at(k) for k in keys_in_message(text)]
            for key in keys:
                self.set_error(key, text)
            self._checked = set(keys)
            raise FieldError(keys[0] if keys else None, text) from None
        self._clear_stale_errors(set(SPECS))
        return cfg

    def _clear_stale_errors(self, keys: set[str]) -> None:
        """Clear the error lines of ``keys``, keeping each field's own complaint about its text."""
        own = self._read()[1]
        for key in keys:
            label = self.query_one(f"#err-{field_id(key)}", Label)
            if label.has_class("-shown") and key not in own:
                self.set_error(key, None)
        self._checked -= keys

    def _recheck(self) -> None:
        """After an edit, re-run the engine's cross-checks that refused the last start.

        A complaint that no longer applies (monitor switched to train_loss after "val fraction
        0 with monitor val_loss") is cleared; one that still does keeps its line. Nothing new is
        marked while typing: new cross-check errors wait for the next start.
        """
        if not self._checked:
            return
        try:
            self._parse(self.merged_raw(self.raw_values()))
        except FieldError:
            return  # a field's own check speaks first; the cross-check cannot be judged yet
        except ConfigError as exc:
            text = str(exc).removeprefix("settings: ")
            still = {self._shown_at(k) for k in keys_in_message(text)}
            self._clear_stale_errors(self._checked - still)
            return
        self._clear_stale_errors(set(self._checked))

    def current_values(self) -> Values:
        """Best-effort values for display (an invalid field shows as the preset's value)."""
        return self._read()[0]

    def loss_formula(self) -> str:
        """The formula of the form's loss, for the formula line.

        Built from the loss fields alone: a bad field elsewhere (say val fraction 0 while early
        stopping monitors val_loss) is the start's business, not the formula's.
        """
        values, errors = self._read()
        for spec in FIELDS:
            if spec.key.startswith("loss.") and spec.key in errors and spec.applies(values):
                if spec.key == "loss.callable" and errors[spec.key] == "required":
                    return CUSTOM_NEEDS_CALLABLE
                return f"(fix {spec.key}: {errors[spec.key]})"
        raw = self.merged_raw(values).get("loss") or {}
        if isinstance(raw, dict) and raw.get("terms") is not None and "name" not in raw:
            raw = {**raw, "name": "combined"}  # as parse_config reads a preset
        try:
            loss: LossConfig = parse_loss_section(raw, "settings")
        except ConfigError as exc:
            return f"(fix the loss fields: {str(exc).removeprefix('settings: ')})"
        if loss.name == "custom" and not loss.callable:
            return CUSTOM_NEEDS_CALLABLE
        if loss.name == "combined" and not loss.terms:
            return COMBINED_NEEDS_TERMS
        try:
            return describe(loss)
        except (KeyError, TypeError, ValueError):  # malformed combined terms
            return "(fix the loss terms in the preset)"

    # -- feedback -----------------------------------------------------------------------------
    def _shown_at(self, key: str) -> str:
        """The field to show a complaint about ``key`` at: a loss field that does not apply to
        the form's loss now (the params of a custom loss when combined is chosen) hands it to
        the terms (combined) or to the loss choice."""
        spec = SPECS.get(key)
        if spec is None or not key.startswith("loss.") or spec.applies(self.current_values()):
            return key
        name = self.query_one("#" + field_id("loss.name"), Select).value
        return "loss.terms" if name == "combined" else "loss.name"

    def set_error(self, key: str | None, reason: str | None) -> None:
        """Mark (or clear) a field's error line, as plain text; the field is shown if it was
        hidden, and its error line is scrolled into view."""
        if key is None or key not in SPECS:
            return
        if reason:
            key = self._shown_at(key)
        self._checked.discard(key)
        label = self.query_one(f"#err-{field_id(key)}", Label)
        label.update(Text(f"✗ {reason}") if reason else "")
        label.set_class(bool(reason), "-shown")
        widget = self.query_one("#" + field_id(key))
        widget.set_class(bool(reason), "-invalid")
        label.display = bool(reason)  # a cleared error must not keep its (empty) line
        if reason:
            self.query_one(f"#row-{field_id(key)}").display = True
            self._revealing = key
            self.call_after_refresh(self._reveal)
        elif self._revealing == key:
            self._revealing = None

    def _reveal(self) -> None:
        """Scroll the marked field and its whole error line (which may wrap) into view.

        Run after layout, and again whenever the panel or the error line is resized until the
        next edit: the top bar can grow a row right after an error is marked, shrinking this
        panel, and the line can wrap to one more row once the scrollbar appears.
        """
        key = self._revealing
        if key is None:
            return
        label = self.query_one(f"#err-{field_id(key)}", Label)
        if not label.display:
            self._revealing = None
            return
        region = self.query_one(f"#row-{field_id(key)}").virtual_region.union(
            label.virtual_region)
        self.scroll_to_region(region, animate=False, immediate=True)

    def on_resize(self) -> None:
        if self._revealing is not None:
            self.call_after_refresh(self._reveal)

    def _apply_visibility(self) -> None:
        values = self.current_values()
        for spec in FIELDS:
            shown = spec.applies(values)
            self.query_one(f"#row-{field_id(spec.key)}").display = shown
            err = self.query_one(f"#err-{field_id(spec.key)}", Label)
            err.display = shown and err.has_class("-shown")
        self._show_loss_extra()

    def _show_loss_extra(self) -> None:
        """Under a custom loss's params, what their YAML was read as (``under=3, over=1``).

        YAML flow style has traps (``{under:3}`` is one key "under:3" with no value), so when
        the text is not already the plain ``{key: value}`` form this line shows the keyword
        arguments the loss will get. Combined terms need no such line: the formula line writes
        them out.
        """
        widget = self.query_one("#loss-extra", Static)
        text, shown = "", False
        if self.query_one("#" + field_id("loss.name"), Select).value == "custom":
            typed = self.query_one("#" + field_id("loss.params"), Input).value.strip()
            try:
                params = parse_yaml("params", typed)
            except ValueError:
                params = {}
            if params:
                text = "params: " + ", ".join(f"{k}={v}" for k, v in params.items())
                shown = typed != fmt_value(params)
        widget.update(Text(text))
        widget.display = shown

    def _prefill_terms(self) -> None:
        """Combined chosen with no terms: write the 0.7·mse + 0.3·mae example in, so the
        formula line shows a real loss and the start is not refused for want of terms."""
        terms = self.query_one("#" + field_id("loss.terms"), Input)
        if terms.value.strip():
            return
        with self.prevent(Input.Changed):
            terms.value = fmt_value(EXAMPLE_TERMS)
        self.set_error("loss.terms", None)

    # -- events -------------------------------------------------------------------------------
    @on(Select.Changed, "#preset")
    def _preset_changed(self, event: Select.Changed) -> None:
        event.stop()
        if not self._loading and event.value != self.preset:
            self.post_message(PresetChosen(str(event.value)))

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        event.stop()
        key = self._key_of(event.input.id)
        if key is None or self._loading:
            return
        self._revealing = None
        result = event.validation_result
        self.set_error(key, None if result is None or result.is_valid
                       else "; ".join(result.failure_descriptions))
        if key in ("loss.callable", "loss.params", "loss.terms"):
            self.set_error("loss.name", None)  # the engine's complaint is being answered
        if key == "loss.params":
            self._show_loss_extra()
        self._recheck()
        self.post_message(SettingsEdited(key))

    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _choice_changed(self, event: Select.Changed | Checkbox.Changed) -> None:
        control = event.control
        key = self._key_of(control.id if control is not None else None)
        if key is None:
            return
        event.stop()
        if self._loading:
            return
        self._revealing = None
        self.set_error(key, None)
        if key == "loss.name" and event.value == "combined":
            self._prefill_terms()
        self._apply_visibility()
        self._recheck()
        self.post_message(SettingsEdited(key))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.screen.focus_next()

    @staticmethod
    def _key_of(widget_id: str | None) -> str | None:
        if not widget_id or not widget_id.startswith("f-"):
            return None
        for spec in FIELDS:
            if field_id(spec.key) == widget_id:
                return spec.key
        return None
