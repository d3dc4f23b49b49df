"""The settings panel: the preset selector and a row per field of :class:`tui.form.SettingsForm`.

The form model decides everything (which fields exist and apply, their errors, the config a
start uses); this widget turns keys into ``form.edit`` calls and shows the model: rows, error
lines, the params hint, and the newest error kept in view.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Checkbox, Input, Label, Select, Static

from engine.config import Config, apply_overrides
from engine.config.presets import is_bundled, list_presets, load_raw
from tui.form import FieldError, FormField, SettingsForm, fmt_value
from tui.messages import PresetChosen, SettingsEdited

NEXT_RUN_NOTE = "applies next run"
"""The settings panel's subtitle while a run goes and the form is edited (fits at 80 columns)."""


def on_off(value: bool) -> str:
    """A checkbox's state in words, not only in colour."""
    return "on" if value else "off"


def field_id(key: str) -> str:
    """DOM id of a field's widget."""
    return "f-" + key.replace(".", "-")


class ErrorLine(Label):
    """A field's error line: plain text (never markup) that keeps itself in view.

    It can grow after it is first laid out (the panel's scrollbar appears and the text wraps to
    one more row), so the panel re-scrolls it into view whenever its size changes.
    """

    def __init__(self, *, id: str) -> None:
        super().__init__("", classes="error", id=id, markup=False)

    def on_resize(self) -> None:
        panel = next((a for a in self.ancestors if isinstance(a, SettingsPanel)), None)
        if panel is not None and panel.revealing is not None:
            panel.call_after_refresh(panel.reveal)


class SettingsPanel(VerticalScroll):
    """Preset selector and the form's fields; owns the preset and its form model.

    Every text that comes from a user or the engine (preset descriptions, error messages, a
    custom loss's params) is shown as plain text, never as markup: "[lr=0.1]" is not a style.
    """

    BORDER_TITLE = "Settings"
    can_focus = False
    """Not a Tab stop of its own: Tab goes from the plot straight to the preset (a focused
    field is scrolled into view anyway, and the mouse wheel still scrolls)."""
    DEFAULT_CSS = """
    SettingsPanel {
        height: 1fr;
        border: round $secondary;
        border-subtitle-color: $warning;
        scrollbar-size-vertical: 1;
        padding: 0;
        .row, .hint, .error { padding-left: 1; }
        .row { height: 1; }
        .row:focus-within {
            padding-left: 0;
            border-left: outer $accent;
            .label { color: $accent; text-style: bold; }
        }
        .label { width: 13; color: $text-muted; }
        Input, Select, Checkbox { width: 1fr; }
        .error { color: $error; width: 1fr; height: auto; display: none; }
        .hint { color: $text-muted; text-style: italic; height: auto; }
        Input.-invalid { color: $error; text-style: bold; }
    }
    """

    def __init__(self, preset: str, overrides: list[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.launch_preset = preset
        self.launch_overrides = list(overrides)
        self.preset = preset
        raw, self.preset_path = self._read_preset(preset)
        self.form = SettingsForm(raw, str(self.preset_path.parent))
        self.revealing: str | None = None
        """The field whose new error line is kept in view (until the next edit)."""

    # -- composition --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("preset", classes="label")
            yield Select(
                self._preset_options(),
                value=self.preset,
                allow_blank=False,
                compact=True,
                id="preset",
            )
        yield Static("", id="preset-desc", classes="hint", markup=False)
        for f in self.form.fields:
            with Horizontal(classes="row", id=f"row-{field_id(f.key)}"):
                yield Label(f.label, classes="label")
                yield self._make_widget(f)
            yield ErrorLine(id=f"err-{field_id(f.key)}")
            if f.key == "loss.params":
                yield Static("", id="loss-extra", classes="hint", markup=False)

    def _make_widget(self, f: FormField) -> Input | Select | Checkbox:
        wid, entry = field_id(f.key), self.form.entries[f.key]
        if f.kind == "choice":
            return Select(
                self._options(f.key), value=entry, allow_blank=False, compact=True, id=wid
            )
        if f.kind == "bool":
            return Checkbox(on_off(bool(entry)), value=bool(entry), compact=True, id=wid)
        return Input(entry, placeholder=f.placeholder, compact=True, id=wid)

    def _options(self, key: str) -> list[tuple[str, str]]:
        return [(label, value) for value, label in self.form.choices(key)]

    def _preset_options(self) -> list[tuple[Text, str]]:
        """The presets to pick from; names are files' names, shown as plain text."""
        out = [(Text(p.name if p.bundled else f"{p.name} (yours)"), p.name) for p in list_presets()]
        if self.preset not in {v for _, v in out}:  # a preset given as a path
            path = Path(self.preset)
            label = (
                f"run {path.parent.name.rsplit('-', 1)[-1]}"
                if path.name == "config.yaml"
                else path.stem
            )  # a run's settings (the runs screen's o, or watch)
            out.append((Text(label), self.preset))
        return out

    def on_mount(self) -> None:
        self.show_form()
        self._show_preset_info()

    # -- presets ------------------------------------------------------------------------------
    def _read_preset(self, preset: str) -> tuple[dict[str, Any], Path]:
        """A preset's raw mapping (the launch overrides apply to the launch preset only)."""
        raw, path = load_raw(preset)
        raw.setdefault("name", path.stem)
        overrides = self.launch_overrides if preset == self.launch_preset else []
        return apply_overrides(raw, overrides), path

    def load_preset(self, preset: str) -> None:
        """Fill the form from a preset; raises ConfigError (and changes nothing) if invalid."""
        raw, path = self._read_preset(preset)
        self.form.load(raw, str(path.parent))
        self.preset, self.preset_path = preset, path
        self._set_widgets()
        select = self.query_one("#preset", Select)
        if select.value != preset:
            with self.prevent(Select.Changed):
                select.set_options(self._preset_options())  # a preset given as a path
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

    def is_bundled(self) -> bool:
        """Whether the form's preset is a bundled (read-only) one."""
        return is_bundled(self.preset_path)

    def set_devices(self, devices: list[tuple[str, str]]) -> None:
        """Offer the machine's devices (found after first paint, since it imports torch)."""
        self.form.devices = tuple(devices)
        self._set_device_options()

    def _set_device_options(self) -> None:
        sel = self.query_one("#" + field_id("train.device"), Select)
        current = self.form.entries["train.device"]
        with self.prevent(Select.Changed):
            sel.set_options(self._options("train.device"))
            sel.value = current

    def _set_widgets(self) -> None:
        """Put the form's entries into the widgets without announcing each as an edit."""
        with self.prevent(Input.Changed, Select.Changed, Checkbox.Changed):
            for f in self.form.fields:
                widget = self.query_one("#" + field_id(f.key))
                entry = self.form.entries[f.key]
                if f.key == "train.device":
                    self._set_device_options()
                elif isinstance(widget, Checkbox):
                    widget.value = bool(entry)
                    widget.label = on_off(widget.value)
                else:
                    widget.value = entry  # type: ignore[attr-defined]
        self.show_form()

    @property
    def modified(self) -> bool:
        """Whether a field differs from the preset (the top bar and border then say so)."""
        return bool(self.form.modified())

    def description_to_save(self) -> str:
        """The description a save suggests: the preset's own while the form is unedited, else
        ``edited from default: lr=0.07, epochs=100000`` (the bundled text would describe
        settings the saved preset no longer has)."""
        desc = str(self.form.base_raw.get("description", "")).strip()
        edited = [f for f in self.form.fields if f.key in self.form.modified()]
        if not edited:
            return desc
        values = self.form.values()
        changes = ", ".join(f"{f.label}={fmt_value(values[f.key]) or '—'}" for f in edited[:4])
        more = ", …" if len(edited) > 4 else ""
        name = Path(self.preset).stem
        return f"edited from {name}: {changes}{more}"

    def _show_preset_info(self) -> None:
        desc = str(self.form.base_raw.get("description", ""))
        ro = " (bundled, read-only)" if self.is_bundled() else ""
        self.query_one("#preset-desc", Static).update(Text(f"{desc}{ro}"))

    # -- showing the model --------------------------------------------------------------------
    def build_config(self) -> Config:
        """The form's validated config; FieldError names the field, which is marked and shown."""
        try:
            return self.form.build_config()
        except FieldError as exc:
            self._reveal_soon(exc.key)
            raise
        finally:
            self.show_form()

    def mark(self, key: str | None, reason: str | None) -> None:
        """Show (or clear) an error at the field of config key ``key`` (a failed run's)."""
        field = self.form.mark(key, reason)
        if reason:
            self._reveal_soon(field)
        self.show_form()

    def show_form(self) -> None:
        """Rows that apply, each error line, the invalid marks and the params hint."""
        values = self.form.values()
        for f in self.form.fields:
            reason = self.form.errors.get(f.key)
            self.query_one(f"#row-{field_id(f.key)}").display = self.form.applies(f.key, values)
            label = self.query_one(f"#err-{field_id(f.key)}", Label)
            label.update(Text(f"✗ {reason}") if reason else "")
            label.display = bool(reason) and self.form.applies(f.key, values)
            self.query_one("#" + field_id(f.key)).set_class(bool(reason), "-invalid")
        text, shown = self.form.params_hint()
        extra = self.query_one("#loss-extra", Static)
        extra.update(Text(text))
        extra.display = shown
        n = len(self.form.modified())
        self.border_title = f"Settings · {n} modified" if n else "Settings"
        if self.revealing is not None and self.revealing not in self.form.errors:
            self.revealing = None

    def _reveal_soon(self, key: str | None) -> None:
        if key is not None:
            self.revealing = key
            self.call_after_refresh(self.reveal)

    def reveal(self) -> None:
        """Scroll the marked field and its whole error line (which may wrap) into view.

        Run after layout, and again whenever the panel or the error line is resized until the
        next edit: the top bar can grow a row right after an error is marked, shrinking this
        panel, and the line can wrap to one more row once the scrollbar appears.
        """
        key = self.revealing
        if key is None:
            return
        label = self.query_one(f"#err-{field_id(key)}", Label)
        if not label.display:
            self.revealing = None
            return
        region = self.query_one(f"#row-{field_id(key)}").virtual_region.union(label.virtual_region)
        self.scroll_to_region(region, animate=False, immediate=True)

    def on_resize(self) -> None:
        if self.revealing is not None:
            self.call_after_refresh(self.reveal)

    # -- events -------------------------------------------------------------------------------
    @on(Select.Changed, "#preset")
    def _preset_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value != self.preset:
            self.post_message(PresetChosen(str(event.value)))

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _edited(self, event: Input.Changed | Select.Changed | Checkbox.Changed) -> None:
        control = event.control
        key = self._key_of(control.id if control is not None else None)
        if key is None:
            return
        event.stop()
        self.revealing = None
        self.form.edit(key, event.value)
        if isinstance(control, Checkbox):
            control.label = on_off(control.value)
        if key == "loss.name":  # choosing combined may have written example terms in
            with self.prevent(Input.Changed):
                self.query_one("#" + field_id("loss.terms"), Input).value = str(
                    self.form.entries["loss.terms"]
                )
        self.show_form()
        self.post_message(SettingsEdited(key))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.screen.focus_next()

    def _key_of(self, widget_id: str | None) -> str | None:
        return next((f.key for f in self.form.fields if field_id(f.key) == widget_id), None)
