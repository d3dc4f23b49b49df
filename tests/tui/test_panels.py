"""The panels and the plot, drawn from engine events filed by hand (tests/builders.py), as the
training worker files them: they fit at 80 columns, say what their numbers are, and cope with
runs that have no validation split, zero or negative losses, or a diverged loss."""

from __future__ import annotations

import pytest
from textual.content import Content

from tests.builders import epoch, finished, optimum, started
from tests.tui.conftest import LONG, SMALL, file_events, fit_events, table_text, text_of, wait_until
from tui.app import make_app
from tui.series import linear_ticks

METRICS = {
    "train": {"mse": 330.5, "rmse": 18.18, "mae": 6.055, "r2": 0.00838},
    "val": {"mse": 8.574e5, "rmse": -1234.5678, "mae": 0.123456, "r2": -0.98765},
    "test": {"mse": 12345678.0, "rmse": 1e-12, "mae": 100.0, "r2": 1.0},
}
BRACKETS = ["x[a=1, b=2]"]
"""A feature name that would be markup if it were not shown as text."""


def _started(**fields):
    return started(BRACKETS, device_name="A [test] CPU", n_train=4, n_val=2, n_test=2, **fields)


async def test_metrics_columns_are_one_space_apart_inside_the_panel() -> None:
    app = make_app("default", SMALL, frozen_clock=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await file_events(
            pilot,
            _started(),
            epoch(1),
            finished("completed", message="ended [completed]", metrics=METRICS),
        )
        panel = app.query_one("#metrics")
        lines = [line.rstrip() for line in table_text(app, "#metrics").splitlines()]
        assert lines[0].split() == ["mse", "rmse", "mae", "r2"]
        for split, line in zip(["train", "val", "test"], lines[1:4]):
            cells = line.split()
            assert cells[0] == split and len(cells) == 5, line
            assert len(line) <= panel.content_size.width
        assert "330.5 18.18  6.055 0.0084" in lines[1]
        assert "x[a=1, b=2]" in table_text(app, "#coefficients")  # not markup


async def test_run_line_never_wraps_at_80_columns() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await file_events(
            pilot, _started(epochs=100000), epoch(24512, epochs=100000, elapsed_s=16.06)
        )
        stats = app.query_one("#stats")
        lines = text_of(app, "#stats").splitlines()
        assert lines[0].startswith("epoch 24512/100000 ") and "25%" in lines[0]
        assert all(len(line) <= stats.content_size.width for line in lines), lines
        assert "A [test] CPU" in Content.from_markup(stats.border_title).plain


@pytest.mark.parametrize(
    ("reason", "state"),
    [
        ("completed", "● completed"),
        ("early_stopped", "● stopped"),
        ("diverged", "● diverged"),
        ("cancelled", "● cancelled"),
    ],
)
async def test_early_stopping_state_says_how_the_run_ended(reason: str, state: str) -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await file_events(
            pilot, _started(), epoch(3), finished(reason, message=f"ended [{reason}]")
        )
        head, message = text_of(app, "#early-stopping").splitlines()[:2]
        assert head.startswith(state + "  ") and message == f"ended [{reason}]"


async def test_standardised_target_units_are_labelled() -> None:
    std_y = {"data.standardize_target": True}
    app = make_app("default", SMALL)
    async with app.run_test(size=(120, 40)) as pilot:
        await file_events(pilot, _started(settings=std_y), epoch(1))
        assert "(loss in std units of y)" in text_of(app, "#stats")
        assert "raw y units" in str(app.query_one("#metrics").border_title)
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await file_events(
            pilot, _started(settings=std_y), epoch(1, metrics={"train": METRICS["train"]})
        )
        stats = text_of(app, "#stats")
        assert "std" in stats.splitlines()[1] and "raw y)" in stats
        width = app.query_one("#stats").content_size.width
        assert all(len(line) <= width for line in stats.splitlines())


async def test_early_stopping_line_never_wraps_at_80_columns() -> None:
    """wait 24891/100000 with a best value: the bar goes before anything wraps."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await file_events(
            pilot,
            _started(epochs=100000),
            epoch(
                24932,
                epochs=100000,
                wait=24891,
                patience=100000,
                best_epoch=41,
                best_monitor=0.3255,
                improved=False,
            ),
        )
        width = app.query_one("#early-stopping").content_size.width
        head = text_of(app, "#early-stopping").splitlines()[0]
        assert head == "● waiting  wait 24891/100000  best 0.3255 @ 41" and len(head) <= width
        await file_events(pilot, finished("cancelled", best_epoch=41, best_monitor=0.3255))
        head = text_of(app, "#early-stopping").splitlines()[0]
        assert head.startswith("● cancelled ") and "best 0.3255@41" in head
        assert len(head) <= width


async def test_no_val_loss_and_no_best_epoch_all_run_long() -> None:
    """What the engine sends with val_fraction 0 and early stopping off: val_loss and
    best_epoch None at every epoch. The plot, legend and panels draw without them."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(120, 40)) as pilot:
        no_val = [
            epoch(
                i,
                train_loss=loss,
                val_loss=None,
                best_epoch=None,
                best_monitor=None,
                improved=False,
            )
            for i, loss in enumerate([3.0, 2.0, 1.5], start=1)
        ]
        await file_events(
            pilot,
            started(n_val=0, settings={"early_stopping.enabled": False}, optimum=optimum([1.0])),
            *no_val,
        )
        await pilot.press("l")
        await app.painter.redraw_now()
        assert "┤" in str(app.plot.render())
        legend = text_of(app, "#legend")
        assert "train" in legend and "val" not in legend and "best" not in legend
        es = text_of(app, "#early-stopping")
        assert es.startswith("● off") and "best" not in es
        assert "val" not in text_of(app, "#stats")


async def test_log_y_copes_with_zero_and_negative_losses() -> None:
    """Noise-free data reaches a zero loss (and a custom loss may go negative): log-y must draw."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await file_events(
            pilot,
            started(optimum=optimum([1.0])),
            epoch(1, train_loss=4.0, val_loss=3.0),
            epoch(2, train_loss=0.5, val_loss=0.0),
            epoch(3, train_loss=0.0, val_loss=-1.0),
        )
        await pilot.press("l")
        await app.painter.redraw_now()
        assert app.plot.log_y and app.plot.clipped
        assert "┤" in str(app.plot.render())  # the axes were drawn, nothing raised
        assert "≤0 at" in text_of(app, "#legend")
        await pilot.press("m")  # smoothing on top of log-y
        await wait_until(pilot, lambda: "EMA" in text_of(app, "#legend"))
        await pilot.press("l")
        assert not app.plot.log_y


async def test_true_weights_shorter_than_the_features_do_not_break_the_panels() -> None:
    """With data.poly_degree > 1 the truth may cover only the raw columns: show "—" there."""
    app = make_app("default", LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        await file_events(
            pilot,
            started(
                ["x1", "x1^2"],
                n_train=8,
                n_val=2,
                true_weights=[3.0],
                true_bias=0.5,
                x_mean=[0.0, 0.0],
                x_std=[1.0, 1.0],
                optimum=optimum(
                    [1.0, 2.0], 0.0, loss=0.1, weights_original=[1.5, 2.5], bias_original=0.25
                ),
            ),
            epoch(1, weights=[0.9, 1.9], bias=0.1, weights_original=[1.4, 2.4], bias_original=0.2),
        )
        assert "true  3  b 0.5" in text_of(app, "#stats")
        rows = {
            line.split()[0]: line.split()
            for line in table_text(app, "#coefficients").splitlines()[1:]
            if line.strip()
        }
        assert rows["x1^2"][1:] == ["1.9", "2", "2.4", "2.5", "—"]
        assert rows["bias"][1:] == ["0.1", "0", "0.2", "0.25", "0.5"]


def test_linear_ticks_are_round_and_short() -> None:
    _ticks, labels = linear_ticks(1.5, 1.2816447386598261e33)
    assert labels == ["0", "5e32", "1e33"]
    assert linear_ticks(0.0123, 0.98)[1] == ["0.2", "0.4", "0.6", "0.8"]
    assert linear_ticks(6.4137, 6.4138)[1] == ["6.4137", "6.41375", "6.4138"]  # still distinct
    assert linear_ticks(3.0, 3.0)[1] == ["3"]


async def test_diverged_run_keeps_short_y_labels() -> None:
    """A real diverged run (the engine's events, recorded): losses up to ~1e33."""
    diverging = ["data.n_samples=200", "train.device=cpu", "optim.lr=50", "train.epochs=300"]
    app = make_app("default", diverging)
    async with app.run_test(size=(80, 24)) as pilot:
        await file_events(pilot, *fit_events("default", diverging))
        assert app.session.history.finished.reason == "diverged"
        assert max(app.session.history.train_loss[:-1]) > 1e6
        lines = app.plot.render().plain.splitlines()
        axis = [line.index("┤") for line in lines if "┤" in line]
        assert axis and max(axis) <= 8, lines


def test_coefficients_stay_on_screen_between_the_late_epochs_that_log_weights(tmp_path) -> None:
    """Past FULL_WEIGHT_EPOCHS a run's log keeps weights only on improving and every
    WEIGHT_STRIDE-th epoch: the panels show the latest epoch that has them, and never blank
    the coefficient lines (which made the run panel jump between 2 and 5 rows at 10 Hz)."""
    from engine.core.events import EpochEnded
    from engine.runs.store import FULL_WEIGHT_EPOCHS, read_events
    from tests.runs_helpers import only_run, run
    from tui.history import RunHistory
    from tui.widgets.panels import coefficient_lines

    epochs = FULL_WEIGHT_EPOCHS + 60
    done = run(
        tmp_path,
        "train",
        "--set",
        f"train.epochs={epochs}",
        "--set",
        "early_stopping.enabled=false",
        "--set",
        "train.device=cpu",
        "--set",
        "optim.lr=0.3",
    )
    assert done.returncode == 0, done.stderr
    events, _ = read_events(only_run(tmp_path))
    history, thinned = RunHistory(), 0
    for event in events[:-1]:  # the epochs, not the RunFinished (which always has weights)
        history.add(event)
        if history.last is None:
            continue
        thinned += history.last.weights is None
        shown = history.current
        assert shown is not None and shown.weights is not None
        assert shown.epoch == max(
            e.epoch
            for e in events[1:]
            if isinstance(e, EpochEnded) and e.epoch <= history.last.epoch and e.weights is not None
        )
        assert coefficient_lines(history, 3, 3)[0].startswith("w")
    assert thinned > 0, "the run logged thinned epochs"
