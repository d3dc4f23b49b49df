"""The plot's keys (log-y, smoothing, the last-N-epochs window) and the top bar's passing notes.

A mixin of :class:`tui.app.LinregApp`, kept apart so the app module stays about layout and
wiring. A key's note ("log-y on") shows for FLASH_S seconds and then gives the top bar back to
the message it covered, so a run's stop reason is not lost to a key press.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.timer import Timer

from tui.history import SMOOTHING_BETAS

if TYPE_CHECKING:
    from tui.app import LinregApp

FLASH_S = 3.0
"""How long a passing note (log-y on, smoothing, window) covers the top bar's message."""
PLOT_WINDOWS: tuple[int, ...] = (100, 1_000, 10_000)
"""The last-N-epochs windows z cycles through (those shorter than the run so far), then all."""


class PlotKeysMixin:
    """Plot state (log-y, smoothing, window) and its keys; passing notes in the top bar."""

    def init_plot_keys(self: LinregApp) -> None:
        self.log_y = False
        self.smoothing: float | None = None
        self._smooth_index = -1
        self.window: int | None = None
        """The plot shows the last this many epochs (None: all); z cycles PLOT_WINDOWS."""
        self._flash: str | None = None
        self._flash_timer: Timer | None = None

    def flash(self: LinregApp, text: str) -> None:
        """Show a passing note (``log-y on``) in the top bar for FLASH_S seconds, then the
        message it covered again (a run's stop reason is not lost to a key press)."""
        self.drop_flash()
        self._flash = text
        self._flash_timer = self.set_timer(FLASH_S, self._end_flash)
        self._draw_topbar()

    def drop_flash(self: LinregApp) -> None:
        """Forget the passing note (a new message or note takes the top bar)."""
        if self._flash_timer is not None:
            self._flash_timer.stop()
        self._flash, self._flash_timer = None, None

    def _end_flash(self: LinregApp) -> None:
        self.drop_flash()
        self._draw_topbar()

    # -- keys -------------------------------------------------------------------------------
    def action_log_y(self: LinregApp) -> None:
        self.log_y = not self.log_y
        self.flash("log-y on" if self.log_y else "log-y off")
        self.draw_now()

    def action_window(self: LinregApp) -> None:
        """Cycle the plot between all epochs and the last 100 / 1,000 / 10,000 (those shorter
        than the run so far): a long run's end is readable, not a flat line after a spike."""
        n = len(self.history.epochs)
        choices = [w for w in PLOT_WINDOWS if w < n]
        if not choices:
            self.flash("the plot already shows every epoch (z windows runs over 100 epochs)")
            return
        later = [w for w in choices if self.window is None or w > self.window]
        self.window = later[0] if later else None
        self.flash("plot: all epochs" if self.window is None
                   else f"plot: last {self.window:,} epochs (z: next window)")
        self.draw_now()

    def action_smooth(self: LinregApp) -> None:
        self._smooth_index += 1
        if self._smooth_index >= len(SMOOTHING_BETAS):
            self._smooth_index = -1
        beta = SMOOTHING_BETAS[self._smooth_index] if self._smooth_index >= 0 else None
        self.smoothing = beta
        self.flash("smoothing off" if beta is None else
                   f"smoothing: debiased EMA β={beta:g} over the raw curve")
        self.draw_now()
