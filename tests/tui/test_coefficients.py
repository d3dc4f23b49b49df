"""Weights on screen in the units a user can compare: raw units beside the truth, during the run.

Learned weights train in standardised units; each EpochEnded also carries them in raw units, and
the optimum comes in both. This test pauses a real run mid-way and reads the panels (hand-made
events for the corner cases are in test_panels.py).
"""

from __future__ import annotations

from tests.tui.conftest import LONG, table_text, text_of, wait_until
from tui.app import make_app
from tui.series import fmt_num
from tui.widgets.panels import fmt_list


async def test_raw_weights_sit_beside_the_truth_during_the_run() -> None:
    app = make_app("default", LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: len(app.session.history.epochs) >= 3)
        app.action_pause()  # what p does; the key itself is tested in test_app, and pilot
        # waits up to a second or two for an idle CPU per key while a run saturates it
        started = app.session.history.started
        assert started.x_mean is not None, "the default preset standardises its features"
        assert started.true_weights is not None

        def panels_show_the_last_epoch() -> None:
            """Stats and table against the newest epoch filed (one synchronous look: no event
            can be filed between reading the history and reading the screen)."""
            # past epoch FULL_WEIGHT_EPOCHS the log keeps weights for one epoch in WEIGHT_STRIDE,
            # and the panels show the latest epoch that has them (a quick trainer gets there)
            last, opt = app.session.history.last_weighted, started.optimum
            stats = text_of(app, "#stats")
            assert (
                f"w raw {fmt_list(last.weights_original, 5, 4)}  b {fmt_num(last.bias_original, 4)}"
            ) in stats
            assert (
                f"true  {fmt_list(started.true_weights, 5, 4)}  b {fmt_num(started.true_bias, 4)}"
            ) in stats
            table = table_text(app, "#coefficients")
            header = table.splitlines()[0].split()
            assert header == ["coef", "w", "std", "opt", "std", "w", "raw", "opt", "raw", "true"]
            x1 = next(line for line in table.splitlines() if line.startswith("x1 ")).split()
            assert x1[1:] == [
                fmt_num(last.weights[0]),
                fmt_num(opt["weights"][0]),
                fmt_num(last.weights_original[0]),
                fmt_num(opt["weights_original"][0]),
                fmt_num(started.true_weights[0]),
            ]

        def drawn() -> bool:
            try:
                panels_show_the_last_epoch()
            except AssertionError:
                return False
            return True

        # The trainer is another process: epochs it wrote before the pause reached it are still
        # filed, and the screen catches up at the next redraw. Wait for the two to agree.
        try:
            await wait_until(pilot, drawn, timeout=10)
        finally:
            panels_show_the_last_epoch()  # on a time-out, says what differs
        assert app.session.history.finished is None  # during the run, not after it
        await app.session.stop_and_wait()
