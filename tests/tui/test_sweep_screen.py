"""The sweep screen against a real short sweep: a detached ``engine.cli.sweep_launch`` process,
the real Optuna study in SQLite next to the runs, polled live by the screen (Pilot, 80x24)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from textual.widgets import DataTable, Input, Label

from engine.cli.sweep_launch import JOBS_DIR
from engine.core.numbers import fmt_number
from engine.runs.store import list_runs
from tests.tui.conftest import wait_until
from tui.app import make_app
from tui.form_fields import fmt_value
from tui.sweep_screen import SettingsBridge, SweepScreen, flow, read_space, rounded
from tui.widgets.sweep_parallel import ParallelPlot
from tui.widgets.sweep_plots import BestSoFarPlot, ParamScatter

ROOT = Path(__file__).resolve().parents[2]
TINY = ["data.n_samples=200", "train.epochs=30", "train.device=cpu", "early_stopping.enabled=false"]
GRID = "{params: {optim.lr: [1.0e-3, 0.5, 0.05]}, sampler: grid, parallel: 1, pruning: false}"
"""Full-batch GD on standardised features: lr 0.5 is about optimal, 1e-3 barely moves."""


def column(table: DataTable, index: int) -> list[str]:
    return [str(table.get_row_at(i)[index]) for i in range(table.row_count)]


async def wait_sweep(pilot, screen: SweepScreen, cond, timeout: float = 20.0) -> None:
    """``wait_until`` that, when it times out, says what the sweep screen and its process said:
    the screen's status line, whether the job's process lives, and the tail of its log."""
    try:
        await wait_until(pilot, cond, timeout=timeout)
    except AssertionError as exc:
        status = str(screen.query_one("#sweep-status").render())
        job = screen.job
        said = job.log.read_text(errors="replace")[-1500:] if job and job.log.exists() else ""
        alive = job.running if job else None
        raise AssertionError(
            f"{exc}; sweep status {status!r}, process alive {alive}, log:\n{said}"
        ) from None


async def open_screen(pilot, app) -> SweepScreen:
    screen = SweepScreen(SettingsBridge(app.settings), app.session.runs_root)
    await app.push_screen(screen)
    await pilot.pause()
    return screen


async def test_a_real_sweep_fills_the_table_live_sorts_and_loads_the_best_into_the_form(tmp_path):
    app = make_app("default", TINY, runs_root=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot, app)
        space = screen.query_one("#space", Input)
        space.value = GRID
        space.focus()
        await pilot.press("enter")
        assert screen.job is not None and not screen.query_one("#space-error").display
        table = screen.query_one(DataTable)
        await wait_sweep(
            pilot,
            screen,
            lambda: table.row_count == 3 and column(table, 4).count("complete") == 3,
            timeout=120,
        )
        assert column(table, 0) == ["0", "1", "2"]  # by trial number first
        assert sorted(column(table, 1)) == ["0.001", "0.05", "0.5"]
        await wait_sweep(pilot, screen, lambda: not screen.job.running, timeout=30)
        # o: best first (lowest val_loss), then worst first
        await pilot.press("o")
        assert column(table, 1)[0] == "0.5" and column(table, 1)[-1] == "0.001"
        values = [float(v) for v in column(table, 2)]
        assert values == sorted(values)
        await pilot.press("o")
        assert column(table, 1)[0] == "0.001"
        # the plots: the best so far never gets worse, the scatter has every complete trial
        best = screen.query_one(BestSoFarPlot).points
        assert [y for _, y in best] == sorted((y for _, y in best), reverse=True)
        assert f"{best[-1][1]:.4g}" == f"{min(values):.4g}"  # the table shows 4 digits
        assert len(screen.query_one(ParamScatter).points) == 3
        assert screen.query_one(ParamScatter).key == "optim.lr"
        # the sweep was batched: the best trial alone has a run in the store, the study is in
        # SQLite next to them
        runs = list_runs(tmp_path / "runs")
        assert len(runs) == 1 and runs[0].status["study"] == screen.study_name
        best_number = column(table, 0)[column(table, 1).index("0.5")]
        assert runs[0].status["trial"] == int(best_number)
        status = screen.query_one("#sweep-status")
        await wait_sweep(pilot, screen, lambda: "· 3/3 complete" in str(status.render()))
        study = optuna.load_study(
            study_name=screen.study_name, storage=f"sqlite:///{tmp_path / 'runs' / 'sweeps.db'}"
        )
        assert study.best_trial.params == {"optim.lr": 0.5}
        # leaving and coming back shows the same study, read from the database
        await pilot.press("escape")
        again = await open_screen(pilot, app)
        table = again.query_one(DataTable)
        await wait_sweep(pilot, again, lambda: table.row_count == 3)
        assert again.study_name == screen.study_name
        # b: the best trial's lr lands in the form as an edit
        await pilot.press("b")
        await pilot.pause()
        assert app.screen is not again
        form = app.settings.form
        assert form.entries["optim.lr"] == fmt_value(0.5)
        assert "optim.lr" in form.modified()


async def test_a_bad_search_space_is_one_line_at_the_field_and_starts_nothing(tmp_path):
    app = make_app("default", TINY, runs_root=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot, app)
        space = screen.query_one("#space", Input)
        error = screen.query_one("#space-error", Label)
        cases = {
            "{optim.lr: {low: 1, high: 0.1}}": "needs low < high",
            "{optim.lrr: [0.1, 0.2]}": "did you mean 'optim.lr'",
            "{optim.lr: [0.1, 0.2": "YAML syntax error",
            "{optim.lr: [0.1, 0]}": "optim.lr choice 0",
        }
        for text, expected in cases.items():
            space.value = text
            space.focus()
            await pilot.press("enter")
            shown = str(error.render())
            assert error.display and expected in shown, (text, shown)
            assert "\n" not in shown.strip() and "Traceback" not in shown
        assert screen.job is None and not (tmp_path / "runs" / JOBS_DIR).exists()
        space.value = GRID  # an edit clears the message
        await pilot.pause()
        assert not error.display
        await pilot.press("escape")  # in the field, Esc leaves the field (as in the form)
        assert app.screen is screen and isinstance(screen.focused, DataTable)
        await pilot.press("escape")
        assert app.screen is not screen
        again = await open_screen(pilot, app)  # what was typed is still there
        assert again.query_one("#space", Input).value == GRID


async def test_the_space_starts_as_the_presets_sweep_section(tmp_path):
    preset = tmp_path / "swept.yaml"
    section = {
        "params": {
            "optim.lr": {"low": 1e-4, "high": 1.0, "log": True},
            "optim.name": ["sgd", "adam"],
        },
        "trials": 6,
    }
    preset.write_text(
        f"name: swept\ndata: {{source: synthetic, n_samples: 100}}\nsweep: {json.dumps(section)}\n"
    )
    app = make_app(str(preset), runs_root=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot, app)
        text = screen.query_one("#space", Input).value
        assert read_space(text) == section
        assert "no sweep yet" in str(screen.query_one("#sweep-status").render())
        await pilot.press("escape")
        assert app.screen is not screen


def test_flow_text_reads_back_as_the_same_space():
    space = {
        "optim.lr": {"low": 1e-4, "high": 1.0, "log": True},
        "loss.delta": [0.5, 1, 2],
        "optim.name": ["sgd", "adam"],
        "train.epochs": {"low": 50, "high": 500, "step": 50},
    }
    assert read_space(flow(space)) == {"params": space}


def test_the_dashboard_and_the_sweep_screen_import_no_optuna():
    code = (
        "import sys, tui.app, tui.sweep_screen; tui.app.make_app('default'); "
        "print('optuna' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]


SPACE_2D = (
    "{params: {optim.lr: {low: 1.0e-3, high: 1, log: true}, optim.momentum: {low: 0, high: 0.9}},"
    " trials: 8, sampler: random, seed: 5, parallel: 1, pruning: false}"
)


async def test_a_finished_sweep_reads_with_totals_base_importance_real_units_and_parallel_view(
    tmp_path,
):
    app = make_app("default", TINY, runs_root=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot, app)
        space = screen.query_one("#space", Input)
        space.value = SPACE_2D
        space.focus()
        await pilot.press("enter")
        table = screen.query_one(DataTable)
        status = screen.query_one("#sweep-status")
        await wait_sweep(pilot, screen, lambda: "8/8 complete" in str(status.render()), timeout=180)
        await wait_sweep(pilot, screen, lambda: not screen.job.running, timeout=30)
        assert table.row_count == 8
        # the base settings every trial shares (not the searched lr and momentum)
        base = str(screen.query_one("#sweep-base").render())
        assert base.startswith("base: mse · sgd") and "epochs 30" in base and "lr" not in base
        # importances from Optuna (fANOVA) once enough trials are complete, summing to 1
        shown = screen.query_one("#sweep-importance")  # computed in a worker of its own
        await wait_sweep(pilot, screen, lambda: " · " in str(shown.render()), timeout=60)
        importance = str(shown.render())
        assert importance.startswith("importance: ")
        shares = dict(part.rsplit(" ", 1) for part in importance.split(": ", 1)[1].split(" · "))
        assert set(shares) == {"lr", "momentum"}
        assert abs(sum(float(v) for v in shares.values()) - 1) < 0.02
        # the scatter's lr axis is log-spaced but labelled in real units
        scatter = screen.query_one(ParamScatter)
        lrs = [float(v) for v in column(table, 1)]
        assert max(lrs) >= 100 * min(lrs)  # seed 5 samples over two decades
        assert scatter.log_x and scatter.xtick_labels
        for x, label in scatter.xtick_labels:
            assert float(label) == pytest.approx(10**x, rel=0.01) and float(label) > 0
        # v: parallel coordinates, one axis per parameter and the metric, a line per trial
        await pilot.press("v")
        parallel = screen.query_one(ParallelPlot)
        assert parallel.display and not scatter.display
        assert [a[0] for a in parallel.axes] == ["lr", "momentum", "val_loss"]
        assert len(parallel.lines) == 8
        assert all(0 <= y <= 1 for ys in parallel.lines.values() for y in ys)
        best = screen.view.best()
        assert parallel.best == best.number
        assert parallel.lines[best.number][-1] == 0.0  # the lowest val_loss sits at the foot
        assert parallel.axes[0][1] == fmt_number(min(lrs), 2)  # the foot label, real units
        await pilot.press("v")
        assert scatter.display and not parallel.display
        # b: the best trial's values, rounded to 4 significant digits, land in the form
        await pilot.press("b")
        await pilot.pause()
        form = app.settings.form
        for key in ("optim.lr", "optim.momentum"):
            typed = form.entries[key]
            assert typed == fmt_value(float(fmt_number(best.params[key], 4)))
            assert len(typed.replace("0.", "").lstrip("0").split("e")[0].replace(".", "")) <= 4


async def test_x_cancels_the_trials_in_flight_and_queues_their_values_again(tmp_path):
    long = ["data.n_samples=20000", "train.epochs=200000", "train.device=cpu"]
    app = make_app("default", [*long, "early_stopping.enabled=false"], runs_root=tmp_path / "r")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot, app)
        space = screen.query_one("#space", Input)
        space.value = SPACE_2D.replace("trials: 8", "trials: 4")
        space.focus()
        await pilot.press("enter")
        table = screen.query_one(DataTable)
        await wait_sweep(pilot, screen, lambda: column(table, 5).count("running") == 4, timeout=120)
        assert "running 0/4" in str(screen.query_one("#sweep-status").render())
        running = sorted(column(table, 1))
        await pilot.press("x")
        await wait_sweep(pilot, screen, lambda: not screen.job.running, timeout=60)
        await wait_sweep(pilot, screen, lambda: column(table, 5).count("queued") == 4, timeout=30)
        states = column(table, 5)
        assert states.count("cancelled") == 4 and "failed" not in states
        queued = sorted(v for v, s in zip(column(table, 1), states, strict=True) if s == "queued")
        assert queued == running  # the same values, queued for the next run of the sweep
        status = screen.query_one("#sweep-status")
        await wait_sweep(pilot, screen, lambda: "stopped at 0/4 · 4 queued" in str(status.render()))


async def test_without_optuna_the_screen_says_how_to_install_it_and_starts_nothing(
    tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "optuna", None)  # what an environment without it sees
    app = make_app("default", TINY, runs_root=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot, app)
        status = str(screen.query_one("#sweep-status").render())
        assert status == "sweeps need Optuna: pip install 'linreg-tui[sweep]'"
        space = screen.query_one("#space", Input)
        space.value = GRID
        space.focus()
        await pilot.press("enter")
        error = screen.query_one("#space-error", Label)
        assert error.display and "pip install 'linreg-tui[sweep]'" in str(error.render())
        assert screen.job is None and not (tmp_path / "runs" / JOBS_DIR).exists()


def test_values_for_the_form_are_rounded_to_significant_digits():
    assert rounded(0.899172103844) == 0.8992
    assert rounded(1.23456e-5) == 1.235e-5
    assert rounded(3) == 3 and rounded("adam") == "adam" and rounded(True) is True
