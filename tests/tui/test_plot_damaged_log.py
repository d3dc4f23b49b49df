"""A long run whose log is damaged inside the epochs its curve summary covers, watched at 80x24:
the summary opens it at once (the damage is not read yet), and when zoom, pan or the cursor
reach the damaged line the dashboard says the log is damaged at that line and keeps running
(issue 19: it used to crash with a raw JSONDecodeError from the plot's key handler); the runs
overlay says which run's log is damaged and draws the others."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.long_run import write_long_run
from tests.tui.conftest import text_of, wait_until
from tui.app import make_app
from tui.runs_views import CompareScreen
from tui.widgets.compare_plot import ComparePlot
from tui.widgets.lines import TopBar
from tui.widgets.plot import LossPlot

N = 5000
DAMAGED = 2420
"""The epoch whose line is damaged: where ``+`` x9 then ``[`` x40 leads from the middle."""


def damage(run: Path, epoch: int) -> int:
    """Break ``epoch``'s line in place (same length: the summary's offsets stay right, so it
    still opens the run); its line number in the log."""
    path = run / "events.jsonl"
    lines = path.read_bytes().split(b"\n")
    number = next(
        i + 1
        for i, ln in enumerate(lines)
        if ln.startswith(b'{"type":"EpochEnded","epoch":%d,' % epoch)
    )
    lines[number - 1] = lines[number - 1].replace(b'"train_loss":', b'"train_loss"#', 1)
    path.write_bytes(b"\n".join(lines))
    return number


@pytest.fixture
def damaged(tmp_path: Path) -> tuple[Path, int]:
    run = write_long_run(tmp_path / "runs", N)
    return run, damage(run, DAMAGED)


async def test_zoom_and_pan_into_a_damaged_line_say_so_and_the_app_goes_on(
    damaged: tuple[Path, int],
) -> None:
    run, line = damaged
    app = make_app(str(run / "config.yaml"), runs_root=run.parent, watch=run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.session.history.finished is not None)
        plot = app.plot
        assert isinstance(plot, LossPlot) and app.session.history.damage is None
        for _ in range(9):
            await pilot.press("plus")
        for _ in range(40):
            await pilot.press("left_square_bracket")
        lo, hi = plot.nav.span or (0, 0)
        assert lo - 16 <= DAMAGED <= hi + 16  # the view reached the damaged line's bucket
        said = f"bad event line {line} "
        bar = app.query_one(TopBar)  # the error it holds (a key's passing note may cover it)
        await wait_until(pilot, lambda: bar.error and said in bar.message)
        assert "the log is damaged" in bar.message and said in (app.session.history.damage or "")
        assert app.is_running
        await pilot.press("0")  # the whole run still draws, from the summary's numbers
        xs = [x for name, args, _ in plot._calls if name == "plot" for x in args[0]]
        assert max(xs) == N and app.is_running


async def test_the_cursor_reading_a_damaged_epoch_says_so(tmp_path: Path) -> None:
    """The whole run is drawn from the summary's numbers (no log line read); the cursor reads
    its epoch's own line: damaged after the run was opened, that is said, not a crash."""
    run = write_long_run(tmp_path / "runs", N)
    app = make_app(str(run / "config.yaml"), runs_root=run.parent, watch=run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.session.history.finished is not None)
        plot = app.plot
        await pilot.press("right", "shift+left", "shift+left", "shift+left")
        at = plot.nav.cursor
        assert at is not None and 1000 < at < N - 1000
        assert text_of(app, "#legend").startswith(f"epoch {at:,}: train ")
        lines = [damage(run, e) for e in range(at - 300, at + 1)]
        await pilot.press("left")  # a column to the left: an epoch whose line is damaged
        moved = plot.nav.cursor
        assert moved is not None and at - 300 <= moved < at
        await wait_until(pilot, lambda: "the log is damaged" in text_of(app, "#topbar"))
        said = re.search(r"events.jsonl: bad event line (\d+) ", text_of(app, "#topbar"))
        assert said is not None and int(said[1]) in lines  # the first damaged line of its bucket
        assert app.is_running and f"epoch {moved:,}: train" not in text_of(app, "#legend")


async def test_compare_says_which_runs_log_is_damaged_and_draws_the_others(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    good = write_long_run(runs, 3000, name="good")
    bad = write_long_run(runs, 3000, name="bad")
    line = damage(bad, 1234)  # under 4,096 epochs: compare reads the epochs' own lines
    app = make_app("default", runs_root=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        compare = CompareScreen([good, bad])
        await app.push_screen(compare)
        await wait_until(pilot, lambda: app.screen is compare)
        await wait_until(pilot, lambda: "the log is damaged" in text_of(compare, "#compare-msg"))
        assert f"bad event line {line} " in text_of(compare, "#compare-msg")
        drawn = compare.query_one(ComparePlot).drawn
        assert len(drawn) == 1 and app.is_running
