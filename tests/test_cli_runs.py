"""``runs``, ``runs show``, ``runs rm`` and ``predict`` against real processes and files."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest
import torch

from engine.data.dataset import read_table
from engine.runs.model_file import load_model
from tests.runs_helpers import LONG, ROOT, only_run, run, start, wait_for_epochs

DIABETES = ROOT / "presets" / "data" / "diabetes.csv"


@pytest.fixture(scope="module")
def diabetes_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    proc = run(runs, "train", "diabetes", "--set", "train.epochs=30")
    assert proc.returncode == 0, proc.stderr
    return only_run(runs)


def _new_run(runs: Path, known: set[Path]) -> Path:
    """The run directory that appears under ``runs`` besides ``known`` ones."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = {p for p in runs.iterdir() if p.is_dir()} - known
        if new:
            return new.pop()
        time.sleep(0.05)
    raise AssertionError("no new run directory appeared")


def test_runs_lists_running_crashed_and_finished_runs_newest_first(tmp_path: Path) -> None:
    done = run(tmp_path, "train", "--set", "train.epochs=5")
    assert done.returncode == 0, done.stderr
    finished_dir = only_run(tmp_path)
    killed = start(tmp_path, "train", *LONG)
    crashed_dir = _new_run(tmp_path, {finished_dir})
    wait_for_epochs(crashed_dir, 3, killed)
    killed.kill()
    killed.communicate(timeout=30)
    going = start(tmp_path, "train", *LONG)
    try:
        running_dir = _new_run(tmp_path, {finished_dir, crashed_dir})
        wait_for_epochs(running_dir, 3, going)
        listing = run(tmp_path, "runs", "--json")
        assert listing.returncode == 0, listing.stderr
        rows = {r["id"]: r for r in map(json.loads, listing.stdout.splitlines())}
        assert list(rows) == sorted(rows, reverse=True)
        assert rows[running_dir.name]["state"] == "running"
        assert rows[crashed_dir.name]["status"].startswith("crashed at epoch ")
        assert rows[finished_dir.name]["status"] == "finished (completed)"
        assert rows[finished_dir.name]["epochs"] == 5
        text = run(tmp_path, "runs")
        assert "crashed at epoch" in text.stdout and "running" in text.stdout
        refused = run(tmp_path, "runs", "rm", running_dir.name)
        assert refused.returncode == 2 and "still running" in refused.stderr
        assert running_dir.exists()
    finally:
        going.terminate()
        going.communicate(timeout=30)
    removed = run(tmp_path, "runs", "rm", "-y", crashed_dir.name)
    assert removed.returncode == 0 and not crashed_dir.exists()


def test_runs_show_prints_the_train_summary(diabetes_run: Path) -> None:
    proc = run(diabetes_run.parent, "runs", "show", "latest")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"run {diabetes_run.name}: finished")
    assert "coefficient" in proc.stdout and "test" in proc.stdout


def test_predict_writes_rows_with_the_models_predictions(
    diabetes_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pred.csv"
    proc = run(
        diabetes_run.parent, "predict", diabetes_run.name[-6:], str(DIABETES), "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(out.read_text())))
    model = load_model(diabetes_run / "model.pt")
    assert rows[0] == [*model.raw_features, model.target, f"{model.target}_pred"]
    table = read_table(DIABETES, model.raw_features, optional=[model.target])
    expected = model.predict(table.values[:, : len(model.raw_features)])
    got = torch.tensor([float(r[-1]) for r in rows[1:]])
    assert len(rows) - 1 == len(table.values)
    assert torch.allclose(got, expected, rtol=1e-6)


def test_predict_refuses_wrong_columns_and_bad_cells_with_one_line(
    diabetes_run: Path, tmp_path: Path
) -> None:
    lines = DIABETES.read_text().splitlines()
    header = lines[0].split(",")
    missing = tmp_path / "missing.csv"
    missing.write_text("\n".join(",".join(r.split(",")[1:]) for r in lines[:5]) + "\n")
    extra = tmp_path / "extra.csv"
    extra.write_text(lines[0] + ",zz\n" + "\n".join(r + ",1" for r in lines[1:5]) + "\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "\n".join(lines[:3] + [lines[3].replace(lines[3].split(",")[2], "abc", 1)]) + "\n"
    )
    cases = {
        missing: f"column '{header[0]}' not found",
        extra: "unexpected column 'zz'",
        bad: f"{bad}:4",
    }
    for path, expected in cases.items():
        proc = run(diabetes_run.parent, "predict", "latest", str(path))
        assert proc.returncode == 2, (path, proc.stderr)
        assert expected in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("spec, message", [("nope", "unknown run 'nope'"), ("2", "is ambiguous")])
def test_unknown_or_ambiguous_run_is_one_line_exit_2(
    tmp_path: Path, spec: str, message: str
) -> None:
    for i in range(2):
        run_dir = tmp_path / f"2026010{i}-000000-default-abc{i}"
        run_dir.mkdir(parents=True)
        (run_dir / "status.json").write_text('{"format": 1, "state": "finished"}')
    proc = run(tmp_path, "runs", "show", spec)
    assert proc.returncode == 2 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_truncated_model_file_is_one_line_and_deletes_nothing(
    diabetes_run: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / diabetes_run.name
    shutil.copytree(diabetes_run, copy)
    data = (copy / "model.pt").read_bytes()
    (copy / "model.pt").write_bytes(data[:100])
    proc = run(tmp_path, "predict", str(copy), str(DIABETES))
    assert proc.returncode == 2 and "not a readable model file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in diabetes_run.iterdir())
