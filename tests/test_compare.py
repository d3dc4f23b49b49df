"""Comparing runs: labels from the settings that differ, on real configs from the presets and a
real run directory; curves read back from a real event log."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import engine
from engine.runs.compare import (
    LABEL_WIDTH,
    differing_keys,
    fit,
    load_curves,
    loss_label,
    run_config,
    run_labels,
)
from engine.runs.store import RunError, RunWriter, new_run_dir
from engine.training.trainer import run_training


def cfg(preset: str, *overrides: str) -> dict[str, Any]:
    """A preset's resolved config as a run directory stores it."""
    return engine.load_config(preset, list(overrides)).to_dict()


def labels(*configs: dict[str, Any], width: int = LABEL_WIDTH) -> list[str]:
    return run_labels(
        list(configs), [f"20261125-2315{i:02d}-x-ab{i:04d}" for i in range(len(configs))], width
    )


def test_learning_rates_name_the_runs() -> None:
    assert labels(cfg("default", "optim.lr=0.05"), cfg("default", "optim.lr=0.1")) == [
        "lr=0.05",
        "lr=0.1",
    ]


def test_a_loss_is_named_with_its_parameters_by_symbol() -> None:
    assert labels(cfg("default", "loss.name=huber"), cfg("default")) == ["huber δ=1", "mse"]
    assert labels(
        cfg("default", "loss.name=huber", "loss.delta=2"), cfg("default", "loss.name=huber")
    ) == ["huber δ=2", "huber δ=1"]
    assert labels(cfg("quantile"), cfg("quantile", "loss.quantile=0.5")) == [
        "quantile q=0.9",
        "quantile q=0.5",
    ]


def test_settings_that_do_not_apply_are_never_a_difference() -> None:
    # sgd's momentum is not adam's; delta is not mse's; patience without early stopping
    assert labels(cfg("default", "optim.name=adam"), cfg("default")) == ["adam", "sgd"]
    assert labels(cfg("default", "loss.delta=3"), cfg("default")) == [
        "20261125-231500-x-ab0000",
        "20261125-231501-x-ab0001",
    ]
    assert labels(
        cfg("default", "early_stopping.enabled=false", "early_stopping.patience=3"), cfg("default")
    ) == ["early_stopping=off", "early_stopping=on"]
    # ...but the same setting differing where it applies is one
    assert labels(
        cfg("default", "optim.momentum=0.9"), cfg("default"), cfg("default", "optim.name=adam")
    ) == ["sgd, momentum=0.9", "sgd, momentum=0", "adam"]


def test_data_settings_count_only_where_the_source_and_outlier_mode_read_them() -> None:
    # the synthetic sizes do not apply to a csv run; clip_quantile only with outliers: clip
    assert differing_keys([cfg("diabetes", "data.n_samples=50"), cfg("diabetes")]) == []
    assert differing_keys([cfg("default", "data.clip_quantile=0.05"), cfg("default")]) == []
    assert labels(
        cfg("default", "data.outliers=clip", "data.clip_quantile=0.05"),
        cfg("default", "data.outliers=clip"),
    ) == ["clip_quantile=0.05", "clip_quantile=0.01"]
    assert labels(cfg("default", "data.n_samples=50"), cfg("default")) == [
        "n_samples=50",
        "n_samples=1000",
    ]


def test_losses_first_then_the_optimizer_then_the_rest() -> None:
    a = cfg("default", "loss.name=mae", "optim.lr=0.2", "train.epochs=50", "seed=3")
    b = cfg("default")
    assert differing_keys([a, b]) == ["loss", "optim.lr", "train.epochs", "seed"]
    assert labels(a, b) == ["mae, lr=0.2, epochs=50, seed=3", "mse, lr=0.05, epochs=500, seed=0"]


def test_one_run_is_its_preset_and_identical_runs_their_ids() -> None:
    assert labels(cfg("huber-outliers")) == ["huber-outliers"]
    assert labels(cfg("default"), cfg("default")) == [
        "20261125-231500-x-ab0000",
        "20261125-231501-x-ab0001",
    ]


def test_labels_that_would_repeat_get_the_run_short_id() -> None:
    assert labels(
        cfg("default", "optim.lr=0.1"), cfg("default", "optim.lr=0.1"), cfg("default")
    ) == ["lr=0.1 #ab0000", "lr=0.1 #ab0001", "lr=0.05"]


def test_long_labels_fit_their_width_keeping_whole_settings_first() -> None:
    presets = ["default", "huber-outliers", "quantile", "adam-fast", "combined", "ridge"]
    configs = [cfg(p) for p in presets]
    got = labels(*configs, width=30)
    assert all(len(label) <= 30 for label in got), got
    assert len(set(got)) == len(got)
    assert got[0].startswith("default, mse") and got[1].startswith("huber-outliers")
    assert all(" +" in label for label in got)  # how many settings were left out
    assert got[4].startswith("combined, 0.7·mse+0.3·mae")
    # deterministic: the same runs in another order get the same labels
    again = run_labels(
        configs[::-1], [f"20261125-2315{i:02d}-x-ab{i:04d}" for i in range(6)][::-1], 30
    )
    assert again == got[::-1]


def test_fit_cuts_a_first_setting_too_long_on_its_own() -> None:
    assert (
        fit(["custom /a/very/long/path/to/losses.py:pinball", "lr=0.1"], 20)
        == "custom /a/very/l… +1"
    )
    assert fit(["lr=0.1", "seed=3"], 12) == "lr=0.1 +1"
    assert fit([], 10) == ""
    with pytest.raises(ValueError):
        fit(["x"], 3)


def test_custom_and_combined_losses_in_words() -> None:
    assert (
        loss_label(
            {
                "name": "custom",
                "callable": "/home/u/my_losses.py:pinball",
                "params": {"under": 3, "over": 1.0},
            }
        )
        == "custom my_losses.py:pinball over=1 under=3"
    )
    assert (
        loss_label(
            {
                "name": "combined",
                "delta": 2.0,
                "terms": [{"name": "mse", "weight": 0.7}, {"name": "huber", "weight": 0.3}],
            }
        )
        == "0.7·mse+0.3·huber δ=2"
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 12-epoch run written by the engine."""
    config = engine.load_config(
        "default", ["train.epochs=12", "train.device=cpu", "data.n_samples=200", "optim.lr=0.1"]
    )
    run = new_run_dir(tmp_path_factory.mktemp("runs"), config.name)
    writer = RunWriter(run, config.to_dict())
    try:
        run_training(config, writer)
    finally:
        writer.close()
    return run


def test_a_run_config_is_the_one_it_stored(run_dir: Path) -> None:
    stored = run_config(run_dir)
    assert stored["optim"]["lr"] == 0.1 and stored["train"]["epochs"] == 12
    assert run_labels([stored, cfg("default")], [run_dir.name, "other-ab0001"]) == [
        "lr=0.1, epochs=12, device=cpu +1",
        "lr=0.05, epochs=500, device=auto +1",
    ]


def test_curves_are_every_epoch_of_the_log(run_dir: Path) -> None:
    lines = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    epochs = [d for d in lines if d["type"] == "EpochEnded"]
    curves = load_curves(run_dir)
    assert curves.epochs == epochs[-1]["epoch"] == 12
    assert curves.series("train") == [(float(d["epoch"]), d["train_loss"]) for d in epochs]
    assert curves.has_val
    assert curves.series("val") == [(float(d["epoch"]), d["val_loss"]) for d in epochs]
    assert curves.series("val", "rmse") == [
        (float(d["epoch"]), d["metrics"]["val"]["rmse"]) for d in epochs
    ]
    assert all(math.isfinite(y) for _, y in curves.series("train"))


def test_a_deleted_or_broken_run_is_one_clear_error(run_dir: Path, tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    shutil.copytree(run_dir, gone)
    shutil.rmtree(gone)
    for read in (run_config, load_curves):
        with pytest.raises(RunError, match="run directory is gone"):
            read(gone)
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    (broken / "config.yaml").write_text("optim: [unclosed\n")
    with pytest.raises(RunError, match=r"config\.yaml: unreadable"):
        run_config(broken)


def test_compare_is_torch_and_textual_free() -> None:
    code = (
        "import sys, engine.runs.compare; "
        "bad = {'torch', 'textual'} & set(sys.modules); assert not bad, bad"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
