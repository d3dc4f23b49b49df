"""Screenshots of the idle and finished dashboard at 80x24 and 120x40 (pytest-textual-snapshot).

The run is seeded and on cpu; ``frozen_clock`` hides elapsed time, speed and the processor name,
and stops the cursor blinking, so the same SVG comes out on every machine. Update after an
intended change with ``pytest tests/tui --snapshot-update`` and look at the report.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from tests.tui.conftest import SMALL
from tui.app import make_app

SIZES = [(80, 24), (120, 40)]


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_idle(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(make_app("default", SMALL, frozen_clock=True), terminal_size=size)


async def _finish(pilot: Pilot) -> None:
    await pilot.press("s")
    await pilot.app.workers.wait_for_complete()
    assert pilot.app.history.finished is not None
    await pilot.app.redraw_now()  # the end, drawn now rather than at the next 15 Hz tick


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_finished(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(make_app("default", SMALL, frozen_clock=True), terminal_size=size,
                        run_before=_finish)
