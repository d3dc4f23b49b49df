"""File boundaries of ``predict`` and data loading: non-regular files refused in one line,
``--out`` written atomically and only over a regular file, non-finite predictions counted,
model files with missing keys or wrong shapes refused (exit 2), short error lines."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.readonly import read_only
from tests.runs_helpers import ROOT, only_run, run

DIABETES = ROOT / "presets" / "data" / "diabetes.csv"


@pytest.fixture(scope="module")
def diabetes_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    proc = run(runs, "train", "diabetes", "--set", "train.epochs=5")
    assert proc.returncode == 0, proc.stderr
    return only_run(runs)


def one_line(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr
    assert len(lines) == 1 and text in lines[0] and len(lines[0]) <= 200, proc.stderr


def test_fifo_dev_zero_and_a_directory_are_refused_at_once(
    diabetes_run: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    for path, kind in (
        (fifo, "a FIFO"),
        (Path("/dev/zero"), "a character device"),
        (tmp_path, "a directory"),
    ):
        proc = run(diabetes_run.parent, "predict", "latest", str(path), timeout=30)
        one_line(proc, 2, f"{path} is {kind}, not a regular file")
        proc = run(
            diabetes_run.parent,
            "train",
            "diabetes",
            "--no-save",
            "--set",
            f"data.path={path}",
            timeout=30,
        )
        one_line(proc, 2, f"data.path: {path} is {kind}")


def test_out_refuses_devices_fifos_symlinks_directories_and_the_input(
    diabetes_run: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    target = tmp_path / "precious.csv"
    target.write_text("keep me\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    data = tmp_path / "data.csv"
    shutil.copy(DIABETES, data)
    hard = tmp_path / "hard.csv"
    os.link(data, hard)
    cases = {
        Path("/dev/null"): "is a character device",
        fifo: "is a FIFO",
        link: "is a symlink",
        tmp_path: "is a directory",
        data: "is the input file",
        hard: "is the input file",
    }
    for out, reason in cases.items():
        proc = run(diabetes_run.parent, "predict", "latest", str(data), "--out", str(out))
        one_line(proc, 2, reason)
    assert target.read_text() == "keep me\n" and link.is_symlink()
    assert data.read_bytes() == DIABETES.read_bytes() and fifo.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["fifo", "precious.csv", "link.csv", "data.csv", "hard.csv"]
    )


def test_a_failed_write_names_the_file_and_leaves_no_temp_file(
    diabetes_run: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    with read_only(folder):
        proc = run(
            diabetes_run.parent, "predict", "latest", str(DIABETES), "--out", str(folder / "p.csv")
        )
        one_line(proc, 1, f"cannot write {folder / 'p.csv'}")
        assert list(folder.iterdir()) == []


def test_a_full_disk_names_the_file_and_leaves_no_temp_file(
    diabetes_run: Path, tmp_path: Path
) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        big = tmp_path / "big.csv"
        lines = DIABETES.read_text().splitlines()
        big.write_text("\n".join(lines + lines[1:] * 3) + "\n")  # > 64 kB of output
        proc = run(diabetes_run.parent, "predict", "latest", str(big), "--out", str(mnt / "p.csv"))
        one_line(proc, 1, f"cannot write {mnt / 'p.csv'}: No space left on device")
        assert list(mnt.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_out_replaces_a_regular_file_atomically_keeping_its_mode(
    diabetes_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "p.csv"
    out.write_text("old\n")
    out.chmod(0o640)
    proc = run(diabetes_run.parent, "predict", "latest", str(DIABETES), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("age,") and (out.stat().st_mode & 0o777) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["p.csv"]


def test_non_finite_predictions_are_counted_with_the_first_row(
    diabetes_run: Path, tmp_path: Path
) -> None:
    from engine.runs.model_file import load_model

    weights = load_model(diabetes_run / "model.pt").weight[0].tolist()
    lines = DIABETES.read_text().splitlines()
    cells = lines[3].split(",")  # every feature at the float32 edge, pushing the same way
    cells[: len(weights)] = [f"{3.4e38 if w >= 0 else -3.4e38:g}" for w in weights]
    edge = tmp_path / "edge.csv"
    edge.write_text("\n".join([*lines[:3], ",".join(cells), *lines[4:8]]) + "\n")
    proc = run(diabetes_run.parent, "predict", "latest", str(edge))
    assert proc.returncode == 0, proc.stderr
    assert "1 prediction(s) are not finite" in proc.stderr
    assert "the first at data row 3" in proc.stderr
    assert len(proc.stdout.splitlines()) == 8


def test_streamed_predictions_equal_the_models_on_a_multi_block_file(
    diabetes_run: Path, tmp_path: Path
) -> None:
    from engine.data.dataset import read_table
    from engine.runs.model_file import load_model

    lines = DIABETES.read_text().splitlines()
    big = tmp_path / "big.csv"
    big.write_text("\n".join(lines + lines[1:] * 60) + "\n")  # ~2.3 MB: several blocks
    out = tmp_path / "p.csv"
    proc = run(diabetes_run.parent, "predict", "latest", str(big), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    model = load_model(diabetes_run / "model.pt")
    table = read_table(big, model.raw_features, optional=[model.target])
    expected = model.predict(table.values[:, : len(model.raw_features)])
    rows = out.read_text().splitlines()
    got = torch.tensor([float(r.rsplit(",", 1)[1]) for r in rows[1:]])
    assert len(got) == len(expected) == 61 * (len(lines) - 1)
    assert torch.allclose(got, expected, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda b: b.pop("raw_features"), "no 'raw_features'"),
        (lambda b: b.__setitem__("weight", torch.zeros(1, 3)), "weight should be"),
        (lambda b: b.__setitem__("x_mean", torch.zeros(2)), "x_mean should have"),
    ],
)
def test_a_model_with_missing_keys_or_wrong_shapes_is_one_line_exit_2(
    diabetes_run: Path, tmp_path: Path, damage: Callable[[dict[str, Any]], object], reason: str
) -> None:
    copy = tmp_path / diabetes_run.name
    shutil.copytree(diabetes_run, copy)
    blob = torch.load(copy / "model.pt", weights_only=True)
    damage(blob)
    torch.save(blob, copy / "model.pt")
    proc = run(tmp_path, "predict", str(copy), str(DIABETES))
    one_line(proc, 2, reason)
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr


def test_long_user_values_are_cut_to_200_characters_keeping_key_and_reason(
    diabetes_run: Path, tmp_path: Path
) -> None:
    deep = tmp_path / ("d" * 150) / ("e" * 150)
    deep.mkdir(parents=True)
    proc = run(diabetes_run.parent, "predict", "latest", str(deep))
    one_line(proc, 2, "…")
    assert proc.stderr.strip().endswith("is a directory, not a regular file")
    proc = run(diabetes_run.parent, "train", "--no-save", "--set", "optim.lr=" + "x" * 400)
    line = proc.stderr.strip()
    assert proc.returncode == 2 and len(line) <= 200 and "optim.lr" in line, line


def test_sweep_parallel_is_capped_at_the_cpu_count_with_a_line(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "params: {optim.lr: [0.1, 0.5]}\nsampler: grid\npruning: false\nparallel: 100000\n"
    )
    proc = run(
        tmp_path,
        "sweep",
        "default",
        "--sweep",
        str(spec),
        "--parallel",
        "100000",
        "--set",
        "train.epochs=3",
        "--set",
        "data.n_samples=100",
        "--set",
        "train.device=cpu",
    )
    assert proc.returncode == 0, proc.stderr
    cores = os.cpu_count()
    assert f"sweep: parallel 100000 capped at {cores} (the number of CPUs)" in proc.stderr
    assert "100000" not in proc.stdout


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda s: s.pop("optimizer"), "no 'optimizer'"),
        (lambda s: s.__setitem__("model", {"weight": torch.zeros(3)}), "model weight has shape"),
        (lambda s: s["model"].__setitem__("bias", torch.zeros(4)), "model bias should have 1"),
    ],
)
def test_a_checkpoint_with_missing_keys_or_wrong_shapes_is_refused_in_one_line(
    diabetes_run: Path, tmp_path: Path, damage: Callable[[dict[str, Any]], object], reason: str
) -> None:
    from engine.core.errors import RunError
    from engine.runs.checkpoint import load_checkpoint

    state = torch.load(diabetes_run / "checkpoint.pt", weights_only=True)
    load_checkpoint(diabetes_run / "checkpoint.pt")  # the real one loads
    damage(state)
    path = tmp_path / "checkpoint.pt"
    torch.save(state, path)
    with pytest.raises(RunError, match=reason) as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value)


def test_out_refuses_any_file_in_a_run_folder(diabetes_run: Path, tmp_path: Path) -> None:
    """``--out RUN/model.pt`` once replaced the run's model with predictions; any file in a run
    folder (an existing one or a new one, through a link to the folder too) is refused."""
    before = {p.name: p.read_bytes() for p in diabetes_run.iterdir() if p.is_file()}
    link = tmp_path / "run-link"
    link.symlink_to(diabetes_run, target_is_directory=True)
    for out in (diabetes_run / "model.pt", diabetes_run / "preds.csv", link / "config.yaml"):
        proc = run(diabetes_run.parent, "predict", "latest", str(DIABETES), "--out", str(out))
        one_line(proc, 2, "inside the run folder")
    after = {p.name: p.read_bytes() for p in diabetes_run.iterdir() if p.is_file()}
    assert after == before
