"""The settings form as data: which fields exist, which apply, what they hold and what is wrong.

Textual-free, so unit tests drive it without an app; :mod:`tui.widgets.settings` only renders it.
Nothing here re-declares the schema: kinds, choices, ranges and defaults come from
``engine.config.field_info``, the loss and optimizer fields from the registries' form keys, and
which fields apply from ``engine.config.applies`` (the rule run comparison uses too). A field's
text is checked by ``engine.config.validate_field``; the whole form by
``engine.config.parse_config``, whose ``ConfigError.key`` names the field to mark. What the
values mean for the loss (the preset with them written in, the formula line) is worked out by
:mod:`tui.form_loss`; this module tracks the fields, their edits and their error lines.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, TypeVar

from engine.config import Config, ConfigError, applies, nest, parse_config, validate_field
from tui.form_fields import (
    DEFAULT_DEVICES,
    DEVICE_KEY,
    EXAMPLE_TERMS,
    FormField,
    Values,
    fmt_value,
    form_fields,
    read_key,
)
from tui.form_loss import formula_line, merged_raw, params_hint, portable_loss, settings_message

__all__ = ["EXAMPLE_TERMS", "FieldError", "FormField", "SettingsForm", "fmt_value", "form_fields"]

ANSWERS_LOSS = ("loss.callable", "loss.params", "loss.terms")
"""Editing one of these answers an engine complaint shown at the loss choice."""

T = TypeVar("T")


class FieldError(ValueError):
    """The form is refused: ``key`` names the field (None: no field of the form), ``reason`` why."""

    def __init__(self, key: str | None, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason


class SettingsForm:
    """A preset's values as form fields, with what the user changed and what is wrong.

    ``entries`` holds what each widget holds: the text of a typed field, the value of a choice or
    checkbox. ``errors`` is each field's error line. A field's own complaint about its text comes
    from ``validate_field`` as it is typed; the engine's complaints about the whole form (at a
    start, or a run that failed) are marked at ``ConfigError.key`` and re-checked on each edit,
    so one that no longer applies goes.
    """

    def __init__(self, raw: dict[str, Any], base_dir: str | None = None) -> None:
        self.fields = form_fields()
        self._by_key = {f.key: f for f in self.fields}
        self.devices: tuple[tuple[str, str], ...] = DEFAULT_DEVICES
        self.entries: Values = {}
        self.errors: dict[str, str] = {}
        self._engine_marked: set[str] = set()
        """Fields marked by the engine's checks at the last start; re-checked on edits."""
        self._loads = 0
        self._memo_key: tuple[Any, ...] = ()
        self._memo: dict[str, Any] = {}
        self.load(raw, base_dir)

    def _memoised(self, name: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per state of the form (the preset loaded and every entry).

        The dashboard redraws up to 15 times a second and each redraw reads the form's values,
        formula and loss (every typed field through ``validate_field``): a few milliseconds
        each time, for a form that changes only when the user types.
        """
        key = (self._loads, tuple(map(repr, self.entries.values())))
        if key != self._memo_key:
            self._memo_key, self._memo = key, {}
        if name not in self._memo:
            self._memo[name] = compute()
        return self._memo[name]

    # -- loading ------------------------------------------------------------------------------
    def load(self, raw: dict[str, Any], base_dir: str | None = None) -> None:
        """Fill the form from a preset's raw mapping (raises ConfigError if it is invalid)."""
        self.base_raw = raw
        self.base_dir = base_dir
        self._loads += 1
        cfg = self._parse(raw)
        self.initial: Values = {f.key: read_key(cfg, f.key) for f in self.fields}
        self.entries = {
            f.key: fmt_value(v) if f.typed else v
            for f, v in zip(self.fields, self.initial.values())
        }
        self.errors.clear()
        self._engine_marked.clear()

    def _parse(self, raw: dict[str, Any]) -> Config:
        return parse_config(raw, where="settings", base_dir=self.base_dir)

    def field(self, key: str) -> FormField:
        return self._by_key[key]

    def choices(self, key: str) -> list[tuple[str, str]]:
        """``(value, label)`` of a choice field; the device list adds the current value if the
        machine does not offer it (a preset may name cuda:1)."""
        if key != DEVICE_KEY:
            return [(c, c) for c in self.field(key).choices]
        options = list(self.devices)
        current = str(self.entries.get(key))
        if current not in {v for v, _ in options}:
            options.append((current, current))
        return options

    # -- reading ------------------------------------------------------------------------------
    def _typed_value(self, key: str) -> tuple[Any, str | None]:
        """A typed field's value, or (None, reason) when its text is refused."""
        try:
            return validate_field(key, str(self.entries[key])), None
        except ConfigError as exc:
            return None, exc.reason or settings_message(exc)

    def read(self) -> tuple[Values, dict[str, str]]:
        """Every field's value and, per field whose text is invalid, the reason.

        An invalid field's value falls back to the preset's, so one bad field never hides what
        the others say (the formula line and the rules for what applies keep working). The
        dicts are the caller's own (copies of the memoised reading).
        """
        values, own = self._memoised("read", self._read)
        return dict(values), dict(own)

    def _read(self) -> tuple[Values, dict[str, str]]:
        values: Values = {}
        own: dict[str, str] = {}
        for f in self.fields:
            if not f.typed:
                values[f.key] = self.entries[f.key]
                continue
            value, reason = self._typed_value(f.key)
            if reason is not None:
                own[f.key] = reason
                value = self.initial[f.key]
            values[f.key] = value
        return values, own

    def values(self) -> Values:
        """Best-effort values for display (an invalid field counts as the preset's value)."""
        return self.read()[0]

    def applies(self, key: str, values: Values | None = None) -> bool:
        """Whether a field matters for the loss, optimizer and early stopping chosen (the
        engine's rule, :func:`engine.config.applies`, over the form's values)."""
        values = self.values() if values is None else values
        return applies(key, nest(values))

    def modified(self) -> set[str]:
        """The fields whose value differs from the preset's (an invalid text counts)."""
        values, own = self.read()
        return {k for k in values if k in own or values[k] != self.initial[k]}

    def raw_values(self) -> Values:
        """Values for a start; raises FieldError for the first invalid field that applies.

        A field that does not apply (hidden) cannot block a start: an empty custom-loss callable
        must not refuse an mse run. Such a field is left out, so the preset's value stands.
        """
        values, own = self.read()
        for key, reason in own.items():
            if self.applies(key, values):
                raise FieldError(key, reason)
            del values[key]
        return values

    def merged_raw(self, values: Values) -> dict[str, Any]:
        """The preset's raw mapping with the form's values written in (what a start parses):
        :func:`tui.form_loss.merged_raw`, which drops what belongs to another kind of loss."""
        return merged_raw(self.base_raw, values)

    # -- checking -----------------------------------------------------------------------------
    def build_config(self) -> Config:
        """The validated config of the form; FieldError names the field (and marks it).

        On success every error line that no longer applies is cleared (a cross-check answered
        at another field, the last run's failure): only a field's own complaint stays.
        """
        try:
            cfg = self._parse(self.merged_raw(self.raw_values()))
        except FieldError as exc:
            self.mark(exc.key, exc.reason)
            raise
        except ConfigError as exc:
            key = self.mark(exc.key, settings_message(exc))
            if key is not None:
                self._engine_marked = {key}
            raise FieldError(key, settings_message(exc)) from None
        self._clear_stale(set(self._by_key))
        return cfg

    def field_of(self, key: str | None) -> str | None:
        """The form field of a config key: ``loss.terms[1].weight`` is the terms field; a key
        the form does not edit (``data.path``) has none."""
        while key:
            if key in self._by_key:
                return key
            key = key.rpartition("[")[0] if key.endswith("]") else key.rpartition(".")[0]
        return None

    def shown_at(self, key: str) -> str:
        """Where a complaint about ``key`` is shown: a loss field that does not apply now (a
        custom loss's params when combined is chosen) hands it to the terms or the loss choice."""
        values = self.values()
        if not key.startswith("loss.") or self.applies(key, values):
            return key
        return "loss.terms" if values.get("loss.name") == "combined" else "loss.name"

    def mark(self, key: str | None, reason: str | None) -> str | None:
        """Set (or clear) the error line of the field for config key ``key``; returns the field
        it is shown at (None when the form has no such field)."""
        field = self.field_of(key)
        if field is None:
            return None
        if reason:
            field = self.shown_at(field)
            self.errors[field] = reason
        else:
            self.errors.pop(field, None)
        self._engine_marked.discard(field)
        return field

    def _clear_stale(self, keys: set[str]) -> None:
        """Clear the error lines of ``keys``, keeping each field's own complaint about its text."""
        own = self.read()[1]
        for key in keys:
            if key not in own:
                self.errors.pop(key, None)
        self._engine_marked -= keys

    def _recheck(self) -> None:
        """After an edit, re-run the engine's checks that refused the last start.

        A complaint that no longer applies (monitor switched to train_loss after "val fraction
        0 with monitor val_loss") is cleared; one that still does keeps its line. Nothing new is
        marked while typing: new cross-check errors wait for the next start.
        """
        if not self._engine_marked:
            return
        try:
            self._parse(self.merged_raw(self.raw_values()))
        except FieldError:
            return  # a field's own check speaks first; the cross-check cannot be judged yet
        except ConfigError as exc:
            field = self.field_of(exc.key)
            still = {self.shown_at(field)} if field else set()
            self._clear_stale(self._engine_marked - still)
            return
        self._clear_stale(set(self._engine_marked))

    # -- editing ------------------------------------------------------------------------------
    def edit(self, key: str, entry: Any) -> None:
        """The user changed a field: check its text, answer stale complaints, apply choices."""
        self.entries[key] = entry
        if self._by_key[key].typed:
            reason = self._typed_value(key)[1]
            self.mark(key, reason)
            if key in ANSWERS_LOSS:
                self.mark("loss.name", None)  # the engine's complaint is being answered
        else:
            self.mark(key, None)
            if key == "loss.name" and entry == "combined":
                self._prefill_terms()
        self._recheck()

    def _prefill_terms(self) -> None:
        """Combined chosen with no terms: write the 0.7·mse + 0.3·mae example in, so the
        formula line shows a real loss and the start is not refused for want of terms."""
        if not str(self.entries["loss.terms"]).strip():
            self.entries["loss.terms"] = fmt_value(EXAMPLE_TERMS)
            self.mark("loss.terms", None)

    # -- what the loss is ---------------------------------------------------------------------
    def loss_config(self) -> dict[str, Any] | None:
        """The loss config a start would use, as plain data (see :meth:`_loss_config`)."""
        return copy.deepcopy(self._memoised("loss_config", self._loss_config))

    def _loss_config(self) -> dict[str, Any] | None:
        """The loss config a start would use, as plain data (None while a loss field is bad).

        The app compares it with the running run's ``config["loss"]``; it is normalised as the
        run directory's ``config.yaml`` is (:func:`tui.form_loss.portable_loss`).
        """
        try:
            values = self.raw_values()
        except FieldError as exc:
            if exc.key is None or exc.key.startswith("loss."):
                return None
            values = self.values()  # a bad field elsewhere: not the loss's
        return portable_loss(self.merged_raw(values).get("loss") or {}, self.base_dir)

    def loss_formula(self) -> str:
        """The formula of the form's loss, for the formula line (see :meth:`_loss_formula`)."""
        return self._memoised("loss_formula", self._loss_formula)

    def _loss_formula(self) -> str:
        """The formula of the form's loss, for the formula line.

        Built from the loss fields alone: a bad field elsewhere (say val fraction 0 while early
        stopping monitors val_loss) is the start's business, not the formula's.
        """
        values, own = self.read()
        bad = next(
            (
                (key, reason)
                for key, reason in own.items()
                if key.startswith("loss.") and self.applies(key, values)
            ),
            None,
        )
        return formula_line(self.merged_raw(values).get("loss") or {}, bad)

    def params_hint(self) -> tuple[str, bool]:
        """Under a custom loss's params, what their YAML was read as (``params: under=3``), and
        whether that line is worth showing (:func:`tui.form_loss.params_hint`). Combined terms
        need no such line: the formula line writes them out.
        """
        if self.entries.get("loss.name") != "custom":
            return "", False
        params = self._typed_value("loss.params")[0] or {}
        return params_hint(str(self.entries["loss.params"]), params)
