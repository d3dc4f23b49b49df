"""``resume`` of a run whose preset named its files relative to the preset's folder (issue 20
audit): the bundled CSV presets (``path: data/diabetes.csv``) and a user's preset with
``path: in.csv`` and a relative loss file. The checkpoint holds the config as the preset gave it,
``config.yaml`` the same files made absolute; resume once refused every such run ("data.path
differs from the checkpoint's config"). Each case trains a short run, resumes it to the full
length and compares it with an uninterrupted run; an edit of config.yaml to another file is
still refused."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import warm_process
from tests.runs_helpers import ROOT, engine_cmd, env, last_event, only_run

PRESETS = ROOT / "presets"
FIXED = ["--set", "early_stopping.enabled=false", "--set", "train.device=cpu"]


def _engine(runs: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m engine ARGS`` run from ``cwd`` (where a relative preset path is relative),
    forked warm (:mod:`tests.warm_process`)."""
    return warm_process.run(
        engine_cmd(*args), cwd=cwd, env=env(runs), text=True, capture_output=True, timeout=120
    )


def _resumed_equals_uninterrupted(
    tmp_path: Path, cwd: Path, preset: str, before: Callable[[Path], None] | None = None
) -> Path:
    """Train ``preset`` 25 epochs straight, and 10 then resumed to 25: the same fit. ``before``
    is called with the short run's directory before it is resumed. Returns that directory."""
    ref = _engine(tmp_path / "ref", cwd, "train", preset, *FIXED, "--set", "train.epochs=25")
    assert ref.returncode == 0, ref.stderr
    expected = last_event(only_run(tmp_path / "ref"))
    runs = tmp_path / "runs"
    short = _engine(runs, cwd, "train", preset, *FIXED, "--set", "train.epochs=10")
    assert short.returncode == 0, short.stderr
    if before is not None:
        before(only_run(runs))
    resumed = _engine(runs, cwd, "resume", "latest", "--set", "train.epochs=25")
    assert resumed.returncode == 0, resumed.stderr
    final = last_event(only_run(runs))
    assert final["type"] == "RunFinished" and final["epochs_run"] == 25
    assert final["weights"] == pytest.approx(expected["weights"], rel=1e-6, abs=1e-7)
    assert final["bias"] == pytest.approx(expected["bias"], rel=1e-6, abs=1e-7)
    return only_run(runs)


def test_a_bundled_csv_preset_resumes_to_the_uninterrupted_fit(tmp_path: Path) -> None:
    work = tmp_path / "work"  # a cwd where data/diabetes.csv does not exist
    work.mkdir()
    run_dir = _resumed_equals_uninterrupted(tmp_path, work, "diabetes")
    config = (run_dir / "config.yaml").read_text()
    assert f"path: {PRESETS / 'data' / 'diabetes.csv'}" in config


def test_a_user_preset_with_relative_data_and_loss_files_resumes(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    (proj / "losses").mkdir(parents=True)
    shutil.copy(PRESETS / "data" / "diabetes.csv", proj / "in.csv")
    shutil.copy(PRESETS / "examples" / "asymmetric_loss.py", proj / "losses" / "my_loss.py")
    (proj / "mine.yaml").write_text(
        "name: mine\n"
        "data: {source: csv, path: in.csv, target: progression}\n"
        "loss:\n"
        "  name: custom\n"
        "  callable: losses/my_loss.py:asymmetric_mse\n"
        "  params: {under: 3.0, over: 1.0}\n"
        "optim: {name: sgd, lr: 0.05}\n"
    )
    other = tmp_path / "elsewhere" / "other.csv"
    other.parent.mkdir()
    shutil.copy(proj / "in.csv", other)

    def edited_is_refused(run_dir: Path) -> None:
        """Another file in config.yaml is still another run, however the checkpoint names it."""
        config = run_dir / "config.yaml"
        text = config.read_text()
        assert f"path: {proj / 'in.csv'}" in text
        assert f"callable: {proj / 'losses' / 'my_loss.py'}:asymmetric_mse" in text
        config.write_text(text.replace(str(proj / "in.csv"), str(other)))
        edited = _engine(tmp_path / "runs", proj, "resume", "latest", "--set", "train.epochs=25")
        assert edited.returncode == 2, edited.stderr
        assert "data.path differs from the checkpoint's config" in edited.stderr
        assert len(edited.stderr.strip().splitlines()) == 1
        config.write_text(text)

    _resumed_equals_uninterrupted(tmp_path, proj, "mine.yaml", edited_is_refused)
