"""The one protocol every dashboard panel draws by, and the app state it is drawn with.

A panel implements :meth:`HistoryPanel.render_history`; the dashboard's painter
(:mod:`tui.painter`) and a past run's screen find their panels by this protocol
(``screen.query("*").results(HistoryPanel)``) and redraw each from the
:class:`~tui.history.RunHistory` and a :class:`View`, so adding a panel is writing one widget
and composing it. Each panel owns its border title (``BORDER_TITLE``) and styles
(``DEFAULT_CSS``); the app's stylesheet only places panels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from tui.history import RunHistory


@dataclass(frozen=True)
class View:
    """What panels show besides the run history: the app's state and the user's choices."""

    running: bool = False
    """A run is being followed and has not ended (it may still be starting: no RunStarted)."""
    paused: bool = False
    frozen_clock: bool = False
    """Hide elapsed time, speed and the device's name (identical screenshots)."""
    wide: bool = False
    """100 columns or more: room for more coefficients and digits."""
    details_shown: bool = False
    """The Coefficients and Metrics panels are on screen (32 rows or more)."""
    rows: int = 24
    """The terminal's height: under 24 rows, panels keep to fewer lines."""
    log_y: bool = False
    smoothing: float | None = None
    """The EMA strength drawn over the raw curves, or None."""
    window: int | None = None
    """The plot shows the last this many epochs (None: the whole run)."""
    next_early_stopping: Mapping[str, Any] = field(default_factory=dict)
    """The form's ``early_stopping`` settings, shown before any run."""
    next_loss_formula: str = ""
    """The formula of the loss the form would start (or what it lacks)."""
    next_loss: Mapping[str, Any] | None = None
    """That loss's config as plain data (None while a loss field is invalid)."""


@runtime_checkable
class HistoryPanel(Protocol):
    """A widget the app redraws from the run history."""

    def render_history(self, history: RunHistory, view: View) -> None:
        """Draw from ``history`` (numbers straight from events) and the app's ``view``."""
