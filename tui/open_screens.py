"""The screens the dashboard's keys open: help (?), runs (h), sweep (w) and the loss lab (i).

Plain functions over the app (known only as a Textual :class:`~textual.app.App`) and its
:class:`~tui.session.RunSession`, so the app's class binds the keys and this module builds what
they show. The runs, sweep and lab screens are imported when first opened: Optuna loads with
the sweep screen and torch with the lab, never at start-up.
"""

from __future__ import annotations

from typing import Any

from textual.app import App

from tui.screens import DIALOGS, HelpScreen, screen_keys
from tui.session import RunSession
from tui.widgets.panels import RunStatsPanel
from tui.widgets.settings import SettingsPanel


def help_allowed(app: App[Any]) -> bool:
    """Whether ``?`` opens help now: on the runs and sweep screens too, but not over a dialog
    (help closes itself there) nor while the focused field would type the "?"."""
    focused = app.focused
    typing = focused is not None and focused.check_consume_key("?", "?")
    return not typing and not isinstance(app.screen, DIALOGS)


def open_help(app: App[Any], session: RunSession) -> None:
    """The keys of the screen shown (as they act now), the run's warnings (the engine's at its
    start, the fit's at its end), the formulas."""
    fit = app.query_one("#stats", RunStatsPanel).warnings(session.history)
    app.push_screen(HelpScreen(session.warnings + fit, screen_keys(app)))


def open_runs(app: App[Any], session: RunSession, *, frozen_clock: bool) -> None:
    """The runs screen: past runs to open, compare, or load settings from (read-only while
    the dashboard watches a run)."""
    from tui.runs_screen import RunsScreen

    read_only = session.watch_dir is not None
    app.push_screen(RunsScreen(session.runs_root, frozen_clock=frozen_clock, read_only=read_only))


def open_sweep(app: App[Any], session: RunSession) -> None:
    """The sweep screen, on the form's settings (Optuna is imported there)."""
    from tui.sweep_screen import SettingsBridge, SweepScreen

    app.push_screen(SweepScreen(SettingsBridge(app.query_one(SettingsPanel)), session.runs_root))


def open_lab(app: App[Any], session: RunSession) -> None:
    """The loss lab on the run shown, else on the settings' optimum (torch loads there)."""
    from tui.lab.screen import LabScreen

    shown = session.shown_run
    run = session.watch_dir or (session.runs_root / shown if shown else None)
    app.push_screen(LabScreen(run, app.query_one(SettingsPanel).build_config))
