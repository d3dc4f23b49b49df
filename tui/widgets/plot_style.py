"""The loss plot's colours, in plotext's names and Rich's (the legend line uses Rich's)."""

from __future__ import annotations

TRAIN_COLOR, VAL_COLOR = "cyan", "orange"
SMOOTH_TRAIN_COLOR, SMOOTH_VAL_COLOR = "blue+", "red+"
BEST_COLOR, OPTIMUM_COLOR = "green+", "magenta"
CURSOR_COLOR = "white"
WEIGHT_COLORS = ("cyan", "orange", "green+", "magenta", "blue+", "red+")
"""One colour per weight trajectory (the weights series)."""
RICH_COLORS = {
    "cyan": "cyan",
    "orange": "dark_orange",
    "blue+": "bright_blue",
    "red+": "bright_red",
    "green+": "bright_green",
    "magenta": "magenta",
    "white": "white",
}
"""The same colours in Rich's names, for the legend line above the plot."""
