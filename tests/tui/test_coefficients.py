"""Weights on screen in the units a user can compare: raw units beside the truth, during the run.

Learned weights train in standardised units; each EpochEnded also carries them in raw units, and
the optimum comes in both. These tests pause a real run mid-way and read the panels.
"""

from __future__ import annotations

import io

from rich.console import Console
from textual.widgets import Static

from engine.events import EpochEnded, RunStarted
from tests.tui.conftest import LONG, text_of, wait_until
from tui.app import LinregApp, make_app
from tui.series import fmt_num
from tui.widgets.panels import fmt_list


def table_text(app: LinregApp, selector: str) -> str:
    """What a panel holding a Rich table shows, as plain text at the panel's width."""
    widget = app.query_one(selector, Static)
    console = Console(width=max(widget.content_size.width, 20), color_system=None,
                      record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


async def test_raw_weights_sit_beside_the_truth_during_the_run() -> None:
    app = make_app("default", LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: len(app.model.epochs) >= 3)
        app.action_pause()  # what p does; the key itself is tested in test_app, and pilot
        # waits up to a second or two for an idle CPU per key while a run saturates it
        started = app.model.started
        assert started.x_mean is not None, "the default preset standardises its features"
        assert started.true_weights is not None

        def stats_show_raw_units() -> bool:
            last = app.model.last
            return (f"w raw {fmt_list(last.weights_original, 5, 4)}  "
                    f"b {fmt_num(last.bias_original, 4)}" in text_of(app, "#stats"))

        await wait_until(pilot, stats_show_raw_units, timeout=5)
        assert app.model.finished is None  # during the run, not after it
        stats = text_of(app, "#stats")
        assert (f"true  {fmt_list(started.true_weights, 5, 4)}  "
                f"b {fmt_num(started.true_bias, 4)}") in stats

        table = table_text(app, "#coefficients")
        header = table.splitlines()[0].split()
        assert header == ["coef", "w", "std", "opt", "std", "w", "raw", "opt", "raw", "true"]
        x1 = next(line for line in table.splitlines() if line.startswith("x1 ")).split()
        last, opt = app.model.last, started.optimum
        assert x1[1:] == [fmt_num(last.weights[0]), fmt_num(opt["weights"][0]),
                          fmt_num(last.weights_original[0]),
                          fmt_num(opt["weights_original"][0]),
                          fmt_num(started.true_weights[0])]
        await app.stop_and_wait()


def _started(features: list[str], true_weights: list[float]) -> RunStarted:
    """A standardised run whose true weights are shorter than its features (poly columns)."""
    return RunStarted(
        config={"early_stopping": {"enabled": True, "monitor": "val_loss", "min_delta": 0.0},
                "data": {}, "model": {"bias": True}, "name": "poly"},
        device="cpu", device_name="cpu", n_train=8, n_val=2, n_test=0,
        n_features=len(features), feature_names=features, epochs=10, loss_formula="mse",
        true_weights=true_weights, true_bias=0.5, x_mean=[0.0] * len(features),
        x_std=[1.0] * len(features),
        optimum={"kind": "exact", "method": "lstsq", "loss": 0.1, "weights": [1.0, 2.0],
                 "bias": 0.0, "weights_original": [1.5, 2.5], "bias_original": 0.25})


async def test_true_weights_shorter_than_the_features_do_not_break_the_panels() -> None:
    """With data.poly_degree > 1 the truth may cover only the raw columns: show "—" there."""
    app = make_app("default", LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        app.model.add(_started(["x1", "x1^2"], [3.0]))
        app.model.add(EpochEnded(
            epoch=1, epochs=10, train_loss=1.0, val_loss=1.2, best_epoch=1, best_monitor=1.2,
            improved=True, wait=0, patience=5, lr=0.1, weights=[0.9, 1.9], bias=0.1,
            elapsed_s=0.1, samples_per_s=80.0, weights_original=[1.4, 2.4], bias_original=0.2))
        app._dirty = True  # as the training worker does after filing events
        await pilot.pause(0.2)
        assert "true  3  b 0.5" in text_of(app, "#stats")
        rows = {line.split()[0]: line.split() for line in
                table_text(app, "#coefficients").splitlines()[1:] if line.strip()}
        assert rows["x1^2"][1:] == ["1.9", "2", "2.4", "2.5", "—"]
        assert rows["bias"][1:] == ["0.1", "0", "0.2", "0.25", "0.5"]
