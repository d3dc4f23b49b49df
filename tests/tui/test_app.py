"""The dashboard driven by Pilot as a user would: keys in, engine runs for real, screen out."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from textual._xterm_parser import XTermParser
from textual.widgets import Input, Label, Select

from engine.runs.store import read_status
from tests.tui.conftest import (
    LONG,
    SMALL,
    file_events,
    fit_events,
    paste,
    tab_to,
    table_text,
    text_of,
    wait_for,
    wait_until,
)
from tui.app import make_app
from tui.screens import QuitScreen
from tui.widgets.settings import NEXT_RUN_NOTE


async def test_run_early_stops_and_says_why() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.session.history.finished is not None)
        await app.painter.redraw_now()
        fin = app.session.history.finished
        assert fin.reason == "early_stopped"
        es = text_of(app, "#early-stopping")
        assert "stopped" in es
        assert "early stopped at epoch" in es and "restored epoch" in es
        assert f"wait {fin.epochs_run - fin.best_epoch}/5" in es or "wait 5/5" in es
        # every epoch kept in the history even though draws are coalesced
        assert app.session.history.epochs == list(range(1, fin.epochs_run + 1))
        assert "epoch" in text_of(app, "#stats")
        assert app.session.trainer is None


async def test_loss_and_lr_changed_by_keyboard_are_used() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await tab_to(pilot, "f-loss-name")
        await pilot.press("enter", "down", "down", "enter")  # mse -> mae -> huber
        assert app.query_one("#f-loss-name", Select).value == "huber"
        assert app.query_one("#row-f-loss-delta").display  # only now does delta apply
        assert "δ=1" in text_of(app, "#formula")
        await tab_to(pilot, "f-optim-lr")
        await pilot.press(*"0.2")
        await pilot.press("escape", "s")
        await wait_until(pilot, lambda: app.session.history.started is not None)
        cfg = app.session.history.started.config
        assert cfg["loss"]["name"] == "huber"
        assert cfg["optim"]["lr"] == 0.2
        await app.session.stop_and_wait()


async def test_invalid_lr_is_refused_at_its_field() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await tab_to(pilot, "f-optim-lr")
        await pilot.press("minus", "1")
        lr = app.query_one("#f-optim-lr", Input)
        assert lr.value == "-1"
        assert lr.has_class("-invalid")
        error = app.query_one("#err-f-optim-lr", Label)
        assert error.display and "must be > 0" in str(error.render())
        await pilot.press("escape", "s")
        await wait_until(pilot, lambda: "refused" in text_of(app, "#topbar"))
        assert app.session.trainer is None and app.session.history.started is None
        assert "start refused — optim.lr: must be > 0" in text_of(app, "#topbar")
        await tab_to(pilot, "f-optim-lr")
        await pilot.press(*"abc")
        assert "must be a number" in str(error.render())


async def test_engine_cross_check_is_shown_at_the_field() -> None:
    """val_fraction 0 with monitor val_loss: the engine refuses, naming the monitor's key, and
    the form marks that field."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await tab_to(pilot, "f-data-val_fraction")
        await pilot.press("0")
        await pilot.press("escape", "s")
        await wait_until(pilot, lambda: "refused" in text_of(app, "#topbar"))
        assert app.session.trainer is None
        assert "data.val_fraction" in text_of(app, "#topbar")
        assert app.query_one("#err-f-early_stopping-monitor", Label).display


@pytest.mark.timing
async def test_pause_resume_and_stop_mid_run() -> None:
    app = make_app("default", LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: len(app.session.history.epochs) >= 5)
        run = app.session.trainer
        await pilot.press("p")
        assert run.paused
        await wait_until(pilot, lambda: "paused" in text_of(app, "#stats"))
        held = len(app.session.history.epochs)
        await pilot.pause(0.3)  # a stretch of time in which a running run would train on
        assert len(app.session.history.epochs) <= held + 1, "a paused run must not keep training"
        await pilot.press("p")
        assert not run.paused
        await wait_until(pilot, lambda: len(app.session.history.epochs) > held + 3)
        t0 = time.monotonic()
        await pilot.press("x")
        await wait_until(pilot, lambda: app.session.history.finished is not None, timeout=5)
        # pilot waits up to ~2 s for an idle CPU after each key while training saturates it;
        # the run itself ends after its current batch
        assert time.monotonic() - t0 < 3.0
        await app.painter.redraw_now()
        assert app.session.history.finished.reason == "cancelled"
        assert "stopped by you" in text_of(app, "#early-stopping")
        await wait_until(pilot, lambda: not run.alive(), timeout=10)  # the trainer process
        assert read_status(run.run_dir)["reason"] == "cancelled"


async def test_second_start_is_refused_and_edits_wait_for_the_next_run() -> None:
    app = make_app("default", LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.session.history.started is not None)
        await pilot.press("s")
        assert "already" in text_of(app, "#topbar")
        app.query_one("#f-optim-lr", Input).focus()
        await pilot.press("1")  # replaces the selected text (each key waits ~2 s for idle
        # under pilot while training saturates the CPU, so this test types little)
        assert app.settings.border_subtitle == NEXT_RUN_NOTE
        assert app.session.history.started.config["optim"]["lr"] == 0.05
        await app.session.stop_and_wait()


async def test_run_without_validation_split() -> None:
    """val_fraction 0 (early stopping off): no val loss all run long, and nothing breaks (the
    engine's own events, recorded)."""
    no_val = [
        *SMALL,
        "data.val_fraction=0",
        "early_stopping.enabled=false",
        "early_stopping.monitor=train_loss",
    ]
    app = make_app("default", no_val)
    async with app.run_test(size=(120, 40)) as pilot:
        await file_events(pilot, *fit_events("default", no_val))
        await pilot.press("l", "m")  # log-y and smoothing with one curve only
        await app.painter.redraw_now()
        fin = app.session.history.finished
        assert fin.reason == "completed" and fin.epochs_run == 300
        history = app.session.history
        assert history.val_loss == [None] * 300 and len(history.val_curve.raw) == 0
        assert "┤" in str(app.plot.render())  # the axes were drawn
        legend = text_of(app, "#legend")
        assert "train raw" in legend and "val" not in legend
        es = text_of(app, "#early-stopping")
        assert es.startswith("● off") and "stopped" not in es.splitlines()[0]
        stats = text_of(app, "#stats")
        assert "train " in stats and "val" not in stats


async def test_save_as_preset_then_load_it_back(isolated_config_home: Path) -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await tab_to(pilot, "f-optim-lr")
        await pilot.press(*"0.3", "escape")
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press(*"default", "enter")  # a bundled name is read-only
        assert "bundled" in str(app.screen.query_one("#save-msg", Label).render())
        name_field = app.screen.query_one("#preset-name", Input)
        name_field.value = ""
        await pilot.press(*"mine", "enter")
        await pilot.pause()
        saved = isolated_config_home / "mine.yaml"
        assert yaml.safe_load(saved.read_text())["optim"]["lr"] == 0.3
        assert app.settings.preset == "mine"

        # back to the bundled preset, then load ours by keyboard from the selector
        app.settings.load_preset("default")
        assert app.query_one("#f-optim-lr", Input).value == "0.1"  # preset + launch --set
        await tab_to(pilot, "preset")
        await pilot.press("enter")
        options = [str(v) for _, v in app.query_one("#preset", Select)._options]
        for _ in range(options.index("mine") - options.index("default")):
            await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()
        assert app.settings.preset == "mine"
        assert app.query_one("#f-optim-lr", Input).value == "0.3"

        # saving again under the same name asks before overwriting
        await tab_to(pilot, "f-optim-lr")
        await pilot.press(*"0.4", "escape", "ctrl+s")
        await pilot.pause()
        await pilot.press("enter")
        assert "exists" in str(app.screen.query_one("#save-msg", Label).render())
        assert yaml.safe_load(saved.read_text())["optim"]["lr"] == 0.3
        await pilot.press("enter")
        await pilot.pause()
        assert yaml.safe_load(saved.read_text())["optim"]["lr"] == 0.4


async def test_reset_restores_the_preset() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await tab_to(pilot, "f-optim-lr")
        await pilot.press(*"0.7", "escape", "r")
        assert app.query_one("#f-optim-lr", Input).value == "0.1"  # preset + launch --set


async def test_quit_mid_run_asks_and_x_stops_the_run() -> None:
    app = make_app("default", LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: len(app.session.history.epochs) >= 3)
        run = app.session.trainer
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen))
        assert run.run_dir.name in str(app.screen.query_one("#watch-hint", Label).render())
        await pilot.press("escape")  # stay: the run goes on
        assert app.screen is app.screen_stack[0] and app.is_running and run.alive()
        await pilot.press("q", "x")
        await wait_until(pilot, lambda: not app.is_running, timeout=5)
    wait_for(lambda: not run.alive(), what="the stopped trainer process to end")
    status = read_status(run.run_dir)
    assert status["state"] == "finished" and status["reason"] == "cancelled"


async def test_quit_with_no_run_leaves_at_once() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, timeout=2)
    assert app.detached is None


async def test_failed_run_is_shown_and_app_stays_usable() -> None:
    app = make_app("default", [*SMALL, "train.device=cuda:99"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(
            pilot, lambda: app.session.trainer is None and "failed" in text_of(app, "#topbar")
        )
        assert "train.device" in text_of(app, "#topbar")
        assert app.query_one("#err-f-train-device", Label).display
        app.query_one("#f-train-device", Select).value = "cpu"
        await pilot.press("escape", "s")
        await wait_until(pilot, lambda: app.session.history.finished is not None)


async def test_help_lists_keys_and_formulas() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: app.screen is not app.screen_stack[0])
        text = table_text(app.screen, "#help Static")
        assert "ctrl+s" in text and "mean(max(q·r, (q-1)·r))" in text
        await pilot.press("escape")
        assert app.screen is app.screen_stack[0]


def test_first_frame_comes_before_torch() -> None:
    """Importing and mounting the app must not import torch (it takes seconds)."""
    code = (
        "import asyncio, sys\n"
        "from tui.app import make_app\n"
        "assert 'torch' not in sys.modules, 'tui.app imported torch'\n"
        "async def main():\n"
        "    app = make_app('default', ['train.device=cpu'])\n"
        "    async with app.run_test() as pilot:\n"
        "        pass\n"
        "    print('torch_at_mount', app.torch_at_mount)\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
    assert "torch_at_mount False" in out.stdout


def test_cli_train_does_not_import_textual() -> None:
    code = (
        "import sys\nfrom tui.cli import main\n"
        "assert 'textual' not in sys.modules and 'torch' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("code", [0, 1])
def test_cli_returns_the_apps_exit_code(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    import tui.app
    from tui.cli import _launch

    class FakeApp:
        return_code: int | None = None
        detached = None

        def run(self) -> None:
            self.return_code = code  # Textual sets 1 when the app crashed

    monkeypatch.setattr(tui.app, "make_app", lambda preset, overrides, **kw: FakeApp())
    assert _launch("default", []) == code


async def test_resize_after_a_run_fills_the_panels_it_shows(small_run) -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await file_events(pilot, *small_run)
        assert not app.query_one("#details").display
        await pilot.resize_terminal(120, 40)
        await wait_until(
            pilot,
            lambda: (
                app.query_one("#details").display
                and "bias" in table_text(app, "#coefficients")
                and "mse" in table_text(app, "#metrics")
            ),
        )


async def test_save_dialog_error_wraps_inside_the_dialog() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is not app.screen_stack[0])
        field = app.screen.query_one("#preset-name", Input)
        field.value = ""
        await paste(pilot, "default")
        await pilot.press("enter")
        msg = app.screen.query_one("#save-msg", Label)
        await wait_until(pilot, lambda: "bundled" in str(msg.render()) and msg.size.height >= 2)
        text = str(msg.render())
        assert len(text) > 56
        dialog = app.screen.query_one("#dialog")
        assert msg.region.right <= dialog.region.right
        shown = " ".join(strip.text.strip() for strip in msg.render_lines(msg.size.region))
        assert text.split()[-1] in shown


@pytest.mark.timing
async def test_quit_during_slow_set_up_is_prompt(isolated_config_home: Path) -> None:
    """A user loss whose import takes 10 s: quitting (and stopping it) must not wait for it.
    The bound is loose (pilot's key presses wait for an idle loop) but far under the import."""
    folder = isolated_config_home
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "slow_loss.py").write_text(
        "import time\n\ntime.sleep(10)\n\n\ndef slow(pred, y):\n"
        '    """mean((y-ŷ)²)"""\n    return ((y - pred) ** 2).mean()\n'
    )
    (folder / "slow.yaml").write_text(
        "name: slow\ndata:\n  n_samples: 100\nloss:\n  name: custom\n"
        "  callable: slow_loss.py:slow\ntrain:\n  device: cpu\n"
    )
    app = make_app("slow")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.session.trainer is not None)
        run = app.session.trainer
        assert app.session.history.started is None  # still importing
        t0 = time.monotonic()
        await pilot.press("q", "x")
        await wait_until(pilot, lambda: not app.is_running, timeout=10)
        assert time.monotonic() - t0 < 3.0
    wait_for(lambda: not run.alive(), what="the stopped trainer process to end")


def _terminal_keys(data: str) -> list:
    """The events Textual's own parser makes of bytes read from the terminal in one read."""
    parser = XTermParser()
    return [*parser.feed(data), *parser.feed("")]


async def test_esc_and_a_letter_read_together_leave_the_field_then_act() -> None:
    """Esc then l arriving in one read is parsed as alt+l: it must leave the field and toggle
    log-y, never type the l. With a run on the screen, paused: a run flooding the app with
    thousands of epochs a second keeps Pilot from ever seeing it idle between keys (the real
    terminal's test, tests/e2e/test_tmux.py, presses them while the run trains)."""
    assert [(k.key, k.character) for k in _terminal_keys("\x1bl")] == [("alt+l", "l")]
    app = make_app("default", LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: len(app.session.history.epochs) >= 3, timeout=60)
        await pilot.press("p")
        await wait_until(pilot, lambda: app.session.state == "paused")
        lr = app.query_one("#f-optim-lr", Input)
        for i in range(4):
            await tab_to(pilot, "f-optim-lr")
            for key in _terminal_keys("\x1bl"):
                app.post_message(key)
            await wait_until(pilot, lambda i=i: app.plot.log_y == (i % 2 == 0))
            assert lr.value == "0.05" and app.focused is app.plot
        await app.session.stop_and_wait()


@pytest.mark.slow
async def test_the_processes_field_starts_a_data_parallel_run() -> None:
    """``train.processes`` is a form field: 2 there starts the run as 2 torchrun ranks (the
    status says so) that the dashboard follows and stops like any run."""
    app = make_app("default", LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        await tab_to(pilot, "f-train-processes")
        await pilot.press("2")
        await pilot.press("escape", "s")
        await wait_until(pilot, lambda: app.session.history.started is not None, timeout=60)
        assert app.session.history.started.config["train"]["processes"] == 2
        assert app.session.trainer is not None
        run_dir = app.session.trainer.run_dir
        await wait_until(pilot, lambda: len(app.session.history.epochs) >= 3, timeout=60)
        await app.session.stop_and_wait(timeout=60)  # every rank agrees to stop: seconds
        status = read_status(run_dir)
        assert status["processes"] == 2 and status["reason"] == "cancelled", status
