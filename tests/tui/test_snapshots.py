"""Screenshots of the idle and finished dashboard at 60x20, 80x24, 120x40 and 200x50
(pytest-textual-snapshot).

The run is seeded and on cpu (its events recorded once with ``engine.fit``); ``frozen_clock``
hides elapsed time, speed and the processor name, and stops the cursor blinking, so the same SVG
comes out on every machine. Update after an intended change with
``pytest tests/tui --snapshot-update`` and look at the report.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from engine.core.events import Event
from tests.tui.conftest import SMALL, file_events
from tui.app import make_app

SIZES = [(60, 20), (80, 24), (120, 40), (200, 50)]
IDS = ["60x20", "80x24", "120x40", "200x50"]


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_idle(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(make_app("default", SMALL, frozen_clock=True), terminal_size=size)


@pytest.mark.parametrize("size", SIZES[1:], ids=IDS[1:])
def test_finished(snap_compare, small_run: list[Event], size: tuple[int, int]) -> None:
    """The SMALL run's recorded events (the engine's own, filed as the dashboard's follow files
    them). (60x20 finished is checked by its content in test_finish.py: its 6-row plot's y
    labels land one row apart between two equally valid renderings, so a pixel snapshot
    flickers.)"""

    async def finish(pilot: Pilot) -> None:
        await file_events(pilot, *small_run)
        assert pilot.app.session.history.finished is not None

    assert snap_compare(
        make_app("default", SMALL, frozen_clock=True), terminal_size=size, run_before=finish
    )
