"""The settings panel with Pilot: the formula line, the custom-loss callable, params and terms,
what hides when, engine refusals at their field, and errors kept in view.

Each test drives the form by keyboard where a user would, and checks what the next start would
use (the RunStarted config) or what the panel shows. The form's rules themselves are unit-tested
without an app in test_form.py.
"""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input, Label, Select

from engine.config import loss_choices
from engine.config.presets import bundled_dir
from tests.tui.conftest import SMALL, choose, error_text, paste, tab_to, text_of, wait_until
from tui.app import make_app
from tui.widgets.settings import NEXT_RUN_NOTE

RIDGE_CALLABLE = "examples/ridge_loss.py:MSEWithL2"
"""A user loss shipped beside the bundled presets (relative to their folder)."""
ASYMMETRIC = "examples/asymmetric_loss.py:asymmetric_mse"


def as_recorded(spec: str) -> str:
    """A ``file.py:obj`` typed relative to the bundled presets' folder, as the run directory's
    config records it: absolute, so the run reproduces from any working directory."""
    path, obj = spec.split(":")
    return f"{(bundled_dir() / path).resolve()}:{obj}"


async def choose_loss(pilot: Pilot, name: str) -> None:
    """Pick a loss in the selector by keyboard (down from the current choice)."""
    select = pilot.app.query_one("#f-loss-name", Select)
    await tab_to(pilot, "f-loss-name")
    await pilot.press("enter")
    choices = loss_choices()
    steps = choices.index(name) - choices.index(str(select.value))
    await pilot.press(*(["down"] * steps if steps > 0 else ["up"] * -steps), "enter")
    assert select.value == name


def refused(app) -> bool:
    return app.session.trainer is None and "refused" in text_of(app, "#topbar")


async def test_formula_ignores_a_bad_field_outside_the_loss() -> None:
    """val fraction 0 while early stopping monitors val_loss is a start error, not a loss one."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one("#f-data-val_fraction", Input).focus()  # tab_to is tested elsewhere:
        await pilot.press("0", "escape")  # each tab costs pilot an idle wait
        await pilot.pause()
        assert text_of(app, "#formula") == "loss  mean((y-ŷ)²)"
        await pilot.press("s")  # the start still refuses, naming the key the engine names
        await wait_until(pilot, lambda: refused(app))
        assert "early_stopping.monitor" in text_of(app, "#topbar")

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
        await wait_until(pilot, lambda: refused(app))
        assert "loss.callable: loss.callable is required" in text_of(app, "#topbar")
        assert "required" in (error_text(app, "loss.callable") or "")

        await tab_to(pilot, "f-loss-callable")
        await pilot.press("x")  # no ":obj" part
        assert app.query_one("#f-loss-callable", Input).has_class("-invalid")
        assert "file.py:obj" in (error_text(app, "loss.callable") or "")

        # the right shape but no such object: the engine's check fails in the run and says so
        # at the callable (the key the engine names)
        await pilot.press("escape")
        await tab_to(pilot, "f-loss-callable")  # focusing selects the text: a paste replaces it
        await paste(pilot, "examples/ridge_loss.py:Nope")
        await pilot.press("escape", "s")
        await wait_until(
            pilot, lambda: "run failed" in text_of(app, "#topbar") and app.session.trainer is None
        )
        shown = error_text(app, "loss.callable") or ""
        assert "Nope" in shown and "MSEWithL2" in shown  # the engine's "did you mean"

        await tab_to(pilot, "f-loss-callable")
        await paste(pilot, RIDGE_CALLABLE)
        await pilot.press("escape")
        assert error_text(app, "loss.callable") is None
        assert text_of(app, "#formula") == f"loss  custom {RIDGE_CALLABLE}(ŷ, y)"
        await pilot.press("s")
        await wait_until(pilot, lambda: app.session.history.started is not None)
        loss = app.session.history.started.config["loss"]
        assert loss["name"] == "custom" and loss["callable"] == as_recorded(RIDGE_CALLABLE)
        await app.session.stop_and_wait()


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


async def test_preset_description_with_brackets(isolated_config_home) -> None:
    """A user preset described as "tuned [lr=0.1, bs=64]" loads at launch and when picked."""
    isolated_config_home.mkdir(parents=True, exist_ok=True)
    (isolated_config_home / "tuned.yaml").write_text(
        'description: "tuned [lr=0.1, bs=64] by hand"\n'
        "optim: {lr: 0.1, batch_size: 64}\ntrain: {device: cpu}\n"
    )
    app = make_app("tuned")
    async with app.run_test(size=(80, 24)) as pilot:
        assert text_of(app, "#preset-desc") == "tuned [lr=0.1, bs=64] by hand"
        await choose(pilot, "preset", "default")
        await wait_until(pilot, lambda: "classic first regression" in text_of(app, "#preset-desc"))
        await choose(pilot, "preset", "tuned")
        await wait_until(
            pilot, lambda: text_of(app, "#preset-desc") == "tuned [lr=0.1, bs=64] by hand"
        )
        assert app.query_one("#f-optim-batch_size", Input).value == "64"


async def test_cross_check_error_clears_once_answered_elsewhere() -> None:
    """val fraction 0 + monitor val_loss is refused at the monitor (the engine's key);
    switching the monitor to train_loss answers it, and the run completes."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one("#f-data-val_fraction", Input).focus()
        await pilot.press("0", "escape", "s")
        await wait_until(pilot, lambda: refused(app))
        assert "val_fraction" in (error_text(app, "early_stopping.monitor") or "")

        app.query_one("#f-optim-lr", Input).focus()  # an unrelated edit: still refused
        await pilot.press("end", "1", "escape")
        await pilot.pause()
        assert error_text(app, "early_stopping.monitor") is not None

        await choose(pilot, "f-early_stopping-monitor", "train_loss")
        assert error_text(app, "early_stopping.monitor") is None
        await pilot.press("escape", "s")
        await wait_until(pilot, lambda: app.session.history.finished is not None)
        assert error_text(app, "data.val_fraction") is None


async def test_successful_start_clears_the_last_runs_failure() -> None:
    """A run failure marked at a field is cleared by the next start that the form accepts."""
    app = make_app("default", [*SMALL, "train.device=cuda:99"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(
            pilot, lambda: app.session.trainer is None and "failed" in text_of(app, "#topbar")
        )
        assert error_text(app, "train.device") is not None
        app.settings.build_config()  # what a start or a save does first: the form is fine
        assert error_text(app, "train.device") is None


async def test_custom_params_are_edited_in_the_form() -> None:
    """ridge-custom with the asymmetric callable: 'lam' is refused; new params run."""
    app = make_app("ridge-custom", ["train.device=cpu", "train.epochs=20"])
    async with app.run_test(size=(80, 24)) as pilot:
        params = app.query_one("#f-loss-params", Input)
        assert app.query_one("#row-f-loss-params").display
        assert params.value == "{lam: 0.1}"
        await tab_to(pilot, "f-loss-callable")
        await paste(pilot, ASYMMETRIC)
        await pilot.press("escape", "s")
        await wait_until(
            pilot, lambda: app.session.trainer is None and "run failed" in text_of(app, "#topbar")
        )
        assert "unknown parameter 'lam'" in (error_text(app, "loss.callable") or "")

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
        await wait_until(pilot, lambda: app.session.history.finished is not None)
        loss = app.session.history.started.config["loss"]
        assert loss["callable"] == as_recorded(ASYMMETRIC) and loss["params"] == {
            "under": 3,
            "over": 1,
        }


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
            {"name": "huber", "weight": 1, "params": {"delta": 2}},
            {"name": "mae"},
        ]

        terms.value = ""  # no terms: the formula says what is missing, the start names the field
        await pilot.pause()
        assert "give its terms" in text_of(app, "#formula")
        await pilot.press("escape", "s")
        await wait_until(pilot, lambda: refused(app))
        assert "loss.terms" in text_of(app, "#topbar")
        assert error_text(app, "loss.terms") is not None

        await choose(pilot, "f-loss-name", "mse")  # terms and params never reach other losses
        assert not app.query_one("#row-f-loss-terms").display
        cfg = app.settings.build_config()
        assert cfg.loss.name == "mse" and cfg.loss.terms is None and cfg.loss.params == {}


async def test_error_under_the_last_field_is_scrolled_into_view() -> None:
    app = make_app("default", [*SMALL, "train.device=cuda:99"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        label = app.query_one("#err-f-train-device", Label)

        def in_view() -> bool:
            return (
                label.display
                and label.region.height > 0
                and app.settings.content_region.contains_region(label.region)
            )

        await wait_until(pilot, lambda: "failed" in text_of(app, "#topbar") and in_view())


def test_next_run_note_fits_the_settings_border_at_80_columns() -> None:
    # #settings is 31 wide at 80 columns: 2 corners and a space either side of the subtitle
    assert len(NEXT_RUN_NOTE) <= 31 - 4
