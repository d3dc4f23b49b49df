"""Plot frames built off the event loop while a run goes.

Plotext draws its canvas in pure Python: at 80x24 one build and its ANSI parse take 13-20 ms on
these machines, the largest single piece of work in a dashboard frame. Done inside the
compositor (as ``PlotextPlot.render`` does), a key pressed during it waits for the whole build
and then for the next frame. So the live plot records the plotext calls of a redraw
(:class:`Recorder`), and a worker thread replays them on a fresh figure and builds the text
(:func:`build_frame`, a pure function: nothing shared with the widget's own figure); the widget
shows the newest finished frame. The event loop only waits for the GIL, which a running thread
hands over every ``sys.getswitchinterval()`` seconds. A finished or idle plot builds in
``render`` as before, so what tests and snapshots see does not depend on a thread.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual_plotext.plot import Plot

Call = tuple[str, tuple[Any, ...], dict[str, Any]]


class Recorder:
    """Stands in for a plotext figure: keeps the calls made on it (``plot``, ``xlim``, …) to
    replay on a figure of their own."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))

        return record


def build_frame(calls: list[Call], width: int, height: int, theme: str) -> Text:
    """The plot of ``calls`` at ``width`` x ``height`` cells in plotext theme ``theme``.

    Safe in any thread: a new figure each time (0.3 ms) and no state of a widget.
    """
    plot = Plot()
    for name, args, kwargs in calls:
        getattr(plot, name)(*args, **kwargs)
    # As textual-plotext's own render does: size twice (textual-plotext#5), then the theme.
    plot.plotsize(width, height)
    plot._set_size(width, height)
    plot.theme(theme)
    return Text.from_ansi(plot.build())
