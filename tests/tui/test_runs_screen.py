"""The runs screen on real runs made by the real CLI, driven by keys under Pilot at 80x24."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from textual.widgets import DataTable

from engine.runs.notes import read_notes
from engine.runs.store import list_runs, write_status
from tests.runs_helpers import LONG, only_run, run, start, wait_for_epochs
from tests.tui.conftest import text_of, wait_until
from tui.app import make_app
from tui.runs_screen import RunsScreen
from tui.runs_views import CompareScreen, RunScreen
from tui.widgets.compare_plot import ComparePlot

TRAIN = ["--set", "train.epochs=5", "--set", "train.device=cpu", "--set", "data.n_samples=200"]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two finished runs, one after the other: mse with lr=0.1, then huber with lr=0.05."""
    root = tmp_path_factory.mktemp("made") / "runs"
    for extra in (["--set", "optim.lr=0.1"], ["--set", "loss.name=huber"]):
        done = run(root, "train", "default", *TRAIN, *extra)
        assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def runs(made: Path, isolated_runs: Path) -> Path:
    """This test's own copy of the two runs (tests delete and rewrite run directories)."""
    shutil.copytree(made, isolated_runs)
    return isolated_runs


def table(app) -> DataTable:
    return app.screen.query_one("#runs-table", DataTable)


def row_texts(app) -> list[list[str]]:
    t = table(app)
    return [[str(c) for c in t.get_row_at(i)] for i in range(t.row_count)]


async def open_runs(pilot, root: Path) -> RunsScreen:
    """The dashboard's ``h`` (from the plot, where letter keys act) opens the runs screen."""
    assert pilot.app.session.runs_root == root
    await pilot.press("h")
    await wait_until(
        pilot, lambda: isinstance(pilot.app.screen, RunsScreen) and pilot.app.screen.is_mounted
    )
    await pilot.pause()
    return pilot.app.screen


def by_header(app) -> list[dict[str, str]]:
    """The table's rows as {header: text} (the mark column under "")."""
    t = table(app)
    headers = [str(c.label) for c in t.ordered_columns]
    return [dict(zip(headers, row)) for row in row_texts(app)]


async def test_rows_are_the_runs_cli_table_newest_first(runs: Path) -> None:
    cli = run(runs, "runs", "--width", "0")
    assert cli.returncode == 0, cli.stderr
    lines = cli.stdout.splitlines()
    header = re.split(r"\s{2,}", lines[0].strip())
    cli_rows = [dict(zip(header, re.split(r"\s{2,}", line.strip()))) for line in lines[1:]]
    app = make_app("default", runs_root=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot, runs)
        rows = by_header(app)
        assert [r["id"] for r in screen.rows] == [r["id"] for r in cli_rows]
        for shown, printed in zip(rows, cli_rows):
            assert printed["id"].endswith(shown["id"])  # the short id ends the full one
            for key, text in shown.items():
                if key not in ("", "id", "age"):  # age moves on between the two
                    assert text == printed[key], key  # the CLI's cell, same text
        assert rows[0]["loss"] == "huber" and rows[1]["loss"] == "mse"  # newest first
        assert "finished (completed)" in rows[0]["status"]
        assert [r["lr"] for r in rows] == ["0.05", "0.1"]  # the one setting that differs
        shown = {
            key: b.binding.description
            for key, b in app.screen.active_bindings.items()
            if b.binding.show
        }
        assert shown == {
            "space": "Mark",
            "enter": "Open",
            "c": "Compare",
            "o": "Load",
            "s": "Sort",
            "slash": "Filter",
            "e": "Expand",
            "escape": "Back",
        }


async def test_two_marked_runs_overlay_with_their_differences_in_the_legend(runs: Path) -> None:
    app = make_app("default", runs_root=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot, runs)
        await pilot.press("space", "down", "space")
        assert len(screen.marked) == 2 and "2 marked" in text_of(app.screen, "#runs-title")
        assert [r[0] for r in row_texts(app)] == ["●", "●"]
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.pause()
        legend = text_of(app.screen, "#compare-legend").splitlines()
        assert len(legend) == 2
        assert "huber δ=1" in legend[0] and "lr=0.05" in legend[0]
        assert "mse" in legend[1] and "lr=0.1" in legend[1]
        assert all(len(line) <= 78 for line in legend)
        plot = app.screen.query_one(ComparePlot)
        assert len(plot.drawn) == 2
        assert {s.marker for s in plot.drawn} == {"•", "+"}
        assert len({s.color for s in plot.drawn}) == 2
        canvas = plot.plt.build()
        assert "•" in canvas and "+" in canvas
        # huber and mse: their loss values are not comparable, so the runs open on val RMSE
        assert text_of(app.screen, "#compare-title").startswith("val RMSE per epoch · 2 runs")
        assert "not comparable" in text_of(app.screen, "#compare-msg")
        val_points = [s.points for s in plot.drawn]
        await pilot.press("v")
        assert text_of(app.screen, "#compare-title").startswith("train RMSE per epoch")
        assert [s.points for s in plot.drawn] != val_points
        assert "train" in text_of(app.screen, "#compare-legend")
        await pilot.press("l")
        assert "log-y" in text_of(app.screen, "#compare-title") and plot.log_y
        await pilot.press("escape")
        assert app.screen is screen


async def test_enter_opens_a_run_on_the_dashboard_panels(runs: Path) -> None:
    app = make_app("default", runs_root=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot, runs)
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        opened = app.screen
        await wait_until(pilot, lambda: opened.history.finished is not None)
        assert opened.run_dir.name == screen.rows[1]["id"]
        assert opened.history.epochs == [1, 2, 3, 4, 5]
        await pilot.pause()
        top = text_of(opened, "#run-top")
        assert "finished (completed)" in top
        assert "5/5" in text_of(opened, "#run-stats")
        assert "mean((y-ŷ)²)" in text_of(opened, "#run-formula")
        await pilot.press("escape")
        assert app.screen is screen


async def test_o_loads_the_highlighted_run_settings_into_the_form(runs: Path) -> None:
    app = make_app("default", runs_root=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.settings.form.values()["optim.lr"] == 0.05
        await open_runs(pilot, runs)
        await pilot.press("down", "o")  # the mse run with lr=0.1
        await wait_until(pilot, lambda: app.settings.form.values()["optim.lr"] == 0.1)
        assert app.screen is app.default_screen
        values = app.settings.form.values()
        assert values["train.epochs"] == 5 and values["loss.name"] == "mse"


async def test_a_run_whose_process_died_shows_crashed(runs: Path) -> None:
    victim = runs / "20991231-235959-default-dead01"
    shutil.copytree(list_runs(runs)[1].path, victim)
    lines = (victim / "events.jsonl").read_text().splitlines(keepends=True)
    (victim / "events.jsonl").write_text("".join(lines[:4]))  # RunStarted and 3 epochs
    gone = subprocess.Popen(["true"])
    gone.wait()
    write_status(victim, state="running", reason=None, pid=gone.pid, host=socket.gethostname())
    app = make_app("default", runs_root=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs(pilot, runs)
        assert by_header(app)[0]["status"] == "crashed at epoch 3"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        await wait_until(pilot, lambda: "crashed at epoch 3" in text_of(app.screen, "#run-top"))
        assert app.screen.history.epochs == [1, 2, 3]


async def test_a_run_deleted_while_listed_is_a_message(runs: Path) -> None:
    app = make_app("default", runs_root=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot, runs)
        await pilot.press("space", "down", "space", "up")
        first = screen.rows[0]["path"]
        shutil.rmtree(first)
        await pilot.press("enter")
        assert "is gone" in text_of(app.screen, "#runs-msg")
        assert app.screen is screen and app.is_running
        assert table(app).row_count == 1 and screen.marked == [screen.rows[0]["id"]]
        await pilot.press("c")  # one marked run left: nothing to overlay, says so
        assert "mark two runs" in text_of(app.screen, "#runs-msg")


async def test_a_run_deleted_after_marking_is_a_message_in_the_overlay(runs: Path) -> None:
    app = make_app("default", runs_root=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot, runs)
        await pilot.press("space", "down", "space")
        doomed = Path(screen.rows[0]["path"])
        compare = CompareScreen([Path(r["path"]) for r in screen.rows])
        shutil.rmtree(doomed)
        await app.push_screen(compare)
        await wait_until(pilot, lambda: app.screen is compare)
        await pilot.pause()
        assert f"run {doomed.name} is gone" in text_of(compare, "#compare-msg")
        assert len(compare.query_one(ComparePlot).drawn) == 1


async def test_an_empty_store_says_no_runs_yet(isolated_runs: Path) -> None:
    app = make_app("default", runs_root=isolated_runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs(pilot, isolated_runs)
        assert text_of(app.screen, "#runs-empty").startswith(f"no runs yet in {isolated_runs}")
        await pilot.press("enter", "space", "c", "o")
        assert app.screen.is_mounted and isinstance(app.screen, RunsScreen)
        await pilot.press("escape")
        assert app.screen is app.default_screen


async def test_an_open_run_that_is_still_going_follows_its_new_epochs(isolated_runs: Path) -> None:
    proc = start(isolated_runs, "train", "default", *LONG, stdout=subprocess.DEVNULL)
    try:
        run_dir = only_run(isolated_runs)
        wait_for_epochs(run_dir, 3, proc)
        app = make_app("default", runs_root=isolated_runs)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_runs(pilot, isolated_runs)
            assert by_header(app)[0]["status"] == "running"
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
            opened = app.screen
            await wait_until(pilot, lambda: len(opened.history.epochs) >= 3)
            seen = len(opened.history.epochs)
            await wait_until(pilot, lambda: len(opened.history.epochs) > seen + 5)
            history = opened.history  # the epochs before the read are in the curve summary
            assert history.first_epoch == 1
            assert history.epochs == list(range(history.epochs[0], history.last_epoch + 1))
            base = history.base.last_epoch if history.base is not None else 0
            assert history.epochs[0] == base + 1
            assert "running" in text_of(opened, "#run-top")
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 2-trial sweep (a run directory per trial) beside one lone run."""
    root = tmp_path_factory.mktemp("swept") / "runs"
    sweep = run(root, "sweep", "default", "--batch", "1", "--trials", "2", *TRAIN)
    assert sweep.returncode == 0, sweep.stderr
    lone = run(root, "train", "default", *TRAIN)
    assert lone.returncode == 0, lone.stderr
    return root


def fits(app) -> bool:
    """Every column of the table is inside the screen (nothing cut at its right edge)."""
    t = table(app)
    return t.virtual_size.width <= t.scrollable_content_region.width


async def test_s_cycles_the_sort_and_S_reverses_it(runs: Path) -> None:
    app = make_app("default", runs_root=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot, runs)
        newest = [r["id"] for r in screen.rows]
        assert text_of(app.screen, "#runs-info").startswith("sort started ↓")
        await pilot.press("s", "s")  # started -> state -> best
        assert screen.sort == ("best", False)
        assert text_of(app.screen, "#runs-info").startswith("sort best ↑")
        best = [r["best_monitor"] for r in screen.rows]
        assert best == sorted(best)
        shown_best = [float(r["best"]) for r in by_header(app)]
        assert shown_best == sorted(shown_best)
        await pilot.press("S")
        assert [r["best_monitor"] for r in screen.rows] == sorted(best, reverse=True)
        await pilot.press("s", "s", "s", "s")  # r2, epochs, loss, then the setting: lr
        assert screen.sort == ("optim.lr", False)
        assert text_of(app.screen, "#runs-info").startswith("sort lr ↑")
        assert [r["lr"] for r in by_header(app)] == ["0.05", "0.1"]
        await pilot.press("s")  # back to newest first
        assert [r["id"] for r in screen.rows] == newest and fits(app)


async def test_slash_filters_with_the_cli_grammar_and_esc_cancels(runs: Path) -> None:
    app = make_app("default", runs_root=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot, runs)
        await pilot.press("slash")
        assert app.focused is app.screen.query_one("#runs-input")
        await pilot.press(*"loss=huber", "enter")
        assert [r["loss"] for r in screen.rows] == ["huber"]
        assert "filter loss=huber" in text_of(app.screen, "#runs-info")
        assert app.focused is table(app)
        await pilot.press("slash", "ctrl+u", *"lr>0.07", "enter")
        assert [r["loss"] for r in screen.rows] == ["mse"]
        await pilot.press("slash", "ctrl+u", *"nothing-matches", "escape")  # esc: unchanged
        assert [r["loss"] for r in screen.rows] == ["mse"] and app.screen is screen
        await pilot.press("slash", "ctrl+u", *"nothing-matches", "enter")
        assert screen.rows == []
        assert "no runs match 'nothing-matches'" in text_of(app.screen, "#runs-empty")
        await pilot.press("slash", "ctrl+u", *"bogus=1", "enter")  # said, filter dropped
        assert "unknown column 'bogus'" in text_of(app.screen, "#runs-msg")
        assert len(screen.rows) == 2


async def test_a_sweeps_trials_fold_under_their_study_and_e_unfolds_them(
    swept: Path, isolated_runs: Path
) -> None:
    shutil.copytree(swept, isolated_runs)
    trials = [i for i in list_runs(isolated_runs) if i.status.get("study")]
    write_status(trials[0].path, trial_state="pruned")  # what a pruned trial's runner writes
    app = make_app("default", runs_root=isolated_runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot, isolated_runs)
        rows = by_header(app)
        assert len(rows) == 2  # the lone run and one study row: trials hidden
        study_at = next(i for i, r in enumerate(rows) if r["id"].startswith("study "))
        assert rows[study_at]["status"] == "2 trial runs, 1 pruned"
        assert "1 study (e unfolds)" in text_of(app.screen, "#runs-title")
        await pilot.press(*["down"] * study_at, "space")
        assert "a study is not a run" in text_of(app.screen, "#runs-msg")
        await pilot.press("enter")  # enter on a study unfolds it, like e
        rows = by_header(app)
        assert len(rows) == 4 and all(r["id"].startswith("└ ") for r in rows[study_at + 1 :][:2])
        pruned = next(r for r in rows if r["id"] == f"└ {trials[0].id[-6:]}")
        assert pruned["status"].startswith("pruned at epoch")
        assert fits(app)
        await pilot.press("down", "space")  # a trial run is a run: it can be marked
        assert screen.marked == [screen.rows[study_at + 1]["id"]]
        await pilot.press("e")  # e on a trial folds its study, the cursor on the study
        assert len(by_header(app)) == 2
        assert screen.current_row()["kind"] == "study"


async def test_n_and_t_edit_the_runs_note_and_tags(runs: Path) -> None:
    app = make_app("default", runs_root=runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot, runs)
        target = Path(screen.rows[1]["path"])
        await pilot.press("down", "t", *"baseline fast", "enter")
        await wait_until(pilot, lambda: (target / "notes.json").exists())
        assert json.loads((target / "notes.json").read_text())["tags"] == ["baseline", "fast"]
        assert by_header(app)[1]["tags"] == "baseline,fast"
        await pilot.press("n", *"lr 0.1 is the best so far", "enter")
        await wait_until(pilot, lambda: read_notes(target).note == "lr 0.1 is the best so far")
        assert "note saved" in text_of(app.screen, "#runs-msg")
        assert screen.current_id() == target.name  # the cursor stayed on the run
        await pilot.press("n", "ctrl+u", *"never saved", "escape")
        assert read_notes(target).note == "lr 0.1 is the best so far"
        info = text_of(app.screen, "#runs-info")
        headers = [str(c.label) for c in table(app).ordered_columns]
        assert "note" in headers or "note" in info  # shown, or counted among the hidden
        assert fits(app)
        await pilot.press("slash", *"tag=fast", "enter")
        assert [r["id"] for r in screen.rows] == [target.name]
        await pilot.press("t", "ctrl+u", *"two,words here", "enter")
        await wait_until(pilot, lambda: read_notes(target).tags == ("two", "words", "here"))
