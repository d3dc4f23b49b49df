"""The lines that say what is going on: the formula line (one row unless the next start's loss
differs), the top bar (state, warnings, messages as plain text), and the footer's keys."""

from __future__ import annotations

import random
from pathlib import Path

from textual.widgets import Input

from tests.tui.conftest import SMALL, file_events, fit_events, table_text, text_of, wait_until
from tui.app import make_app

FAST = ["data.n_samples=200", "train.device=cpu"]


async def test_custom_loss_formula_keeps_its_brackets_and_one_row() -> None:
    """ridge-custom: '[lam=0.1]' is shown, not eaten as markup; 'next' only for a new loss."""
    app = make_app("ridge-custom", FAST + ["train.epochs=100000", "early_stopping.enabled=false"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: app.session.history.started is not None)
        await app.painter.redraw_now()
        formula = text_of(app, "#formula")
        assert formula == f"loss  {app.session.history.started.loss_formula}"
        assert "[lam=0.1]" in formula and "next" not in formula
        app.query_one("#f-loss-l2", Input).value = "1"  # keyboard entry: test_app.py
        await wait_until(pilot, lambda: "\nnext     " in text_of(app, "#formula"))
        formula = text_of(app, "#formula")
        assert formula.startswith("running  ")
        assert "[lam=0.1]" in formula and "+ 1·Σw²" in formula.split("next")[1]
        await app.session.stop_and_wait()


async def test_asymmetric_loss_runs_without_a_markup_error() -> None:
    """The engine's formula '... [under=3, over=1]' used to crash the formula line (the
    engine's own events, recorded)."""
    app = make_app("asymmetric", FAST + ["train.epochs=3"])
    async with app.run_test(size=(80, 24)) as pilot:
        await file_events(pilot, *fit_events("asymmetric", FAST + ["train.epochs=3"]))
        assert app.is_running and app.return_code is None
        assert "[under=3, over=1]" in text_of(app, "#formula")
        app.say("a [bold]message[/] with [brackets] and [under=3, over=1]", error=True)
        assert "[bold]message[/] with [brackets]" in text_of(app, "#topbar")


def _warn_preset(folder: Path) -> None:
    """A CSV preset with two constant columns: three warnings (two constant, ill-conditioned)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    rows = ["x1,x2,x3,y"]
    for _ in range(60):
        x = rng.gauss(0, 1)
        rows.append(f"{x:.4f},1.0,2.0,{2 * x + rng.gauss(0, 0.1):.4f}")
    (folder / "warn.csv").write_text("\n".join(rows) + "\n")
    (folder / "warn.yaml").write_text(
        "name: warn\ndata:\n  source: csv\n  path: warn.csv\n"
        "  target: y\ntrain:\n  epochs: 3\n  device: cpu\n"
    )


async def test_run_warnings_stay_counted_and_help_lists_them(isolated_config_home: Path) -> None:
    _warn_preset(isolated_config_home)
    app = make_app("warn")
    async with app.run_test(size=(80, 24)) as pilot:
        await file_events(pilot, *fit_events("warn"))
        top = text_of(app, "#topbar")
        assert "⚠ 3 warnings (? lists)" in top  # still there after the run's end message
        assert 1 <= app.query_one("#topbar").size.height <= 3
        await pilot.press("question_mark")
        help_text = table_text(app.screen, "#help Static")
        assert "feature 'x2' is constant" in help_text and "feature 'x3' is constant" in help_text
        assert "ill-conditioned" in help_text


async def test_long_error_keeps_the_top_bar_to_one_row_and_toasts_it_whole() -> None:
    """An error no longer wraps the top bar (the plot kept losing rows to it): one row cut
    with "…", and the whole text in a toast."""
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:  # toasts drawn
        bar = app.query_one("#topbar")
        long = "cannot load preset — " + "a long reason that goes on " * 3 + "THE END"
        app.say(long, error=True)

        def toasts() -> list[str]:
            return [" ".join(str(t.render()).split()) for t in app.screen.query("Toast")]

        await wait_until(pilot, lambda: bool(toasts()))
        assert bar.size.height == 1
        assert app.screen._compositor.render_strips()[0].text.rstrip().endswith("…")
        assert toasts() == [long]
        assert app.screen.query_one("Toast").has_class("-error")
        app.say("a note, not an error, " * 10)  # a note: the top bar only, no toast
        await pilot.pause()
        assert bar.size.height == 1 and len(toasts()) == 1


async def test_footer_shows_esc_while_a_field_has_focus() -> None:
    app = make_app("default", SMALL)
    async with app.run_test(size=(80, 24)) as pilot:

        def keys():
            return {
                key for key, b in app.screen.active_bindings.items() if b.enabled and b.binding.show
            }

        assert "escape" not in keys()
        app.query_one("#f-optim-lr", Input).focus()

        def footer() -> str:
            return " ".join(str(k.render()) for k in app.query("FooterKey"))

        await wait_until(pilot, lambda: "escape" in keys() and "Leave field" in footer())
        assert "esc" in footer()
        await pilot.press("escape")
        assert app.focused is app.plot and "escape" not in keys()
