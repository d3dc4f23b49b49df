"""Loading, resetting and saving presets in the settings form, with the dialogs that ask first.

Plain functions over the :class:`~tui.widgets.settings.SettingsPanel`: they push the dialogs
(:mod:`tui.screens`) and tell the dashboard what happened through messages posted from the
panel (:class:`~tui.messages.Note` for the top bar, :class:`~tui.messages.SettingsEdited` for
the formula and the "applies next run" note), so nothing here knows the app.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from engine.config import ConfigError
from engine.config.presets import save_preset, user_dir
from tui.form import FieldError
from tui.messages import Note, SettingsEdited
from tui.screens import DiscardEditsScreen, SavePresetScreen
from tui.widgets.settings import SettingsPanel


def choose_preset(panel: SettingsPanel, name: str, *, running: bool) -> None:
    """Load the picked preset; with edits in the form, ask first (y discards, n keeps)."""
    edited = sorted(panel.form.modified())
    if not edited:
        load_preset(panel, name, running=running)
        return

    def answered(discard: bool | None) -> None:
        if discard:
            load_preset(panel, name, running=running)
        else:
            panel.refresh_presets()  # the selector shows the form's preset again
            panel.post_message(Note(f"kept your edits to {panel.preset}", passing=True))

    labels = [panel.form.field(k).label for k in edited]
    panel.app.push_screen(DiscardEditsScreen(panel.preset, name, labels), answered)


def load_preset(panel: SettingsPanel, name: str, *, running: bool) -> None:
    """Fill the form from preset ``name`` (a running run keeps its own settings)."""
    try:
        panel.load_preset(name)
    except ConfigError as exc:
        panel.refresh_presets()
        panel.post_message(Note(f"cannot load preset — {exc}", error=True))
        return
    note = " (the running run keeps its settings)" if running else ""
    panel.post_message(Note(f"loaded preset {name}{note}"))
    panel.post_message(SettingsEdited("preset"))


def reset_preset(panel: SettingsPanel) -> None:
    """Put the form back to its preset (undoing every edit)."""
    try:
        panel.load_preset(panel.preset)
    except ConfigError as exc:
        panel.post_message(Note(f"cannot reload preset — {exc}", error=True))
        return
    panel.post_message(Note(f"settings reset to preset {panel.preset}"))
    panel.post_message(SettingsEdited("preset"))


def save_as_preset(panel: SettingsPanel) -> None:
    """Ask a name and a description, write the form's settings as a user preset, then make it
    the form's preset; refused (naming the field) while a field is invalid."""
    try:
        cfg = panel.build_config()
    except FieldError as exc:
        panel.post_message(Note(f"save refused — {exc}", error=True))
        return

    def save(name: str, overwrite: bool, description: str) -> Path:
        return save_preset(
            dataclasses.replace(cfg, description=description), name, overwrite=overwrite
        )

    def saved(path: str | None) -> None:
        if path is None:
            return
        name = Path(path).stem
        panel.refresh_presets(select=name)
        panel.load_preset(name)
        panel.post_message(Note(f"saved preset {name} to {path}"))

    suggestion = "" if panel.is_bundled() else panel.preset
    panel.app.push_screen(
        SavePresetScreen(save, user_dir(), suggestion, panel.description_to_save()), saved
    )
