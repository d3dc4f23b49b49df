"""The loss plot's keys: its own bindings (live while it has focus: on the dashboard and an
opened run), and the same actions as the dashboard app's bindings, so they work whatever has
focus there and its help lists them."""

from __future__ import annotations

from textual.binding import Binding

PLOT_BINDINGS = [
    Binding("g", "log_x", "Log-x", show=False),
    Binding("plus,equals_sign", "zoom(0.5)", "Zoom in", show=False, key_display="+"),
    Binding("minus", "zoom(2.0)", "Zoom out", show=False, key_display="-"),
    Binding("left_square_bracket", "pan(-1)", "Pan left", show=False, key_display="["),
    Binding("right_square_bracket", "pan(1)", "Pan right", show=False, key_display="]"),
    Binding("0", "all_epochs", "All epochs", show=False),
    Binding("left", "cursor(-1)", "Cursor left", show=False),
    Binding("right", "cursor(1)", "Cursor right", show=False),
    Binding("shift+left", "cursor(-10)", "Cursor 10 left", show=False),
    Binding("shift+right", "cursor(10)", "Cursor 10 right", show=False),
    Binding("c", "hide_cursor", "Cursor off", show=False),
    Binding("y", "series", "Series", show=False),
]
"""Log-x, zoom and pan, all epochs, a cursor reading the values at an epoch, the series
shown."""


def _plot_key(key: str, action: str, display: str, does: str) -> Binding:
    return Binding(
        key, f"plot_key({action!r})", does, show=False, key_display=display, tooltip=does
    )


PLOT_NAV_KEYS = [
    _plot_key("g", "log_x", "g", "plot: log-x on / off"),
    _plot_key("plus", "zoom(0.5)", "+", "plot: zoom in on the epochs (around the cursor)"),
    _plot_key("minus", "zoom(2.0)", "-", "plot: zoom out"),
    _plot_key("left_square_bracket", "pan(-1)", "[", "plot: pan the zoomed epochs left"),
    _plot_key("right_square_bracket", "pan(1)", "]", "plot: pan the zoomed epochs right"),
    _plot_key("0", "all_epochs", "0", "plot: all epochs again"),
    _plot_key(
        "y", "series", "y", "plot: series (loss → RMSE → R² → MAE → weights → lr → grad norm)"
    ),
    _plot_key("c", "hide_cursor", "c", "plot: cursor off (← → on the plot move it)"),
]
"""The plot's navigation keys for the dashboard app's own bindings (``plot_key(action)`` runs
the plot's action): they then work whatever has focus, and help lists them."""
