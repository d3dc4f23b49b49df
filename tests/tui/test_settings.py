"""The settings form with Pilot: the formula line, the custom-loss callable, what hides when.

Each test drives the form by keyboard where a user would, and checks what the next start would
use (the RunStarted config) or what the form says, not the form's internals.
"""

from __future__ import annotations

from engine.config import LOSS_CHOICES
from textual.pilot import Pilot
from textual.widgets import Input, Label, Select

from tests.tui.conftest import SMALL, paste, tab_to, text_of, wait_until
from tui.app import make_app

RIDGE_CALLABLE = "examples/ridge_loss.py:MSEWithL2"
"""A user loss shipped beside the bundled presets (relative to their folder)."""


async def choose_loss(pilot: Pilot, name: str) -> None:
    """Pick a loss in the selector by keyboard (down from the current choice)."""
    select = pilot.app.query_one("#f-loss-name", Select)
    await tab_to(pilot, "f-loss-name")
    await pilot.press("enter")
    steps = LOSS_CHOICES.index(name) - LOSS_CHOICES.index(str(select.value))
    await pilot.press(*(["down"] * steps if steps > 0 else ["up"] * -steps), "enter")
    assert select.value == name


async def test_formula_ignores_a_bad_field_outside_the_loss() -> None:
    """val fraction 0 while early stopping monitors val_loss is a start error, not a loss one."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one("#f-data-val_fraction", Input).focus()  # tab_to is tested elsewhere:
        await pilot.press("0", "escape")  # each tab costs pilot an idle wait
        await pilot.pause()
        assert text_of(app, "#formula") == "loss  mean((y-ŷ)²)"
        await pilot.press("s")  # the start still refuses, at the val fraction field
        await pilot.pause()
        assert app.run_handle is None and "data.val_fraction" in text_of(app, "#topbar")

        # a bad loss field is named on the formula line
        await choose_loss(pilot, "huber")
        await tab_to(pilot, "f-loss-delta")
        await pilot.press("minus", "1")
        await pilot.pause()
        assert text_of(app, "#formula") == "loss  (fix loss.delta: must be > 0)"


async def test_custom_loss_is_chosen_and_typed_in_the_form() -> None:
    """Custom needs a callable: the form asks for it, checks its shape, and the run uses it."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        callable_row = app.query_one("#row-f-loss-callable")
        assert not callable_row.display  # mse: no callable to give
        await choose_loss(pilot, "custom")
        assert callable_row.display
        assert "give its callable" in text_of(app, "#formula")

        await pilot.press("escape", "s")  # empty: refused at the callable field
        await pilot.pause()
        assert app.run_handle is None
        assert "loss.callable: required" in text_of(app, "#topbar")
        error = app.query_one("#err-f-loss-callable", Label)
        assert error.display and "required" in str(error.render())

        await tab_to(pilot, "f-loss-callable")
        await pilot.press("x")  # no ":obj" part
        assert app.query_one("#f-loss-callable", Input).has_class("-invalid")
        assert "file.py:obj" in str(error.render())

        # the right shape but no such object: the engine's check fails in the run and says so
        # at the loss field, right above the callable
        await pilot.press("escape")
        await tab_to(pilot, "f-loss-callable")  # focusing selects the text: a paste replaces it
        await paste(pilot, "examples/ridge_loss.py:Nope")
        await pilot.press("escape", "s")
        await wait_until(pilot, lambda: "run failed" in text_of(app, "#topbar")
                         and app.run_handle is None)
        loss_error = app.query_one("#err-f-loss-name", Label)
        assert loss_error.display and "Nope" in str(loss_error.render())
        assert "MSEWithL2" in str(loss_error.render())  # the engine's "did you mean"

        await tab_to(pilot, "f-loss-callable")
        await paste(pilot, RIDGE_CALLABLE)
        await pilot.press("escape")
        assert not error.display and not loss_error.display
        assert text_of(app, "#formula") == f"loss  custom {RIDGE_CALLABLE}(ŷ, y)"
        await pilot.press("s")
        await wait_until(pilot, lambda: app.model.started is not None)
        loss = app.model.started.config["loss"]
        assert loss["name"] == "custom" and loss["callable"] == RIDGE_CALLABLE
        await app.stop_and_wait()


async def test_leaving_custom_drops_callable_and_params() -> None:
    """A built-in loss chosen on a custom preset must not carry loss.callable / loss.params."""
    app = make_app("ridge-custom", ["train.device=cpu"])
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.query_one("#f-loss-callable", Input).value == RIDGE_CALLABLE
        assert text_of(app, "#loss-extra") == "params: lam=0.1"
        await choose_loss(pilot, "mse")
        assert not app.query_one("#row-f-loss-callable").display
        assert not app.query_one("#loss-extra").display
        cfg = app.settings.build_config()
        assert cfg.loss.name == "mse" and cfg.loss.callable is None and cfg.loss.params == {}

        # and back to custom: the preset's callable and params are used again
        await choose_loss(pilot, "custom")
        cfg = app.settings.build_config()
        assert cfg.loss.callable == RIDGE_CALLABLE and cfg.loss.params == {"lam": 0.1}


async def test_restore_best_hides_with_early_stopping() -> None:
    """restore_best only acts when early stopping is on, so it hides with monitor/patience."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        rows = ["monitor", "patience", "min_delta", "restore_best"]

        def shown() -> list[bool]:
            return [app.query_one(f"#row-f-early_stopping-{r}").display for r in rows]

        assert shown() == [True] * 4
        app.query_one("#f-early_stopping-enabled").focus()
        await pilot.press("space")
        assert shown() == [False] * 4
        await pilot.press("space")
        assert shown() == [True] * 4
