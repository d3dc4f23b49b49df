"""The dashboard driven by Pilot as a user would: keys in, engine runs for real, screen out."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import yaml
from textual.widgets import Input, Label, Select, Static

from engine.events import EpochEnded, RunStarted
from tests.tui.conftest import LONG, SMALL, tab_to, text_of, wait_until
from tui.app import make_app
from tui.widgets.settings import NEXT_RUN_NOTE


async def test_run_early_stops_and_says_why() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.model.finished is not None)
        await pilot.pause(0.2)
        fin = app.model.finished
        assert fin.reason == "early_stopped"
        es = text_of(app, "#early-stopping")
        assert "stopped" in es
        assert "early stopped at epoch" in es and "restored epoch" in es
        assert f"wait {fin.epochs_run - fin.best_epoch}/5" in es or "wait 5/5" in es
        # every epoch kept in the history even though draws are coalesced
        assert app.model.epochs == list(range(1, fin.epochs_run + 1))
        assert "epoch" in text_of(app, "#stats")
        assert app.run_handle is None


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
        await wait_until(pilot, lambda: app.model.started is not None)
        cfg = app.model.started.config
        assert cfg["loss"]["name"] == "huber"
        assert cfg["optim"]["lr"] == 0.2
        await app.stop_and_wait()


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
        await pilot.pause(0.1)
        assert app.run_handle is None and app.model.started is None
        assert "start refused — optim.lr: must be > 0" in text_of(app, "#topbar")
        await tab_to(pilot, "f-optim-lr")
        await pilot.press(*"abc")
        assert "must be a number" in str(error.render())


async def test_engine_cross_check_is_shown_at_the_field() -> None:
    """val_fraction 0 with monitor val_loss: the engine refuses, the form names the field."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await tab_to(pilot, "f-data-val_fraction")
        await pilot.press("0")
        await pilot.press("escape", "s")
        await pilot.pause(0.1)
        assert app.run_handle is None
        assert "data.val_fraction" in text_of(app, "#topbar")
        assert app.query_one("#err-f-data-val_fraction", Label).display


async def test_pause_resume_and_stop_mid_run() -> None:
    app = make_app("default", LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: len(app.model.epochs) >= 5)
        run = app.run_handle
        await pilot.press("p")
        assert run.paused
        await pilot.pause(0.2)
        held = len(app.model.epochs)
        await pilot.pause(0.3)
        assert len(app.model.epochs) <= held + 1, "a paused run must not keep training"
        assert "paused" in text_of(app, "#stats")
        await pilot.press("p")
        assert not run.paused
        await wait_until(pilot, lambda: len(app.model.epochs) > held + 3)
        t0 = time.monotonic()
        await pilot.press("x")
        await wait_until(pilot, lambda: app.model.finished is not None, timeout=5)
        # pilot waits up to ~2 s for an idle CPU after each key while training saturates it;
        # the run itself ends after its current batch
        assert time.monotonic() - t0 < 3.0
        await pilot.pause(0.2)
        assert app.model.finished.reason == "cancelled"
        assert "stopped by you" in text_of(app, "#early-stopping")
        assert not run.thread.is_alive()


async def test_second_start_is_refused_and_edits_wait_for_the_next_run() -> None:
    app = make_app("default", LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.model.started is not None)
        await pilot.press("s")
        assert "already" in text_of(app, "#topbar")
        app.query_one("#f-optim-lr", Input).focus()
        await pilot.press("1")  # replaces the selected text (each key waits ~2 s for idle
        # under pilot while training saturates the CPU, so this test types little)
        assert app.settings.border_subtitle == NEXT_RUN_NOTE
        assert app.model.started.config["optim"]["lr"] == 0.05
        await app.stop_and_wait()


async def test_run_without_validation_split() -> None:
    """val_fraction 0 (early stopping off): no val loss all run long, and nothing breaks."""
    app = make_app("default", [*SMALL, "data.val_fraction=0", "early_stopping.enabled=false",
                               "early_stopping.monitor=train_loss"])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.model.finished is not None)
        await pilot.press("l", "m")  # log-y and smoothing with one curve only
        await pilot.pause(0.2)
        fin = app.model.finished
        assert fin.reason == "completed" and fin.epochs_run == 300
        assert app.model.val_loss == [None] * 300 and len(app.model.val_curve.raw) == 0
        assert "┤" in str(app.plot.render())  # the axes were drawn
        legend = text_of(app, "#legend")
        assert "train raw" in legend and "val" not in legend
        es = text_of(app, "#early-stopping")
        assert es.startswith("● off") and "stopped" not in es.splitlines()[0]
        stats = text_of(app, "#stats")
        assert "train " in stats and "val" not in stats


async def test_no_val_loss_and_no_best_epoch_all_run_long() -> None:
    """What the engine sends once val_fraction 0 is allowed with monitor val_loss: val_loss and
    best_epoch None at every epoch. The plot, legend and panels must draw without them."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(120, 40)) as pilot:
        started = _started()
        config = {**started.config, "early_stopping": {"enabled": False,
                                                       "monitor": "val_loss",
                                                       "min_delta": 0.0}}
        app.model.add(dataclasses.replace(started, config=config, n_val=0))
        for i, loss in enumerate([3.0, 2.0, 1.5], start=1):
            app.model.add(dataclasses.replace(_epoch(i, loss, 0.0), val_loss=None,
                                              best_epoch=None, best_monitor=None,
                                              improved=False))
        app._dirty = True  # as the worker does after filing events
        await pilot.pause(0.2)
        await pilot.press("l")
        await pilot.pause(0.2)
        assert "┤" in str(app.plot.render())
        legend = text_of(app, "#legend")
        assert "train" in legend and "val" not in legend and "best" not in legend
        es = text_of(app, "#early-stopping")
        assert es.startswith("● off") and "best" not in es
        assert "val" not in text_of(app, "#stats")


def _started(n_features: int = 1) -> RunStarted:
    return RunStarted(config={"early_stopping": {"enabled": True, "monitor": "val_loss",
                                                 "min_delta": 0.0},
                              "data": {}, "model": {"bias": True}, "name": "zero"},
                      device="cpu", device_name="cpu", n_train=4, n_val=2, n_test=0,
                      n_features=n_features, feature_names=["x1"], epochs=10,
                      loss_formula="mean((y-ŷ)²)",
                      optimum={"kind": "exact", "method": "lstsq", "loss": 0.0,
                               "weights": [1.0], "bias": 0.0})


def _epoch(i: int, train: float, val: float) -> EpochEnded:
    return EpochEnded(epoch=i, epochs=10, train_loss=train, val_loss=val, best_epoch=i,
                      best_monitor=val, improved=True, wait=0, patience=5, lr=0.1,
                      weights=[1.0], bias=0.0, elapsed_s=0.1 * i, samples_per_s=100.0)


async def test_log_y_copes_with_zero_and_negative_losses() -> None:
    """Noise-free data reaches a zero loss (and a custom loss may go negative): log-y must draw."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        for event in [_started(), _epoch(1, 4.0, 3.0), _epoch(2, 0.5, 0.0), _epoch(3, 0.0, -1.0)]:
            app.model.add(event)
        app._dirty = True  # as the worker does after filing events
        await pilot.press("l")
        await pilot.pause(0.2)
        assert app.plot.log_y and app.plot.clipped
        rendered = str(app.plot.render())
        assert "┤" in rendered  # the axes were drawn, nothing raised
        assert "≤0 at" in text_of(app, "#legend")
        await pilot.press("m")  # smoothing on top of log-y
        await pilot.pause(0.2)
        assert "EMA" in text_of(app, "#legend")
        await pilot.press("l")
        await pilot.pause(0.1)
        assert not app.plot.log_y


async def test_save_as_preset_then_load_it_back(user_presets: Path) -> None:
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
        saved = user_presets / "mine.yaml"
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


async def test_quit_mid_run_leaves_no_thread() -> None:
    app = make_app("default", LONG)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: len(app.model.epochs) >= 3)
        run = app.run_handle
        t0 = time.monotonic()
        await pilot.press("q")
        await pilot.pause()
    assert time.monotonic() - t0 < 4.0  # includes pilot's idle waits and app shutdown
    assert run.thread is not None and not run.thread.is_alive()


async def test_failed_run_is_shown_and_app_stays_usable() -> None:
    app = make_app("default", [*SMALL, "train.device=cuda:99"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.run_handle is None and "failed" in
                         text_of(app, "#topbar"))
        assert "train.device" in text_of(app, "#topbar")
        assert app.query_one("#err-f-train-device", Label).display
        app.query_one("#f-train-device", Select).value = "cpu"
        await pilot.press("escape", "s")
        await wait_until(pilot, lambda: app.model.finished is not None)


async def test_help_lists_keys_and_formulas() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        text = str(app.screen.query_one(Static).render())
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
        "asyncio.run(main())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert "torch_at_mount False" in out.stdout


def test_cli_train_does_not_import_textual() -> None:
    code = ("import sys\nfrom tui.cli import main\n"
            "assert 'textual' not in sys.modules and 'torch' not in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
