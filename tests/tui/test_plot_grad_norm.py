"""The gradient norm on the dashboard's plot: ``y`` reaches it after the learning rate, the plot
draws the values the run logged, and the cursor reads the value logged at its epoch, both for
a watched run and for one opened from the runs screen (the same plot code), in the epochs the
curve summary covers (read from the log through its index) and in the epochs filed as events.

The run is real: :func:`engine.record` trains it in this process and writes its directory,
long enough (2,400 epochs) that the dashboard opens it from its ``curve.bin``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import engine
from engine.config import parse_config
from engine.core.numbers import fmt_number
from engine.runs.log import LOG_NAME
from tests.tui.conftest import text_of, wait_until
from tui.app import make_app
from tui.widgets.plot import LossPlot

EPOCHS = 2_400
TO_GRAD_NORM = 6
"""``y`` presses from the loss: RMSE, R², MAE, weights, learning rate, gradient norm."""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = parse_config(
        {
            "seed": 2,
            "data": {"n_samples": 200, "noise": 0.5},
            "loss": {"name": "huber", "l2": 0.05},
            "optim": {"name": "sgd", "lr": 0.02},
            "train": {"epochs": EPOCHS, "device": "cpu"},
            "early_stopping": {"enabled": False},
        },
        where="test",
    )
    return engine.record(cfg, tmp_path_factory.mktemp("runs"))


def logged_norms(run_dir: Path) -> dict[int, float]:
    lines = (run_dir / LOG_NAME).read_text().splitlines()
    epochs = [json.loads(line) for line in lines if line.startswith('{"type":"EpochEnded"')]
    return {d["epoch"]: d["grad_norm"] for d in epochs}


def reading(epoch: int, value: float) -> str:
    return f"epoch {epoch:,}: ‖∇L‖ {fmt_number(value, 4)}"


async def check_grad_norm_plot(  # type: ignore[no-untyped-def]
    pilot, screen, legend: str, plot: LossPlot, norms: dict[int, float]
) -> None:
    for _ in range(TO_GRAD_NORM):
        await pilot.press("y")
    assert plot.nav.series == "grad_norm"
    assert "‖∇L‖₂" in text_of(screen, legend)
    ys = [y for name, args, _ in plot._calls if name == "plot" for y in args[1]]
    # min/max downsampling keeps the extremes of the logged values, and draws nothing else
    assert max(ys) == max(norms.values()) and min(ys) == min(norms.values())
    assert set(ys) <= set(norms.values())
    await pilot.press("right")  # the cursor on the last epoch: a filed event's value
    assert plot.nav.cursor == EPOCHS
    assert text_of(screen, legend).startswith(reading(EPOCHS, norms[EPOCHS]))
    for _ in range(6):  # far back, into the summarised epochs: that epoch's line in the log
        await pilot.press("shift+left")
    epoch = plot.nav.cursor
    assert epoch is not None and epoch < EPOCHS - 2_000
    assert text_of(screen, legend).startswith(reading(epoch, norms[epoch]))
    await pilot.press("y")  # and round again to the loss
    assert plot.nav.series == "loss"


async def test_y_reaches_the_grad_norm_of_a_watched_run_and_the_cursor_reads_it(
    run_dir: Path,
) -> None:
    norms = logged_norms(run_dir)
    app = make_app(str(run_dir / "config.yaml"), runs_root=run_dir.parent, watch=run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.session.history.finished is not None)
        await app.painter.redraw_now()
        history = app.session.history
        assert history.base is not None and "grad_norm" in history.base.fields
        await check_grad_norm_plot(pilot, app, "#legend", app.plot, norms)


async def test_an_opened_run_draws_and_reads_its_grad_norm_too(run_dir: Path) -> None:
    from tui.runs_views import RunScreen

    norms = logged_norms(run_dir)
    app = make_app("default", runs_root=run_dir.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = RunScreen(run_dir)
        await app.push_screen(screen)
        await wait_until(pilot, lambda: screen.history.finished is not None)
        assert screen.history.base is not None
        await check_grad_norm_plot(pilot, screen, "#run-legend", screen.plot, norms)
