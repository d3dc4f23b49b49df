"""The footer and help generated from the bindings (what acts now), messages in toasts and
errors that clear, the ETA and the trainer's system line during a run, and the fit's
warnings after it (issue 21, items 5-7)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from engine.cli.trainer_process import start_trainer
from engine.config.presets import load_config
from tests.builders import epoch, finished, started
from tests.tui.conftest import LONG, SMALL, file_events, table_text, text_of, wait_for, wait_until
from tui.app import make_app


def footer(app) -> str:
    """The footer as shown: each key and its label."""
    return " ".join(str(k.render()) for k in app.query("FooterKey"))


def toasts(app) -> list[str]:
    """The toasts on screen, their text."""
    return [str(t.render()) for t in app.screen.query("Toast")]


async def test_footer_offers_only_what_acts_now(tmp_path: Path) -> None:
    """Idle: Start, no Stop/Pause/Resume/Attach. Running: Stop and Pause, no Start (s still
    says why it cannot). Paused: Resume instead of Pause. Ended: Start again."""
    app = make_app("default", LONG, runs_root=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.painter.redraw_now()
        shown = footer(app)
        assert "Start" in shown
        assert not {"Stop", "Pause", "Resume", "Attach"} & set(shown.split())
        await pilot.press("s")
        await wait_until(pilot, lambda: app.session.history.started is not None)
        await wait_until(pilot, lambda: "Stop" in footer(app) and "Start" not in footer(app))
        assert "Pause" in footer(app) and "Resume" not in footer(app)
        await pilot.press("s")  # not offered, but answered
        assert "already going" in text_of(app, "#topbar")
        await pilot.press("p")
        await wait_until(pilot, lambda: "Resume" in footer(app))
        assert "Pause" not in footer(app).split()
        await pilot.press("p")
        await wait_until(pilot, lambda: "Pause" in footer(app).split())
        assert not app.session.trainer.paused
        await app.session.stop_and_wait(timeout=15)
        await wait_until(pilot, lambda: "Start" in footer(app) and "Stop" not in footer(app))


async def test_attach_is_offered_only_with_a_run_to_attach_to(tmp_path: Path) -> None:
    trainer = start_trainer(load_config("default", LONG), tmp_path)
    try:
        wait_for(lambda: (trainer.run_dir / "events.jsonl").exists(), what="the run's log")
        app = make_app("default", SMALL, runs_root=tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: "Attach" in footer(app))
            await pilot.press("a")
            await wait_until(pilot, lambda: app.session.history.started is not None)
            await wait_until(pilot, lambda: "Attach" not in footer(app))
            await app.session.stop_and_wait(timeout=15)
    finally:
        trainer.stop()
        wait_for(lambda: not trainer.alive(), timeout=30, what="the trainer to end")


async def test_help_lists_the_keys_of_the_screen_it_is_opened_from(tmp_path: Path) -> None:
    app = make_app("default", SMALL, runs_root=tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("question_mark")
        text = table_text(app.screen, "#help Static")
        assert "start a run with the settings shown" in text
        assert "stop the run (it reports why it ended) (not now)" in text  # no run: not now
        assert "attach to a run in progress" in text and "Keys of this screen" not in text
        await pilot.press("escape")
        await pilot.press("h")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "RunsScreen")
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        text = table_text(app.screen, "#help Static")
        assert "Keys of this screen (RunsScreen)" in text
        runs_keys = app.screen.keys[0][1]
        labels = {row.does for row in runs_keys}
        assert {"Mark", "Compare", "Back"} <= labels
        assert "start a run with the settings shown" not in text  # not a key of this screen
        await pilot.press("question_mark")  # closes help: back on the runs screen
        await wait_until(pilot, lambda: type(app.screen).__name__ == "RunsScreen")


async def test_a_refused_start_toasts_and_its_error_clears_once_the_field_is_edited() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:  # toasts drawn
        lr = app.query_one("#f-optim-lr", Input)
        lr.value = "-1"
        app.plot.focus()
        await pilot.press("s")
        await wait_until(pilot, lambda: "refused" in text_of(app, "#topbar"))
        await wait_until(pilot, lambda: any("optim.lr" in t for t in toasts(app)))
        assert app.query_one("#topbar").size.height == 1
        lr.value = "0.1"  # the user fixes it: the message about it is stale now
        await wait_until(pilot, lambda: "refused" not in text_of(app, "#topbar"))
        await wait_until(pilot, lambda: not toasts(app))


async def test_eta_and_the_trainers_system_line_show_during_a_run(tmp_path: Path) -> None:
    app = make_app("default", LONG, runs_root=tmp_path)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: "ETA " in text_of(app, "#stats"))
        stats = app.query_one("#stats")
        await wait_until(pilot, lambda: "trainer cpu " in str(stats.border_title), timeout=30)
        sample = app.session.history.system
        assert sample is not None and sample.rss_bytes > 50 << 20
        assert "≤" not in text_of(app, "#stats")  # early stopping is off: not a bound
        await app.session.stop_and_wait(timeout=15)
        await app.painter.redraw_now()
        assert "ETA" not in text_of(app, "#stats")  # it has ended
        assert "trainer cpu" not in str(stats.border_title)


async def test_a_diverging_fit_is_warned_about_in_the_run_panel_and_in_help() -> None:
    """Constructed events: the loss falls to 0.01 at epoch 3, then grows to 50 (5,000x), and
    the validation R² ends below 0."""
    losses = [1.0, 0.1, 0.01, 2.0, 50.0]
    events = [
        started(epochs=10),
        *(epoch(i, train_loss=v, val_loss=v, epochs=10) for i, v in enumerate(losses, 1)),
        finished(
            "diverged",
            epochs_run=5,
            metrics={"train": {"mse": 50.0, "r2": -3.0}, "val": {"mse": 60.0, "r2": -4.0}},
        ),
    ]
    app = make_app("default", SMALL)
    async with app.run_test(size=(100, 32)) as pilot:
        await file_events(pilot, *events)
        stats = text_of(app, "#stats")
        assert "⚠ diverging: the training loss grew 5,000x" in stats
        assert "⚠ poor fit: validation R² is -4" in stats
        await pilot.press("question_mark")
        text = " ".join(table_text(app.screen, "#help Static").split())
        assert "lower optim.lr" in text and "worse than predicting the mean" in text


def test_messages_read_without_python_reprs(tmp_path: Path) -> None:
    """Real exceptions' texts, as a message would quote them."""
    from tui.messages import plain

    missing = tmp_path / "nowhere" / "x.yaml"
    try:
        missing.read_text()
    except OSError as exc:
        said = plain(f"cannot load preset — {exc}")
    assert said == f"cannot load preset — No such file or directory: {missing}"
    assert plain(f"run {missing!r} is gone") == f"run {missing} is gone"
    assert plain(f"got {object()!r}") == "got object"
    assert plain("optim.lr: must be > 0 (got 'abc')") == "optim.lr: must be > 0 (got 'abc')"


async def test_the_top_bar_and_toast_say_an_oserror_plainly(tmp_path: Path) -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(100, 24), notifications=True) as pilot:
        try:
            (tmp_path / "gone.yaml").read_text()
        except OSError as exc:
            app.say(f"cannot load preset — {exc}", error=True)
        await wait_until(pilot, lambda: bool(toasts(app)))
        for shown in (text_of(app, "#topbar"), toasts(app)[0]):
            assert "[Errno" not in shown and "'" not in shown
            assert "No such file or directory" in shown


async def test_a_diverged_run_gets_one_toast_not_two(tmp_path: Path) -> None:
    """A diverged run's ending is an error in the top bar and one red toast (the alert's),
    not a second identical one from the top bar's error."""
    app = make_app(
        "default", [*SMALL, "optim.lr=10", "early_stopping.enabled=false"], runs_root=tmp_path
    )
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.session.history.finished is not None)
        assert app.session.history.finished.reason == "diverged"
        await wait_until(pilot, lambda: bool(toasts(app)))
        await pilot.pause(0.3)  # what the test proves: no second toast comes in that time
        shown = toasts(app)
        assert len(shown) == 1 and "diverged" in shown[0], shown
