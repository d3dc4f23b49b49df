"""``runs``, ``runs show``, ``runs rm`` and ``predict`` against real processes and files."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
import torch
import yaml

from engine.data.dataset import read_table
from engine.runs.model_file import load_model
from tests.eventually import eventually
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

    def new_dirs() -> set[Path]:
        return {p for p in runs.iterdir() if p.is_dir()} - known

    return eventually(new_dirs, 60, interval=0.05, message=f"a new run directory in {runs}").pop()


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


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three real short runs: mse lr=0.1, mse lr=0.01, huber δ=0.5 (lr 0.05, the preset's)."""
    runs = tmp_path_factory.mktemp("three")
    small = ["--set", "train.epochs=5", "--set", "data.n_samples=200", "--set", "train.device=cpu"]
    for extra in (
        ["--set", "optim.lr=0.1"],
        ["--set", "optim.lr=0.01"],
        ["--set", "loss.name=huber", "--set", "loss.delta=0.5"],
    ):
        done = run(runs, "train", "default", *small, *extra)
        assert done.returncode == 0, done.stderr
    return runs


def _table(runs: Path, *args: str) -> list[list[str]]:
    proc = run(runs, "runs", "--width", "0", *args)
    assert proc.returncode == 0, proc.stderr
    return [re.split(r"\s{2,}", line.strip()) for line in proc.stdout.splitlines()]


def _json_rows(runs: Path, *args: str) -> list[dict]:
    proc = run(runs, "runs", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_the_settings_that_differ_get_columns_and_sort_and_filter_by_them(three_runs: Path) -> None:
    table = _table(three_runs)
    header, rows = table[0], table[1:]
    assert "lr" in header and "seed" not in header  # only what differs
    assert "delta" not in header  # huber's δ is no setting of the mse runs: nothing differs
    by_id = {r["id"]: r for r in _json_rows(three_runs)}
    for row in rows:
        config = yaml.safe_load((three_runs / row[0] / "config.yaml").read_text())
        assert float(row[header.index("lr")]) == config["optim"]["lr"]
        assert by_id[row[0]]["settings"] == {"optim.lr": config["optim"]["lr"]}
    assert len(_table(three_runs, "--filter", "delta=0.5")) == 2  # the huber run, by its δ
    lrs = [float(r[header.index("lr")]) for r in _table(three_runs, "--sort", "lr")[1:]]
    assert lrs == [0.01, 0.05, 0.1]
    lrs = [float(r[header.index("lr")]) for r in _table(three_runs, "--sort", "optim.lr:desc")[1:]]
    assert lrs == [0.1, 0.05, 0.01]
    best = [r["best_monitor"] for r in _json_rows(three_runs, "--sort", "best")]
    assert best == sorted(best) and len(best) == 3
    started = [r["started_at"] for r in _json_rows(three_runs)]
    assert started == sorted(started, reverse=True)  # newest first by default

    assert [r["loss"] for r in _json_rows(three_runs, "--filter", "loss=huber")] == ["huber"]
    assert [r["loss"] for r in _json_rows(three_runs, "--filter", "mse")] == ["mse", "mse"]
    low = _json_rows(three_runs, "--filter", "optim.lr<0.06 state=finished")
    assert sorted(r["settings"].get("optim.lr", 0.05) for r in low) == [0.01, 0.05]
    assert _json_rows(three_runs, "--filter", "lr>=0.1 loss!=mse") == []
    for bad, said in (
        (["--filter", "lrr=1"], "unknown column 'lrr' (did you mean 'lr'?)"),
        (["--filter", "lr<abc"], "< needs a number"),
        (["--sort", "bogus"], "unknown column 'bogus'"),
        (["--sort", "lr:up"], "COL:desc"),
    ):
        proc = run(three_runs, "runs", *bad)
        assert proc.returncode == 2 and said in proc.stderr, (bad, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1


def test_notes_and_tags_are_kept_listed_and_filtered(three_runs: Path, tmp_path: Path) -> None:
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(three_runs, runs)
    target = sorted(p.name for p in runs.iterdir())[0]
    said = run(runs, "runs", "note", target[-6:], "lr too small:  slow")
    assert said.returncode == 0 and "note 'lr too small: slow'" in said.stdout, said.stderr
    assert run(runs, "runs", "tag", target, "slow", "baseline").returncode == 0
    removed = run(runs, "runs", "tag", target, "baseline", "--remove")
    assert removed.returncode == 0 and removed.stdout.strip().endswith("tags slow")
    on_disk = json.loads((runs / target / "notes.json").read_text())
    assert on_disk == {"note": "lr too small: slow", "tags": ["slow"]}
    [row] = _json_rows(runs, "--filter", "tag=slow")
    assert row["id"] == target and row["note"] == "lr too small: slow" and row["tags"] == ["slow"]
    assert [r["id"] for r in _json_rows(runs, "--filter", "small")] == [target]
    header = _table(runs)[0]
    assert header[-3:] == ["tags", "note", "age"]
    bad = run(runs, "runs", "tag", target, "a,b")
    assert bad.returncode == 2 and "one word" in bad.stderr
    cleared = run(runs, "runs", "note", target, "")
    assert cleared.returncode == 0 and "note cleared" in cleared.stdout
    assert json.loads((runs / target / "notes.json").read_text())["tags"] == ["slow"]


def test_no_column_is_cut_at_80_columns_with_long_values(three_runs: Path, tmp_path: Path) -> None:
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(three_runs, runs)
    long_preset = tmp_path / ("a-preset-with-a-very-long-name-indeed-" * 2 + "x.yaml")
    long_preset.write_text((ROOT / "presets" / "default.yaml").read_text())
    done = run(runs, "train", str(long_preset), "--set", "train.epochs=3", "--set", "seed=7")
    assert done.returncode == 0, done.stderr
    newest = sorted(p.name for p in runs.iterdir())[-1]
    note = "start " + "very long note " * 20 + "the end"
    assert run(runs, "runs", "note", newest, note).returncode == 0
    assert run(runs, "runs", "tag", newest, "t" * 40, "second-tag").returncode == 0
    everything = run(runs, "runs", "--width", "0").stdout.splitlines()
    all_headers = everything[0].split()
    assert len(everything[1]) > 80 and "seed" in all_headers and "note" in all_headers
    fitted = run(runs, "runs", "--width", "80")
    lines = fitted.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    headers = lines[0].split()
    assert set(headers) <= set(all_headers)  # every header whole: no column cut
    hidden = re.match(r"(\d+) columns? hidden to fit: (.*)$", lines[-1])
    assert hidden, lines[-1]
    assert int(hidden.group(1)) + len(headers) == len(all_headers)
    assert headers[0] == "id" and "status" in headers
    body = lines[1:-1]
    assert [line.split()[0] for line in body] == [n[-6:] for n in sorted(runs_ids(runs))[::-1]]
    wide = run(runs, "runs", "--width", "200").stdout.splitlines()
    note_cell = next(c for c in re.split(r"\s{2,}", wide[1]) if c.startswith("start"))
    assert note_cell.endswith("the end") and "…" in note_cell and len(note_cell) <= 24


def runs_ids(runs: Path) -> list[str]:
    return [p.name for p in runs.iterdir() if p.is_dir()]
