"""Review fixes: plain-text messages, stale cross-check errors, params/terms fields, panel widths.

Each test drives the dashboard with Pilot as a user would (or files hand-made engine events into
the run model, as the worker does, where a real run would only be slower), and checks what the
screen says.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from rich.console import Console
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Input, Label, Select

from engine.config import LOSS_CHOICES
from engine.events import EpochEnded, RunFinished, RunStarted
from tests.tui.conftest import SMALL, paste, tab_to, text_of, wait_until
from tui.app import make_app
from tui.widgets.settings import NEXT_RUN_NOTE

ASYMMETRIC = "examples/asymmetric_loss.py:asymmetric_mse"


def error_text(app, key: str) -> str | None:
    """The error line under a field, or None when it is not shown."""
    label = app.query_one(f"#err-f-{key.replace('.', '-')}", Label)
    return str(label.render()) if label.display else None


def lines_of(app, selector: str) -> list[str]:
    """A panel's lines as drawn at its content width (for Rich renderables such as tables)."""
    widget = app.query_one(selector)
    console = Console(width=widget.content_size.width, color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(widget.content)
    return [line.rstrip() for line in capture.get().splitlines()]


async def choose(pilot: Pilot, widget_id: str, value: str) -> None:
    """Pick ``value`` in a Select by keyboard: open it, arrow to the option, enter."""
    select = pilot.app.query_one(f"#{widget_id}", Select)
    values = [str(v) for _, v in select._options]
    select.focus()
    await pilot.press("enter")
    steps = values.index(value) - values.index(str(select.value))
    await pilot.press(*(["down"] * steps if steps > 0 else ["up"] * -steps), "enter")
    await pilot.pause()
    assert select.value == value


# -- 1, 2: user and engine text is never markup --------------------------------------------------

async def test_user_loss_error_with_brackets_is_shown_as_text(tmp_path: Path) -> None:
    """A user loss that raises ValueError("bad [a=1, b=2] here") must not crash the app."""
    loss_file = tmp_path / "bad_loss.py"
    loss_file.write_text("def bad(pred, target):\n"
                         "    raise ValueError('bad [a=1, b=2] here')\n")
    app = make_app("default", [*SMALL, "loss.name=custom", f"loss.callable={loss_file}:bad"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.run_handle is None
                         and "run failed" in text_of(app, "#topbar"))
        await pilot.pause()
        shown = error_text(app, "loss.name")
        assert shown is not None and "bad [a=1, b=2] here" in shown
        assert "bad [a=1, b=2] here" in text_of(app, "#topbar")


async def test_preset_description_with_brackets(user_presets: Path) -> None:
    """A user preset described as "tuned [lr=0.1, bs=64]" loads at launch and when picked."""
    user_presets.mkdir(parents=True, exist_ok=True)
    (user_presets / "tuned.yaml").write_text(
        'description: "tuned [lr=0.1, bs=64] by hand"\n'
        "optim: {lr: 0.1, batch_size: 64}\ntrain: {device: cpu}\n")
    app = make_app("tuned")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert text_of(app, "#preset-desc") == "tuned [lr=0.1, bs=64] by hand"
        await choose(pilot, "preset", "default")
        assert "classic first regression" in text_of(app, "#preset-desc")
        await choose(pilot, "preset", "tuned")
        assert text_of(app, "#preset-desc") == "tuned [lr=0.1, bs=64] by hand"
        assert app.query_one("#f-optim-batch_size", Input).value == "64"


# -- 3: errors that no longer apply go ---------------------------------------------------------

async def test_cross_check_error_clears_once_answered_elsewhere() -> None:
    """val fraction 0 + monitor val_loss is refused at both fields; switching the monitor to
    train_loss answers it, so the val fraction's error goes (and the run completes)."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one("#f-data-val_fraction", Input).focus()
        await pilot.press("0", "escape", "s")
        await pilot.pause()
        assert app.run_handle is None
        assert "val_fraction" in (error_text(app, "data.val_fraction") or "")
        assert "val_fraction" in (error_text(app, "early_stopping.monitor") or "")

        app.query_one("#f-optim-lr", Input).focus()  # an unrelated edit: still refused
        await pilot.press("end", "1", "escape")
        await pilot.pause()
        assert error_text(app, "data.val_fraction") is not None

        await choose(pilot, "f-early_stopping-monitor", "train_loss")
        assert error_text(app, "data.val_fraction") is None
        assert error_text(app, "early_stopping.monitor") is None
        await pilot.press("escape", "s")
        await wait_until(pilot, lambda: app.model.finished is not None)
        assert error_text(app, "data.val_fraction") is None


async def test_successful_start_clears_the_last_runs_failure() -> None:
    """A run failure marked at a field is cleared by the next start that the form accepts."""
    app = make_app("default", [*SMALL, "train.device=cuda:99"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.run_handle is None
                         and "failed" in text_of(app, "#topbar"))
        assert error_text(app, "train.device") is not None
        app.settings.build_config()  # what a start or a save does first: the form is fine
        assert error_text(app, "train.device") is None


# -- 4: params and terms are edited in the form -------------------------------------------------

async def test_custom_params_are_edited_in_the_form() -> None:
    """ridge-custom with the asymmetric callable: 'lam' is refused at params; new params run."""
    app = make_app("ridge-custom", ["train.device=cpu", "train.epochs=20"])
    async with app.run_test(size=(80, 24)) as pilot:
        params = app.query_one("#f-loss-params", Input)
        assert app.query_one("#row-f-loss-params").display
        assert params.value == "{lam: 0.1}"
        await tab_to(pilot, "f-loss-callable")
        await paste(pilot, ASYMMETRIC)
        await pilot.press("escape", "s")
        await wait_until(pilot, lambda: app.run_handle is None
                         and "run failed" in text_of(app, "#topbar"))
        await pilot.pause()
        assert "unknown parameter 'lam'" in (error_text(app, "loss.params") or "")

        params.focus()  # focusing selects the text: a paste replaces it
        await paste(pilot, "{under: 3")
        assert params.has_class("-invalid")
        assert "not valid YAML" in (error_text(app, "loss.params") or "")
        params.value = ""
        await paste(pilot, "{under:3}")  # YAML reads one key "under:3": the hint says so
        extra = app.query_one("#loss-extra")
        assert extra.display and text_of(app, "#loss-extra") == "params: under:3=None"
        params.value = ""
        await paste(pilot, "{under: 3, over: 1}")
        assert error_text(app, "loss.params") is None
        assert not extra.display  # typed as it is read: nothing to add
        await pilot.press("escape", "s")
        await wait_until(pilot, lambda: app.model.finished is not None)
        loss = app.model.started.config["loss"]
        assert loss["callable"] == ASYMMETRIC and loss["params"] == {"under": 3, "over": 1}


async def test_combined_terms_are_prefilled_checked_and_used() -> None:
    """Combined on default: terms appear with an example, are checked by the engine as typed,
    and leave the config when another loss is chosen."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        terms = app.query_one("#f-loss-terms", Input)
        assert not app.query_one("#row-f-loss-terms").display
        assert not app.query_one("#row-f-loss-params").display
        await choose(pilot, "f-loss-name", "combined")
        assert app.query_one("#row-f-loss-terms").display
        assert terms.value == "[{name: mse, weight: 0.7}, {name: mae, weight: 0.3}]"
        assert text_of(app, "#formula") == "loss  0.7·mean((y-ŷ)²) + 0.3·mean(|y-ŷ|)"

        terms.focus()
        await paste(pilot, "[{name: mse, weight: -1}]")
        assert terms.has_class("-invalid")
        assert "loss.terms[0].weight must be >= 0" in (error_text(app, "loss.terms") or "")
        terms.value = ""
        await paste(pilot, "[{name: huber, weight: 1, params: {delta: 2}}, {name: mae}]")
        assert error_text(app, "loss.terms") is None
        assert "δ=2" in text_of(app, "#formula")
        cfg = app.settings.build_config()
        assert cfg.loss.name == "combined" and cfg.loss.terms == [
            {"name": "huber", "weight": 1, "params": {"delta": 2}}, {"name": "mae"}]

        terms.value = ""  # no terms: the formula says what is missing, the start names the field
        await pilot.pause()
        assert "give its terms" in text_of(app, "#formula")
        await pilot.press("escape", "s")
        await pilot.pause()
        assert app.run_handle is None and "loss.terms" in text_of(app, "#topbar")
        assert error_text(app, "loss.terms") is not None

        await choose(pilot, "f-loss-name", "mse")  # terms and params never reach other losses
        assert not app.query_one("#row-f-loss-terms").display
        cfg = app.settings.build_config()
        assert cfg.loss.name == "mse" and cfg.loss.terms is None and cfg.loss.params == {}


def test_every_loss_choice_has_what_it_needs() -> None:
    """The form covers every loss the engine offers (custom: callable+params, combined: terms)."""
    from tui.widgets.settings import SPECS
    assert {"loss.callable", "loss.params", "loss.terms"} <= set(SPECS)
    assert "custom" in LOSS_CHOICES and "combined" in LOSS_CHOICES


# -- 5, 6, 9: panels fit and say what their numbers are ----------------------------------------

def _started(epochs: int = 10, std_y: bool = False) -> RunStarted:
    return RunStarted(config={"early_stopping": {"enabled": True, "monitor": "val_loss",
                                                 "min_delta": 0.0},
                              "data": {"standardize_target": std_y}, "model": {"bias": True},
                              "name": "t"},
                      device="cpu", device_name="A [test] CPU", n_train=4, n_val=2, n_test=2,
                      n_features=1, feature_names=["x[a=1, b=2]"], epochs=epochs,
                      loss_formula="mean((y-ŷ)²)")


def _epoch(i: int, epochs: int = 10, elapsed: float = 1.0) -> EpochEnded:
    return EpochEnded(epoch=i, epochs=epochs, train_loss=330.5, val_loss=18.18, best_epoch=i,
                      best_monitor=18.18, improved=True, wait=0, patience=5, lr=0.1,
                      weights=[1.0], bias=0.0, elapsed_s=elapsed, samples_per_s=100.0)


METRICS = {"train": {"mse": 330.5, "rmse": 18.18, "mae": 6.055, "r2": 0.00838},
           "val": {"mse": 8.574e5, "rmse": -1234.5678, "mae": 0.123456, "r2": -0.98765},
           "test": {"mse": 12345678.0, "rmse": 1e-12, "mae": 100.0, "r2": 1.0}}


def _finished(reason: str) -> RunFinished:
    return RunFinished(reason=reason, epochs_run=3, best_epoch=3, best_monitor=18.18,
                       weights=[1.0], bias=0.0, message=f"ended [{reason}]", metrics=METRICS)


async def _file(pilot: Pilot, *events) -> None:
    for event in events:
        pilot.app.model.add(event)
    pilot.app._dirty = True  # as the worker does after filing events
    await pilot.pause(0.2)


async def test_metrics_columns_are_one_space_apart_inside_the_panel() -> None:
    app = make_app("default", SMALL, frozen_clock=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await _file(pilot, _started(), _epoch(1), _finished("completed"))
        panel = app.query_one("#metrics")
        lines = lines_of(app, "#metrics")
        assert lines[0].split() == ["mse", "rmse", "mae", "r2"]
        for split, line in zip(["train", "val", "test"], lines[1:4]):
            cells = line.split()
            assert cells[0] == split and len(cells) == 5, line
            assert len(line) <= panel.content_size.width
        assert "330.5 18.18  6.055 0.0084" in lines[1]
        assert any("x[a=1, b=2]" in line for line in lines_of(app, "#coefficients"))  # not markup


async def test_run_line_never_wraps_at_80_columns() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await _file(pilot, _started(epochs=100000), _epoch(24512, 100000, elapsed=16.06))
        stats = app.query_one("#stats")
        lines = text_of(app, "#stats").splitlines()
        assert lines[0].startswith("epoch 24512/100000 ") and "25%" in lines[0]
        assert all(len(line) <= stats.content_size.width for line in lines), lines
        assert "A [test] CPU" in Content.from_markup(stats.border_title).plain


@pytest.mark.parametrize(("reason", "state"), [("completed", "● completed"),
                                               ("early_stopped", "● stopped"),
                                               ("diverged", "● diverged"),
                                               ("cancelled", "● cancelled")])
async def test_early_stopping_state_says_how_the_run_ended(reason: str, state: str) -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await _file(pilot, _started(), _epoch(3), _finished(reason))
        head, message = text_of(app, "#early-stopping").splitlines()[:2]
        assert head.startswith(state + "  ") and message == f"ended [{reason}]"


async def test_standardised_target_units_are_labelled() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(120, 40)) as pilot:
        await _file(pilot, _started(std_y=True), _epoch(1))
        assert "(loss in std units of y)" in text_of(app, "#stats")
        assert "raw y units" in str(app.query_one("#metrics").border_title)
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await _file(pilot, _started(std_y=True),
                    dataclasses.replace(_epoch(1), metrics={"train": METRICS["train"]}))
        stats = text_of(app, "#stats")
        assert "std" in stats.splitlines()[1] and "raw y)" in stats
        width = app.query_one("#stats").content_size.width
        assert all(len(line) <= width for line in stats.splitlines())


# -- 7, 8: the settings panel at 80 columns ----------------------------------------------------

async def test_error_under_the_last_field_is_scrolled_into_view() -> None:
    app = make_app("default", [*SMALL, "train.device=cuda:99"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.run_handle is None
                         and "failed" in text_of(app, "#topbar"))
        await pilot.pause(0.2)
        label = app.query_one("#err-f-train-device", Label)
        visible = app.settings.content_region
        assert label.display and label.region.height > 0
        assert visible.contains_region(label.region), (label.region, visible)


def test_next_run_note_fits_the_settings_border_at_80_columns() -> None:
    # #settings is 31 wide at 80 columns: 2 corners and a space either side of the subtitle
    assert len(NEXT_RUN_NOTE) <= 31 - 4


async def test_early_stopping_line_never_wraps_at_80_columns() -> None:
    """wait 24891/100000 with a best value: the bar goes before anything wraps."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        epoch = dataclasses.replace(_epoch(24932, 100000), wait=24891, patience=100000,
                                    best_epoch=41, best_monitor=0.3255, improved=False)
        await _file(pilot, _started(epochs=100000), epoch)
        width = app.query_one("#early-stopping").content_size.width
        head = text_of(app, "#early-stopping").splitlines()[0]
        assert head == "● waiting  wait 24891/100000  best 0.3255 @ 41" and len(head) <= width
        await _file(pilot, dataclasses.replace(_finished("cancelled"), best_epoch=41,
                                               best_monitor=0.3255))
        head = text_of(app, "#early-stopping").splitlines()[0]
        assert head.startswith("● cancelled ") and "best 0.3255@41" in head
        assert len(head) <= width
