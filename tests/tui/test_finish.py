"""Issue 13, the dashboard side: the restored epoch's own numbers, a view that says which run it
shows, a focus you can see in the text, edits that are not thrown away without asking, a plot
window for long runs and a log-y hint after a divergence. A real run's recorded events where a
run's numbers are the point, events built by hand (tests/builders.py) where a thousand epochs
are."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.widgets import Checkbox, Input, Select

from tests.builders import epoch, finished, started
from tests.tui.conftest import SMALL, choose, file_events, tab_to, table_text, text_of, wait_until
from tui.app import make_app
from tui.screens import DiscardEditsScreen
from tui.series import fmt_num


def screen_text(app: App) -> str:
    """What the terminal shows, as plain text, one line per row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


RUN_NAME = "20261126-021516-default-9b0f21"
"""The run directory the recorded run is shown as coming from."""


async def test_run_panel_shows_the_restored_epochs_numbers_and_says_so(small_run) -> None:
    app = make_app("default", SMALL, frozen_clock=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await file_events(pilot, *small_run, run_name=RUN_NAME)
        fin, hist = app.session.history.finished, app.session.history
        assert fin.reason == "early_stopped" and fin.restored_epoch is not None
        e = fin.restored_epoch
        assert hist.last.epoch > e
        run = text_of(app, "#stats")
        assert f"restored epoch {e}" in run
        # Full batch: the train loss at the end of epoch e is epoch e+1's (taken at its start
        # weights), and the engine's own measure of the restored parameters agrees with it.
        i = hist.epochs.index(e)
        assert fin.train_loss == pytest.approx(hist.train_loss[i + 1], rel=1e-5)
        assert fin.val_loss == pytest.approx(hist.val_loss[i], rel=1e-5)
        assert f"train {fmt_num(fin.train_loss)}" in run
        assert f"val {fmt_num(fin.val_loss)}" in run
        assert f"train {fmt_num(hist.last.train_loss)} " not in run
        # A log from before RunFinished carried the losses: looked up in the history.
        assert hist.losses_at(e).train_loss == hist.train_loss[i + 1]
        assert hist.losses_at(e).val_loss == hist.val_loss[i]


async def test_a_run_without_restore_shows_its_last_epoch() -> None:
    app = make_app("default", SMALL, frozen_clock=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await file_events(
            pilot,
            started(),
            epoch(1, train_loss=2.0),
            epoch(2, train_loss=1.5),
            finished("completed", epochs_run=2),
        )
        run = text_of(app, "#stats")
        assert "train 1.5 " in run and "restored" not in run


async def test_top_bar_names_the_shown_run_once_the_form_no_longer_matches_it(small_run) -> None:
    app = make_app("default", SMALL, frozen_clock=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await file_events(pilot, *small_run, run_name=RUN_NAME)
        top = lambda: text_of(app, "#topbar")  # noqa: E731
        assert "showing" not in top() and "· default │" in top()
        await choose(pilot, "preset", "huber-outliers")
        await wait_until(pilot, lambda: "showing default-" in top())
        assert "(loss=mse, " in top()  # the run's values of what differs, loss first
        assert text_of(app, "#formula").startswith("next  ")  # not the curves' loss
        lr = app.query_one("#f-optim-lr", Input)
        lr.focus()
        await pilot.press("end", "backspace", "backspace", "backspace", "0", ".", "7")
        await wait_until(pilot, lambda: "lr=0.1" in (app.painter.shown_label() or ""))


async def test_a_passing_note_does_not_replace_the_stop_reason_for_long(small_run) -> None:
    app = make_app("default", SMALL, frozen_clock=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await file_events(pilot, *small_run, run_name=RUN_NAME)
        reason = app.session.history.finished.message[:20]
        await wait_until(pilot, lambda: reason in text_of(app, "#topbar"))
        app.plot.focus()
        await pilot.press("l")
        assert "log-y on" in text_of(app, "#topbar") and reason not in text_of(app, "#topbar")
        await wait_until(pilot, lambda: reason in text_of(app, "#topbar"), timeout=6)


async def test_focus_is_marked_in_the_text_and_tab_goes_from_the_plot_to_preset() -> None:
    app = make_app("default", SMALL, frozen_clock=True)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.focused is app.plot
        await pilot.press("tab")
        assert app.focused.id == "preset"  # no invisible stop on the way
        await pilot.pause()
        rows = screen_text(app).splitlines()
        marked = [r for r in rows if "▌" in r[:3]]
        assert len(marked) == 1 and "preset" in marked[0], rows[:6]
        await tab_to(pilot, "f-optim-lr")
        await pilot.pause()
        marked = [r for r in screen_text(app).splitlines() if "▌" in r[:3]]
        assert len(marked) == 1 and "▌lr " in marked[0]


async def test_early_stop_checkbox_says_on_or_off_in_words() -> None:
    app = make_app("default", SMALL, frozen_clock=True)
    async with app.run_test(size=(80, 24)) as pilot:
        box = app.query_one("#f-early_stopping-enabled", Checkbox)
        assert str(box.label) == "on"
        await tab_to(pilot, box.id)
        await pilot.press("space")
        await wait_until(pilot, lambda: str(box.label) == "off")
        assert any("early stop" in r and " off" in r for r in screen_text(app).splitlines())


async def test_picking_a_preset_with_edits_asks_before_discarding_them() -> None:
    app = make_app("default", SMALL, frozen_clock=True)
    async with app.run_test(size=(80, 24)) as pilot:
        lr = app.query_one("#f-optim-lr", Input)
        lr.focus()
        await pilot.press("end", "7")
        await pilot.pause()
        assert "default*" in text_of(app, "#topbar")
        assert "1 modified" in str(app.settings.border_title)
        select = app.query_one("#preset", Select)
        select.focus()
        await pilot.press("enter", "down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DiscardEditsScreen))
        assert "lr" in screen_text(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: not isinstance(app.screen, DiscardEditsScreen))
        assert lr.value == "0.17" and select.value == "default"
        assert app.settings.preset == "default"
        select.focus()
        await pilot.press("enter", "down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DiscardEditsScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: app.settings.preset != "default")
        assert not app.settings.modified and "*" not in text_of(app, "#topbar")


async def test_save_dialog_offers_an_editable_description_of_the_edits(
    isolated_config_home,
) -> None:
    app = make_app("default", SMALL, frozen_clock=True)
    async with app.run_test(size=(80, 24)) as pilot:
        lr = app.query_one("#f-optim-lr", Input)
        lr.focus()
        await pilot.press("end", "7", "escape", "ctrl+s")
        desc = app.screen.query_one("#preset-description", Input)
        assert desc.value == "edited from default: lr=0.17"
        app.screen.query_one("#preset-name", Input).value = "mine"
        desc.value = "my lr — faster"
        app.screen.query_one("#preset-name", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.settings.preset == "mine")
        text = (app.settings.preset_path).read_text(encoding="utf-8")
        assert "my lr" in text and "faster" in text


def _long_run(n: int, loss=lambda i: 1.0 / i):
    return [
        started(epochs=n),
        *(epoch(i, epochs=n, train_loss=loss(i), val_loss=loss(i) * 1.1) for i in range(1, n + 1)),
    ]


async def test_z_windows_the_plot_to_the_last_epochs() -> None:
    app = make_app("default", SMALL, frozen_clock=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await file_events(pilot, *_long_run(2500))
        app.plot.focus()

        def x_axis() -> list[str]:
            row = next(r for r in screen_text(app).splitlines() if r.rstrip().endswith("2500"))
            return row.split("│")[-1].split()

        assert x_axis()[0] == "1"
        await pilot.press("z")
        await app.painter.redraw_now()
        assert app.plot.window == 100
        assert "last 100 ep" in text_of(app, "#legend")
        assert x_axis()[0] == "2401" and x_axis()[-1] == "2500"
        await pilot.press("z")
        assert app.plot.window == 1000
        await pilot.press("z")  # 10,000 is longer than the run: back to all
        assert app.plot.window is None


async def test_a_diverged_range_suggests_log_y() -> None:
    app = make_app("default", SMALL, frozen_clock=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await file_events(pilot, *_long_run(60, loss=lambda i: 10.0 ** (i / 2)))
        assert "spans 29 decades: l for log-y" in text_of(app, "#legend")
        app.plot.focus()
        await pilot.press("l")
        await app.painter.redraw_now()
        assert "decades" not in text_of(app, "#legend")
        assert "log-y" in text_of(app, "#legend")


async def test_footer_offers_only_keys_that_act_and_keeps_help_and_quit_at_60x20() -> None:
    app = make_app("default", SMALL, frozen_clock=True)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        footer = screen_text(app).splitlines()[-1]
        assert "? Help" in footer and "q Quit" in footer
        assert "Stop" not in footer and "Pause" not in footer and "Plot" not in footer


async def test_a_finished_run_at_60x20_keeps_its_plot_numbers_and_footer(small_run) -> None:
    app = make_app("default", SMALL, frozen_clock=True)
    async with app.run_test(size=(60, 20)) as pilot:
        await file_events(pilot, *small_run)
        lines = screen_text(app).splitlines()
        assert "? Help" in lines[-1] and "q Quit" in lines[-1]
        assert sum("┤" in line for line in lines) >= 2, "the plot keeps labelled rows"
        assert app.plot.size.height >= 6
        text = "\n".join(lines)
        assert "stopped" in text and "train " in text and "val " in text and "R²" in text


async def test_help_lines_that_wrap_keep_their_indent() -> None:
    app = make_app("default", SMALL, frozen_clock=True)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        lines = [line.rstrip() for line in table_text(app.screen, "#help Static").splitlines()]
        quit_at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("q "))
        start = lines[quit_at].index("quit;")
        follow = lines[quit_at + 1]  # the description goes on under itself, not at the edge
        assert follow[:start].strip() == "" and follow[start:].strip(), lines[quit_at : quit_at + 2]


def test_shown_run_label_quotes_the_runs_values_of_what_differs() -> None:
    from tests.builders import config_dict
    from tui.shown_run import shown_run_label

    config = config_dict({"optim.lr": 0.05, "train.epochs": 500}, name="default")
    same = {"optim.lr": 0.05, "train.epochs": 500, "optim.batch_size": None}
    always = lambda key: True  # noqa: E731
    name = "20261126-021516-default-9b0f21"
    assert shown_run_label(same, always, "default", config, name) is None
    edited = {**same, "optim.lr": 0.07}
    assert (
        shown_run_label(edited, always, "default", config, name)
        == "showing default-021516 (lr=0.05)"
    )
    assert (
        shown_run_label(edited, lambda key: key != "optim.lr", "default", config, name) is None
    )  # a field that does not apply is not a difference
    other = shown_run_label(same, always, "ridge", config, name)
    assert other == "showing default-021516 (loss=mse, lr=0.05)"


def test_window_points_keep_each_buckets_extremes_and_skip_what_cannot_be_drawn() -> None:
    from tui.series import decades, window_points

    xs = list(range(1, 11))
    ys = [5.0, 1.0, None, float("nan"), 9.0, 2.0, 3.0, float("inf"), 4.0, 0.5]
    pts = window_points(xs, ys, 4)  # two buckets of five
    assert pts == [(2, 1.0), (5, 9.0), (9, 4.0), (10, 0.5)]
    assert decades(1.0, 1e30) == 30 and decades(0.0, 5.0) == 0 and decades(2.0, 19.0) == 0
