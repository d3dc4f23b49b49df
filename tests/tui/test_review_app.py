"""Fixes from a hands-on review: user text is never markup, the exit code, the formula line,
resizes, the top bar, compact y labels, esc in the footer, the save dialog and a prompt quit."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from textual.widgets import Input, Label

from tests.tui.conftest import SMALL, paste, tab_to, text_of, wait_until
from tests.tui.test_coefficients import table_text
from tui.app import make_app

FAST = ["data.n_samples=200", "train.device=cpu"]


async def test_custom_loss_formula_keeps_its_brackets_and_one_row() -> None:
    """ridge-custom: '[lam=0.1]' is shown, not eaten as markup; 'next' only for a new loss."""
    app = make_app("ridge-custom", FAST + ["train.epochs=100000", "early_stopping.enabled=false"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.model.started is not None)
        await pilot.pause(0.15)
        formula = text_of(app, "#formula")
        assert formula == f"loss  {app.model.started.loss_formula}"
        assert "[lam=0.1]" in formula and "next" not in formula
        app.query_one("#f-loss-l2", Input).value = "1"  # keyboard entry: test_app.py
        await pilot.pause(0.15)
        formula = text_of(app, "#formula")
        assert formula.startswith("running  ") and "\nnext     " in formula
        assert "[lam=0.1]" in formula and "+ 1·Σw²" in formula.split("next")[1]
        await app.stop_and_wait()


async def test_asymmetric_loss_runs_without_a_markup_error() -> None:
    """The engine's formula '... [under=3, over=1]' used to crash the formula line."""
    app = make_app("asymmetric", FAST + ["train.epochs=3"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.model.finished is not None)
        await pilot.pause(0.15)
        assert app.is_running and app.return_code is None
        assert "[under=3, over=1]" in text_of(app, "#formula")
        app.say("a [bold]message[/] with [brackets] and [under=3, over=1]")
        assert "[bold]message[/] with [brackets]" in text_of(app, "#topbar")


@pytest.mark.parametrize("code", [0, 1])
def test_cli_returns_the_apps_exit_code(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    import tui.app
    from tui.cli import _launch

    class FakeApp:
        return_code: int | None = None

        def run(self) -> None:
            self.return_code = code  # Textual sets 1 when the app crashed

    monkeypatch.setattr(tui.app, "make_app", lambda preset, overrides: FakeApp())
    assert _launch("default", []) == code


async def test_resize_after_a_run_fills_the_panels_it_shows() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.model.finished is not None)
        await pilot.pause(0.2)
        assert not app.query_one("#details").display
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.3)
        assert app.query_one("#details").display
        assert "bias" in table_text(app, "#coefficients")
        assert "mse" in table_text(app, "#metrics")


def _warn_preset(folder: Path) -> None:
    """A CSV preset with two constant columns: three warnings (two constant, ill-conditioned)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    rows = ["x1,x2,x3,y"]
    for _ in range(60):
        x = rng.gauss(0, 1)
        rows.append(f"{x:.4f},1.0,2.0,{2 * x + rng.gauss(0, 0.1):.4f}")
    (folder / "warn.csv").write_text("\n".join(rows) + "\n")
    (folder / "warn.yaml").write_text("name: warn\ndata:\n  source: csv\n  path: warn.csv\n"
                                      "  target: y\ntrain:\n  epochs: 3\n  device: cpu\n")


async def test_run_warnings_stay_counted_and_help_lists_them(user_presets: Path) -> None:
    _warn_preset(user_presets)
    app = make_app("warn")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.model.finished is not None)
        await pilot.pause(0.15)
        top = text_of(app, "#topbar")
        assert "⚠ 3 warnings (? lists)" in top  # still there after the run's end message
        assert 1 <= app.query_one("#topbar").size.height <= 3
        await pilot.press("question_mark")
        help_text = str(app.screen.query_one("#help Static").render())
        assert "feature 'x2' is constant" in help_text and "feature 'x3' is constant" in help_text
        assert "ill-conditioned" in help_text


async def test_long_top_bar_message_wraps_to_three_rows_at_most() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        app.say("cannot load preset — " + "a long reason that goes on " * 3 + "THE END",
                error=True)
        await pilot.pause()
        bar = app.query_one("#topbar")
        assert bar.size.height in (2, 3)
        assert "THE END" in "".join(strip.text for strip in bar.render_lines(bar.size.region))
        app.say("x " * 300)
        await pilot.pause()
        assert bar.size.height == 3


def test_linear_ticks_are_round_and_short() -> None:
    from tui.series import linear_ticks

    ticks, labels = linear_ticks(1.5, 1.2816447386598261e33)
    assert labels == ["0", "5e32", "1e33"]
    assert linear_ticks(0.0123, 0.98)[1] == ["0.2", "0.4", "0.6", "0.8"]
    assert linear_ticks(6.4137, 6.4138)[1] == ["6.4137", "6.41375", "6.4138"]  # still distinct
    assert linear_ticks(3.0, 3.0)[1] == ["3"]


async def test_diverged_run_keeps_short_y_labels() -> None:
    app = make_app("default", FAST + ["optim.lr=50", "train.epochs=300"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.model.finished is not None)
        await pilot.pause(0.15)
        assert app.model.finished.reason == "diverged"
        assert max(app.model.train_loss[:-1]) > 1e6
        lines = app.plot.render().plain.splitlines()
        axis = [line.index("┤") for line in lines if "┤" in line]
        assert axis and max(axis) <= 8, lines


async def test_footer_shows_esc_while_a_field_has_focus() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        keys = lambda: {key for key, b in app.screen.active_bindings.items()  # noqa: E731
                        if b.enabled and b.binding.show}
        assert "escape" not in keys()
        app.query_one("#f-optim-lr", Input).focus()
        await pilot.pause()
        assert "escape" in keys()
        footer = " ".join(str(k.render()) for k in app.query("FooterKey"))
        assert "esc" in footer and "Leave field" in footer
        await pilot.press("escape")
        assert app.focused is app.plot and "escape" not in keys()


async def test_save_dialog_error_wraps_inside_the_dialog() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+s")
        await pilot.pause()
        field = app.screen.query_one("#preset-name", Input)
        field.value = ""
        await paste(pilot, "default")
        await pilot.press("enter")
        await pilot.pause()
        msg = app.screen.query_one("#save-msg", Label)
        text = str(msg.render())
        assert "bundled" in text and len(text) > 56
        dialog = app.screen.query_one("#dialog")
        assert msg.size.height >= 2 and msg.region.right <= dialog.region.right
        shown = " ".join(strip.text.strip() for strip in msg.render_lines(msg.size.region))
        assert text.split()[-1] in shown


async def test_quit_during_slow_set_up_is_prompt(user_presets: Path) -> None:
    """A user loss whose import takes 1.2 s: quitting must not wait for it."""
    user_presets.mkdir(parents=True, exist_ok=True)
    (user_presets / "slow_loss.py").write_text(
        "import pathlib\nimport time\n\n"
        "MARK = pathlib.Path(__file__).with_suffix('.slept')  # the engine loads it twice\n"
        "if not MARK.exists():\n    MARK.touch()\n    time.sleep(1.2)\n\n\ndef slow(pred, y):\n"
        "    \"\"\"mean((y-ŷ)²)\"\"\"\n    return ((y - pred) ** 2).mean()\n")
    (user_presets / "slow.yaml").write_text(
        "name: slow\ndata:\n  n_samples: 100\nloss:\n  name: custom\n"
        "  callable: slow_loss.py:slow\ntrain:\n  device: cpu\n")
    app = make_app("slow")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.run_handle is not None
                         and app.run_handle.thread is not None)
        await pilot.pause(0.1)
        assert app.model.started is None  # still importing the loss
        t0 = time.monotonic()
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, timeout=5)
        assert time.monotonic() - t0 < 0.9
