"""The loss lab screen (``i``) at 80x24 under Pilot, on real runs made by the real CLI.

Each view's numbers are checked against the engine's lab functions called here on their own
(or a closed form: the least-squares optimum), the keys that switch views and choices are
pressed as a user would, and every line a view writes must be on screen whole.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from textual.pilot import Pilot

from engine.config.presets import load_config
from engine.core.events import RunStarted
from engine.core.numbers import fmt_number
from engine.data.dataset import load_dataset
from engine.lab.inspect import LoadedRun, inspect_run
from engine.lab.path import regularisation_path
from engine.lab.shape import ResidualLoss, loss_shape
from engine.runs.log import RunLog
from tests.runs_helpers import ROOT, run
from tests.tui.conftest import wait_until
from tui.app import make_app
from tui.lab.screen import LabScreen
from tui.lab.source import from_config, from_run
from tui.lab.views import boundary_view
from tui.widgets.lab_map import LabMap
from tui.widgets.lab_plots import LabPlot

FAST = ["--set", "train.device=cpu", "--set", "train.epochs=80"]
TWO_FEATURES = "data.features=[mean_radius,mean_texture]"
THREE_FEATURES = "data.features=[mean_radius,mean_texture,mean_area]"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A finished Huber run on data with outliers, and a two-feature logistic regression."""
    root = tmp_path_factory.mktemp("lab") / "runs"
    out = {}
    for key, preset, extra in (
        ("huber", "huber-outliers", ["--set", "data.n_samples=300"]),
        ("logistic", "logistic", ["--set", TWO_FEATURES]),
    ):
        done = run(root, "train", preset, *FAST, *extra)
        assert done.returncode == 0, done.stderr
        out[key] = next(p for p in root.iterdir() if preset in p.name)
    return out


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def settle(pilot: Pilot) -> LabScreen:
    """Wait for the lab's worker to finish and the screen to draw what it computed."""
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, LabScreen))
    screen = pilot.app.screen
    await wait_until(
        pilot,
        lambda: (
            not any(w.group in ("lab", "devices") and w.is_running for w in pilot.app.workers)
            and (screen.shown is not None or screen.message != "")
        ),
        timeout=60,
    )  # (and the device list's child: a test that quits before it ends leaves it unreaped)
    await pilot.pause()
    return screen


async def press(pilot: Pilot, *keys: str) -> LabScreen:
    await pilot.press(*keys)
    return await settle(pilot)


def assert_whole(app, screen: LabScreen) -> list[str]:
    """Every line the view wrote is on screen, whole, and the footer still offers esc."""
    text = screen_text(app)
    if screen.shown is None:  # a message instead of the view: it may wrap, never be cut
        assert screen.message in " ".join(text.split()), f"cut off: {screen.message!r}\n{text}"
    lines = screen.shown.lines if screen.shown is not None else [screen.message]
    for line in lines if screen.shown is not None else []:
        assert line in text, f"cut off at 80x24: {line!r}\n{text}"
    assert "esc Back" in text.splitlines()[-1]
    return lines


def watch(run_dir: Path):
    return make_app(str(run_dir / "config.yaml"), [], runs_root=run_dir.parent, watch=run_dir)


async def test_shape_view_draws_the_engines_curves_over_the_residual_histogram(made) -> None:
    lr = LoadedRun(made["huber"], made["huber"].parent)
    loss = ResidualLoss.from_config(lr.config.loss)
    app = watch(made["huber"])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await press(pilot, "i")
        lines = assert_whole(app, screen)
        r = lr.data.train.y.double() - lr.predict(lr.data.train.x)
        want = loss_shape(loss, {"train": r}, compare=ResidualLoss.named("mse"))
        counts = want["histogram"]["train"]["counts"]
        top = max(range(len(counts)), key=counts.__getitem__)
        assert lines[0] == f"L = {loss.formula}" and lines[1].startswith("vs mse:")
        assert f"{len(r)} rows" in lines[2]
        assert f"fullest bin r ≈ {fmt_number(want['histogram']['centres'][top], 3)}" in lines[2]
        assert f"({counts[top]} rows)" in lines[2]
        drawn = screen.query_one("#shape-psi", LabPlot).drawn[-1]
        assert drawn.xs == pytest.approx(want["r"]) and drawn.ys == pytest.approx(want["psi"])
        assert max(drawn.ys) == pytest.approx(1.0)  # Huber's ψ is clipped at δ = 1

        screen = await press(pilot, "v")
        assert screen.request.split == "val"
        assert assert_whole(app, screen)[2].startswith(f"val: {len(lr.data.val)} rows")
        screen = await press(pilot, "c")
        assert screen.shown.lines[1].startswith("vs mae: mean(|y-ŷ|)")

        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, LabScreen))
        assert app.screen is app.screen_stack[0]


async def test_influence_view_lists_the_engines_top_rows_beside_mse(made) -> None:
    want = inspect_run(made["huber"], made["huber"].parent)["influence"]["train"]
    app = watch(made["huber"])
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "i")
        screen = await press(pilot, "2")
        assert screen.request.view == "influence"
        assert_whole(app, screen)
        text = screen_text(app)
        top = want["top"][0]
        row_line = next(line for line in text.splitlines() if f" {top['row']} " in line)
        for value in ("y", "pred", "residual", "contribution", "mse_contribution"):
            assert fmt_number(top[value]) in row_line, value
        for key in ("1%", "10%"):
            share = f"top {key} of rows"
            line = next(line for line in text.splitlines() if share in line)
            huber, mse = want["loss"]["share_top"][key], want["mse"]["share_top"][key]
            assert f"{100 * huber:.1f}%" in line and f"{100 * mse:.1f}%" in line
        shown_rows = [str(t["row"]) for t in want["top"]]
        assert all(f" {r} " in text for r in shown_rows)  # all ten rows fit at 80x24


def star_column(app) -> tuple[int, int]:
    """Where ★ is on the landscape map: (column, map width)."""
    lab_map = app.screen.query_one("#v-landscape", LabMap)
    rows = lab_map.render().plain.splitlines()
    hits = [(r.index("★"), len(r)) for r in rows if "★" in r]
    assert len(hits) == 1, rows
    return hits[0]


async def test_landscape_marks_the_runs_optimum_and_keys_pick_the_weights(made) -> None:
    events, _ = RunLog(made["huber"]).read()
    optimum = next(e for e in events if isinstance(e, RunStarted)).optimum["weights"]
    app = watch(made["huber"])
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "i")
        screen = await press(pilot, "3")
        lines = assert_whole(app, screen)
        assert lines[0].startswith("F = mean(½r²")
        assert f"★ optimum ({fmt_number(optimum[0])}, {fmt_number(optimum[1])})" in lines[2]
        xs = screen.shown.data["wi"]
        col, width = star_column(app)
        want = (optimum[0] - xs[0]) / (xs[-1] - xs[0]) * (width - 1)
        assert abs(col - want) <= 1.5
        # the objective's lowest cell is at least as low as F at the optimum's nearest cell
        values = torch.tensor(screen.shown.data["values"])
        assert screen.shown.data["lowest"]["value"] == pytest.approx(float(values.min()))

        screen = await press(pilot, "x")
        assert (screen.request.i, screen.request.j) == (2, 1)
        assert "→ w2 " in screen.shown.lines[1]
        screen = await press(pilot, "y")
        assert (screen.request.i, screen.request.j) == (2, 3)
        assert "↑ w3 " in assert_whole(app, screen)[1]
        assert f"({fmt_number(optimum[2])}, {fmt_number(optimum[3])})" in screen.shown.lines[2]


async def test_path_view_marks_the_engines_best_lambda_for_each_penalty(made) -> None:
    lr = LoadedRun(made["huber"], made["huber"].parent)
    app = watch(made["huber"])
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "i")
        for key, penalty, term in (("4", "l2", "λ·Σw²"), ("p", "l1", "λ·Σ|w|")):
            screen = await press(pilot, key)
            want = regularisation_path(lr.data, penalty, bias=lr.config.model.bias)
            lines = assert_whole(app, screen)
            assert term in lines[0]
            best = want.lambdas[want.best]
            assert lines[1].startswith(f"best λ = {fmt_number(best, 3)} ")
            assert f"val MSE {fmt_number(want.val_mse[want.best])}" in lines[1]
            vline = screen.query_one("#path-coefs", LabPlot).drawn[-1]
            assert vline.kind == "vline" and vline.xs == [pytest.approx(math.log10(best))]


async def test_decision_boundary_of_a_two_feature_classifier(made) -> None:
    lr = LoadedRun(made["logistic"], made["logistic"].parent)
    x, y = lr.data.train.x.double(), lr.data.train.y.long()
    w, b = lr.model.weight.double().reshape(-1), float(lr.model.bias.reshape(-1)[0])
    accuracy = float(((x @ w + b > 0).long() == y).double().mean())
    app = watch(made["logistic"])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await press(pilot, "i")  # shape: one line saying why not, no traceback
        assert screen.shown is None and "this is a binary classifier" in screen.message
        assert_whole(app, screen)
        screen = await press(pilot, "4")
        assert screen.message.startswith("the λ path is for regression")
        screen = await press(pilot, "5")
        lines = assert_whole(app, screen)
        assert lines[0].startswith(f"train: {len(y)} rows · accuracy {fmt_number(accuracy)}")
        assert lines[2].startswith(f"boundary: {fmt_number(float(w[0]))}·mean_radius ")
        drawn = screen.query_one("#v-boundary", LabMap).render().plain
        assert "0" in drawn and "1" in drawn  # the points, as their true class


async def test_without_a_run_the_lab_shows_the_settings_least_squares_optimum() -> None:
    overrides = ["data.n_samples=200", "train.device=cpu"]
    ds = load_dataset(load_config("default", overrides))
    xb = torch.cat([ds.train.x.double(), torch.ones(len(ds.train), 1, dtype=torch.float64)], 1)
    w = torch.linalg.lstsq(xb, ds.train.y.double().reshape(-1, 1)).solution.reshape(-1)
    app = make_app("default", overrides)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = await press(pilot, "i")
        assert "no run yet: the settings' exact optimum" in screen_text(app).splitlines()[0]
        screen = await press(pilot, "3")
        opt = f"★ optimum ({fmt_number(float(w[0]))}, {fmt_number(float(w[1]))})"
        assert opt in assert_whole(app, screen)[2]
        screen = await press(pilot, "5")
        assert screen.message.startswith("the decision boundary is a classifier's")
        assert_whole(app, screen)


async def test_boundary_needs_two_features_and_says_so() -> None:
    app = make_app("logistic", ["train.device=cpu", THREE_FEATURES])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await press(pilot, "i")
        screen = await press(pilot, "5")
        assert screen.message.startswith("the decision boundary needs two features;")
        assert "this model has 3 " in screen.message
        assert_whole(app, screen)


def test_opening_the_lab_screen_does_not_import_torch_on_the_event_loop() -> None:
    """The screen module (what ``i`` imports on the event loop) leaves torch to the worker."""
    code = "import sys, tui.app, tui.lab.screen; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_run_without_its_model_file_is_shown_at_its_newest_logged_weights(made, tmp_path) -> None:
    """A run still going has no model.pt yet: the lab reads the weights its log holds last."""
    finished = from_run(made["huber"])
    going = tmp_path / made["huber"].name
    shutil.copytree(made["huber"], going)
    (going / "model.pt").unlink()
    src = from_run(going)
    assert "newest logged weights" in src.origin
    assert src.flat_weights == pytest.approx(finished.flat_weights, abs=1e-6)
    assert src.flat_bias == pytest.approx(finished.flat_bias, abs=1e-6)


def test_a_multiclass_boundary_is_the_argmax_of_its_logits() -> None:
    """Three classes on two features, at the settings' reference optimum (no run)."""
    cfg = load_config("softmax", ["data.features=[alcohol,flavanoids]", "train.device=cpu"])
    src = from_config(cfg, "test")
    assert src.weights.shape == (3, 2)
    view = boundary_view(src, "train", cols=40, rows=12)
    x, y = src.ds.train.x.double(), src.ds.train.y.long()
    logits = x @ src.weights.T + src.bias
    accuracy = float((logits.argmax(1) == y).double().mean())
    assert view.data["accuracy"] == pytest.approx(accuracy)
    assert {v for row in view.map.levels for v in row} == {0, 1, 2}
    assert view.lines[2].startswith("classes (label = target value): 0 = 0, 1 = 1, 2 = 2")
