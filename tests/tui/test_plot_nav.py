"""A long finished run on the dashboard at 80x24: watched from its curve summary (the state
never says idle meanwhile), and each plot key — log-x, zoom and pan, the cursor reading the
values logged at an epoch, the series — checked against the closed forms the run was written
with (``tests/long_run.py``)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from engine.runs.curve import CURVE_NAME
from tests.long_run import train_loss, val_loss, val_metrics, weights, write_long_run
from tests.tui.conftest import text_of, wait_until
from tui.app import make_app
from tui.session import RunSession
from tui.widgets.plot import LossPlot

N = 30_000
SPIKE = 12_345


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_long_run(tmp_path_factory.mktemp("runs"), N, spike=SPIKE)


async def _watch(pilot, app) -> LossPlot:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: app.session.history.finished is not None)
    await app.painter.redraw_now()
    return app.plot


def _drawn_xs(plot: LossPlot) -> list[float]:
    return [x for name, args, _ in plot._calls if name == "plot" for x in args[0]]


async def test_a_long_run_is_watched_from_its_summary_and_fills_the_plot(long_run: Path) -> None:
    app = make_app(str(long_run / "config.yaml"), runs_root=long_run.parent, watch=long_run)
    async with app.run_test(size=(80, 24)) as pilot:
        plot = await _watch(pilot, app)
        history = app.session.history
        assert history.n_epochs == N and history.base is not None
        assert len(history.epochs) < 64  # the rest is the summary's, not filed epoch by epoch
        assert "finished (completed)" in text_of(app, "#topbar")
        xs = _drawn_xs(plot)
        # the whole run across the width: points from the first columns to the last epoch
        assert min(xs) < N / 40 and max(xs) == N
        columns = plot.size.width - 10  # less the y-axis labels
        assert len({math.floor(x * columns / N) for x in xs}) >= 0.8 * columns
        ys = [y for name, args, _ in plot._calls if name == "plot" for y in args[1]]
        assert max(ys) == 500.0  # the one-epoch spike survives the downsampling


async def test_log_x_zoom_pan_and_all_epochs(long_run: Path) -> None:
    app = make_app(str(long_run / "config.yaml"), runs_root=long_run.parent, watch=long_run)
    async with app.run_test(size=(80, 24)) as pilot:
        plot = await _watch(pilot, app)
        await pilot.press("g")
        assert plot.nav.log_x and "log-x" in text_of(app, "#legend")
        xs = _drawn_xs(plot)
        assert max(xs) == pytest.approx(math.log10(N)) and min(xs) >= 0
        await pilot.press("g", "plus", "plus")
        lo, hi = plot.nav.span or (0, 0)
        assert (lo, hi) == (11_250, 18_750)  # a quarter of the run, around its middle
        assert f"epochs {lo:,}–{hi:,}" in text_of(app, "#legend")
        xs = _drawn_xs(plot)
        assert lo <= min(xs) and max(xs) <= hi
        await pilot.press("right_square_bracket")
        assert plot.nav.span == (lo + (hi - lo) // 4, hi + (hi - lo) // 4)
        await pilot.press("minus")
        assert plot.nav.span is not None and plot.nav.span[1] - plot.nav.span[0] == 2 * (hi - lo)
        for _ in range(9):  # zoomed in to single epochs: each as logged
            await pilot.press("plus")
        lo, hi = plot.nav.span
        assert hi - lo < 50
        train = [p for name, args, kw in plot._calls if kw.get("color") == "cyan" for p in args]
        pts = list(zip(train[0], train[1]))
        assert pts == [(float(e), train_loss(e, SPIKE)) for e in range(lo, hi + 1)]
        await pilot.press("0")
        assert plot.nav.span is None and max(_drawn_xs(plot)) == N


async def test_the_cursor_reads_the_values_logged_at_its_epoch(long_run: Path) -> None:
    app = make_app(str(long_run / "config.yaml"), runs_root=long_run.parent, watch=long_run)
    async with app.run_test(size=(80, 24)) as pilot:
        plot = await _watch(pilot, app)
        await pilot.press("right")  # the cursor appears on the last epoch
        assert plot.nav.cursor == N
        want = f"epoch {N:,}: train {train_loss(N):.4g} · val {val_loss(N):.4g}"
        assert text_of(app, "#legend").startswith(want.replace("e+", "e+"))
        for _ in range(4):
            await pilot.press("left")
        epoch = plot.nav.cursor
        assert epoch is not None and epoch < N
        reading = text_of(app, "#legend")
        # an epoch long before the history's own last epochs: read from the log by the index
        assert epoch not in app.session.history.epochs or epoch > N - 64
        assert reading.startswith(f"epoch {epoch:,}: train ")
        shown = float(reading.split("train ")[1].split(" ")[0])
        assert shown == pytest.approx(train_loss(epoch, SPIKE), rel=1e-3)
        assert any(name == "vline" for name, _, _ in plot._calls)
        await pilot.press("c")
        assert plot.nav.cursor is None and "epoch" not in text_of(app, "#legend")


async def test_y_switches_the_series_to_the_metrics_and_the_weights(long_run: Path) -> None:
    app = make_app(str(long_run / "config.yaml"), runs_root=long_run.parent, watch=long_run)
    async with app.run_test(size=(80, 24)) as pilot:
        plot = await _watch(pilot, app)
        await pilot.press("y")
        assert plot.nav.series == "rmse" and "val RMSE" in text_of(app, "#legend")
        await pilot.press("left", "right")  # the cursor on the last epoch reads val RMSE there
        reading = text_of(app, "#legend")
        assert f"val {val_metrics(N)['rmse']:.4g}" in reading
        for _ in range(3):  # r2, mae, then the weights
            await pilot.press("y")
        assert plot.nav.series == "weights"
        reading = text_of(app, "#legend")
        assert all(f"w{i + 1} {w:.4g}" in reading for i, w in enumerate(weights(N)))
        await pilot.press("c")
        legend = text_of(app, "#legend")
        assert "w1" in legend and "w3" in legend
        colours = {kw.get("color") for name, _, kw in plot._calls if name == "plot"}
        assert len(colours) == 3  # one trajectory per weight


async def test_the_state_says_loading_never_idle_while_an_old_run_is_read(
    long_run: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / long_run.name
    shutil.copytree(long_run, copy)
    (copy / CURVE_NAME).unlink()  # a run from before summaries: rebuilt from its log
    session = RunSession(tmp_path, watch=copy)
    session.follow_run(copy, attach=True)
    states: list[str] = []

    async def consume() -> None:
        async for _ in session.follow():
            pass

    task = asyncio.ensure_future(consume())
    while not task.done():
        states.append(session.state)
        await asyncio.sleep(0.005)
    await task
    assert states[0].startswith(f"loading {N:,} epochs")
    assert any(s.endswith("%") for s in states)
    assert "idle" not in states and session.state == "finished (completed)"
    assert (copy / CURVE_NAME).exists()


async def test_compare_opens_on_val_rmse_when_the_losses_differ(tmp_path: Path) -> None:
    from engine.runs.curve_read import load_curve
    from tui.runs_views import CompareScreen
    from tui.widgets.compare_plot import ComparePlot

    runs = tmp_path / "runs"
    mse = write_long_run(runs, 5000, name="mse")
    huber = write_long_run(runs, 4000, name="huber", loss={"name": "huber", "delta": 1.0})
    app = make_app("default", runs_root=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = CompareScreen([mse, huber])
        await app.push_screen(screen)
        await wait_until(pilot, lambda: app.screen is screen)
        assert text_of(screen, "#compare-title").startswith("val RMSE per epoch · 2 runs")
        assert "loss values of different losses are not comparable" in text_of(
            screen, "#compare-msg"
        )
        drawn = screen.query_one(ComparePlot).drawn
        assert len(drawn) == 2
        for series, n in zip(drawn, (5000, 4000)):
            assert series.points[-1] == (float(n), val_metrics(n)["rmse"])
            lows = [y for _, y in series.points]
            assert min(lows) == pytest.approx(val_metrics(n)["rmse"])  # falling: best is last
        legend = text_of(screen, "#compare-legend")
        assert "val RMSE" in legend and "huber" in legend
        await pilot.press("y")  # RMSE → R²: the best is the highest
        assert screen.metric == "r2" and "val R²" in text_of(screen, "#compare-title")
        assert f"best {val_metrics(5000)['r2']:.4g}" in text_of(screen, "#compare-legend")
        await pilot.press("y", "y")  # → MAE → loss, still said to be not comparable
        assert screen.metric == "loss" and "not comparable" in text_of(screen, "#compare-msg")
        await pilot.press("m", "z")
        title = text_of(screen, "#compare-title")
        assert "EMA β=0.9" in title and "last 100 ep" in title
        assert not load_curve(mse).rebuilt  # read from the summary the writer kept


async def test_an_opened_run_has_the_plot_keys_and_z(long_run: Path) -> None:
    from tui.runs_views import RunScreen

    app = make_app("default", runs_root=long_run.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = RunScreen(long_run)
        await app.push_screen(screen)
        await wait_until(pilot, lambda: screen.history.finished is not None)
        assert screen.history.n_epochs == N and screen.history.base is not None
        plot = screen.plot
        await pilot.press("z")
        assert plot.window == 100 and "last 100" in text_of(screen, "#run-legend")
        await pilot.press("l", "m", "g", "right")
        assert plot.log_y and plot.smoothing == 0.9 and plot.nav.log_x
        assert text_of(screen, "#run-legend").startswith(f"epoch {N:,}: train")
        await pilot.press("plus")  # a zoom replaces the window
        assert plot.window is None and plot.nav.span is not None


async def test_help_lists_the_plot_keys_and_they_act_without_the_plots_focus(
    long_run: Path,
) -> None:
    from tests.tui.conftest import table_text

    app = make_app(str(long_run / "config.yaml"), runs_root=long_run.parent, watch=long_run)
    async with app.run_test(size=(80, 24)) as pilot:
        plot = await _watch(pilot, app)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: app.screen is not app.screen_stack[0])
        text = table_text(app.screen, "#help Static")
        assert "plot: log-x on / off" in text and "plot: zoom in" in text
        await pilot.press("escape")
        app.set_focus(None)  # nothing focused: the app's own binding runs the plot's action
        await pilot.press("g")
        assert plot.nav.log_x
