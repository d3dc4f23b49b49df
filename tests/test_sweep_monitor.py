"""The sweep screen's reading of a study: best so far, scatter, sort — on rows with known
answers, and on a real study in SQLite read by a fresh storage, as the screen's poller does."""

from __future__ import annotations

import math
import sys

from engine.sweep.monitor import (
    best_so_far,
    choice_labels,
    open_reader,
    read_study,
    scatter,
    sorted_rows,
    storage_exists,
    study_names,
)
from engine.sweep.study_table import Row
from tests import warm_process
from tests.test_sweep_spec import ROOT


def row(n: int, value: float | None, state: str = "complete", **params) -> Row:
    return Row(n, params, value, 10, state, None, None)


ROWS = [
    row(0, 3.0, lr=0.1),
    row(1, 5.0, lr=1.0),
    row(2, math.inf, "diverged", lr=10.0),
    row(3, 1.0, lr=0.01),
    row(4, 9.0, "pruned", lr=0.001),
    row(5, None, "running", lr=0.2),
    row(6, 2.0, lr=0.05),
]


def test_best_so_far_follows_the_direction_and_skips_what_is_not_complete():
    assert best_so_far(ROWS, "minimize") == [(0, 3.0), (1, 3.0), (3, 1.0), (6, 1.0)]
    assert best_so_far(ROWS, "maximize") == [(0, 3.0), (1, 5.0), (3, 5.0), (6, 5.0)]
    assert best_so_far([], "minimize") == []


def test_sorting_puts_the_best_first_and_the_trials_without_a_value_last():
    assert [r.number for r in sorted_rows(ROWS, "best first", "minimize")] == [3, 6, 0, 1, 4, 2, 5]
    assert [r.number for r in sorted_rows(ROWS, "worst first", "minimize")][:2] == [2, 4]
    assert [r.number for r in sorted_rows(ROWS, "best first", "maximize")][:2] == [2, 4]
    assert [r.number for r in sorted_rows(list(reversed(ROWS)), "trial", "minimize")] == list(
        range(7)
    )


def test_the_scatter_has_complete_trials_and_places_choices_by_index():
    assert sorted(scatter(ROWS, "lr")) == [(0.01, 1.0), (0.05, 2.0), (0.1, 3.0), (1.0, 5.0)]
    named = [row(0, 1.0, opt="sgd"), row(1, 2.0, opt="adam"), row(2, 3.0, opt="sgd")]
    assert choice_labels(named, "opt") == ["adam", "sgd"]
    assert scatter(named, "opt") == [(1.0, 1.0), (0.0, 2.0), (1.0, 3.0)]


def test_a_real_study_reads_back_with_its_metric_and_keys(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("params: {optim.lr: [0.1, 0.5]}\nsampler: grid\npruning: false\n")
    runs = tmp_path / "runs"
    url = f"sqlite:///{runs / 'sweeps.db'}"
    assert not storage_exists(url)
    warm_process.run(
        [
            sys.executable,
            "-m",
            "engine",
            "sweep",
            "default",
            "--sweep",
            str(spec),
            "--runs-dir",
            str(runs),
            "--parallel",
            "1",
            "--set",
            "train.epochs=5",
            "--set",
            "data.n_samples=100",
            "--set",
            "train.device=cpu",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert storage_exists(url)
    storage = open_reader(url)
    (name,) = study_names(storage)
    view = read_study(storage, name)
    assert view.metric == "val_loss" and view.params == ("optim.lr",)
    assert view.direction == "minimize" and view.running == 0
    assert sorted(r.params["optim.lr"] for r in view.rows) == [0.1, 0.5]
    assert view.best().value == min(r.value for r in view.rows)
    assert read_study(storage, "no-such-study") is None
    storage.engine.dispose()


def test_the_state_says_its_totals_running_complete_or_stopped():
    from engine.sweep.monitor import StudyView

    view = StudyView("s", "val_loss", "minimize", ("lr",), tuple(ROWS), total=10)
    # 6 done (complete, diverged, pruned); one running
    assert view.state() == "running 6/10"
    done = tuple(r for r in ROWS if r.state != "running")
    assert StudyView("s", "val_loss", "minimize", ("lr",), done, total=6).state() == "6/6 complete"
    assert StudyView("s", "val_loss", "minimize", ("lr",), done, total=9).state() == (
        "stopped at 6/9"
    )
    assert StudyView("s", "val_loss", "minimize", ("lr",), done, 9).state(running=True) == (
        "running 6/9"
    )
    assert view.log_scaled("lr")  # 0.001 … 10
    assert not StudyView("s", "v", "minimize", ("lr",), (row(0, 1.0, lr=0.1),)).log_scaled("lr")


def test_the_base_line_shows_what_every_trial_shares_and_not_the_searched_keys():
    from engine.sweep.monitor import StudyView, base_line
    from engine.sweep.spec import base_settings

    raw = {
        "name": "p",
        "loss": {"name": "huber", "params": {"delta": 1.5}},
        "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "train": {"epochs": 300},
        "data": {"source": "synthetic", "n_samples": 2000},
        "early_stopping": {"enabled": False},
    }
    shared = base_settings(raw, ["optim.lr"])
    assert ["optim.lr", 0.05] not in shared and ["loss.params.delta", 1.5] in shared
    view = StudyView("s", "val_loss", "minimize", ("optim.lr",), (), 5, tuple(map(tuple, shared)))
    assert base_line(view) == (
        "base: huber · sgd · momentum 0.9 · epochs 300 · synthetic · n_samples 2000 · "
        "early stopping off · delta 1.5"
    )


def test_the_importance_line_says_why_there_is_none_yet():
    from engine.sweep.monitor import StudyView, importance_line

    one = StudyView("s", "val_loss", "minimize", ("optim.lr",), tuple(ROWS))
    assert importance_line(None, one) == "importance: one searched parameter (lr)"
    two = StudyView("s", "val_loss", "minimize", ("optim.lr", "optim.momentum"), tuple(ROWS[:2]))
    assert importance_line(None, two) == "importance: after 5 complete trials (have 2)"
