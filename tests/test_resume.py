"""``resume`` continues a killed or finished run exactly where an uninterrupted one would be."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runs import store
from tests.runs_helpers import epochs_logged, last_event, only_run, run, start, wait_for_epochs

FULL = [
    "--set",
    "data.n_samples=100000",
    "--set",
    "data.n_features=40",
    "--set",
    "early_stopping.enabled=false",
    "--set",
    "optim.lr=0.01",
]
MINI = [
    "--set",
    "data.n_samples=20000",
    "--set",
    "optim.batch_size=64",
    "--set",
    "optim.name=adam",
    "--set",
    "optim.lr=0.001",
    "--set",
    "early_stopping.patience=1000",
]


def _final(runs: Path, *args: str) -> dict:
    proc = run(runs, "train", *args)
    assert proc.returncode == 0, proc.stderr
    return last_event(only_run(runs))


@pytest.mark.parametrize(
    "setting, epochs, kill_at",
    [(FULL, 150, 60), (MINI, 40, 15)],
    ids=["full-batch", "minibatch-adam-early-stopping"],
)
def test_resume_after_kill_9_equals_an_uninterrupted_run(
    tmp_path: Path, setting: list[str], epochs: int, kill_at: int
) -> None:
    args = [*setting, "--set", f"train.epochs={epochs}", "--set", "train.device=cpu"]
    reference = _final(tmp_path / "ref", *args)

    runs = tmp_path / "killed"
    proc = start(runs, "train", *args)
    run_dir = only_run(runs)
    wait_for_epochs(run_dir, kill_at, proc)
    proc.kill()  # SIGKILL: no handler runs, no RunFinished
    proc.communicate(timeout=30)
    assert store.run_state(store.read_status(run_dir)) == "crashed"
    assert kill_at <= epochs_logged(run_dir) < epochs

    resumed = run(runs, "resume", "latest")
    assert resumed.returncode == 0, resumed.stderr
    final = last_event(run_dir)
    assert final["type"] == "RunFinished" and final["epochs_run"] == reference["epochs_run"]
    assert final["weights"] == pytest.approx(reference["weights"], rel=1e-6, abs=1e-7)
    assert final["bias"] == pytest.approx(reference["bias"], rel=1e-6, abs=1e-7)
    events, _ = store.read_events(run_dir)
    epochs_seen = [e.epoch for e in events if type(e).__name__ == "EpochEnded"]
    assert epochs_seen == list(range(1, reference["epochs_run"] + 1))  # each epoch once
    assert store.read_status(run_dir)["state"] == "finished"


def test_a_finished_run_resumed_with_more_epochs_equals_a_longer_run(tmp_path: Path) -> None:
    args = [*FULL, "--set", "train.device=cpu"]
    reference = _final(tmp_path / "ref", *args, "--set", "train.epochs=60")
    runs = tmp_path / "short"
    short = _final(runs, *args, "--set", "train.epochs=30")
    assert short["epochs_run"] == 30
    proc = run(runs, "resume", "latest", "--set", "train.epochs=60")
    assert proc.returncode == 0, proc.stderr
    final = last_event(only_run(runs))
    assert final["epochs_run"] == 60
    assert final["weights"] == pytest.approx(reference["weights"], rel=1e-6, abs=1e-7)


def test_resume_refuses_a_running_run_a_changed_problem_and_a_done_run(tmp_path: Path) -> None:
    proc = start(
        tmp_path, "train", "--set", "train.epochs=1000000", "--set", "early_stopping.enabled=false"
    )
    run_dir = only_run(tmp_path)
    try:
        wait_for_epochs(run_dir, 3, proc)
        busy = run(tmp_path, "resume", run_dir.name)
        assert busy.returncode == 2 and "still running" in busy.stderr
        assert len(busy.stderr.strip().splitlines()) == 1
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    changed = run(tmp_path, "resume", "latest", "--set", "optim.lr=0.5")
    assert changed.returncode == 2 and "only train.* and early_stopping.*" in changed.stderr
    done = run(
        tmp_path,
        "train",
        "--set",
        "train.epochs=5",
        "--set",
        "early_stopping.enabled=false",
        "--runs-dir",
        str(tmp_path / "done"),
    )
    assert done.returncode == 0
    again = run(tmp_path / "done", "resume", "latest")
    assert again.returncode == 2 and "already ran 5 epochs" in again.stderr


def _snapshot(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())}


def test_a_resume_that_cannot_start_leaves_the_run_exactly_as_it_was(tmp_path: Path) -> None:
    """The data file is gone, or the checkpoint is from another kind of device: exit 2, one
    line, and not a byte of the run directory changes (found in review)."""
    data = tmp_path / "d.csv"
    data.write_text(
        (Path(__file__).resolve().parents[1] / "presets" / "data" / "diabetes.csv").read_text()
    )
    runs = tmp_path / "runs"
    first = run(
        runs,
        "train",
        "diabetes",
        "--set",
        f"data.path={data}",
        "--set",
        "train.epochs=5",
        "--set",
        "early_stopping.enabled=false",
    )
    assert first.returncode == 0, first.stderr
    run_dir = only_run(runs)
    before = _snapshot(run_dir)
    data.unlink()
    gone = run(runs, "resume", "latest", "--set", "train.epochs=10")
    assert gone.returncode == 2 and "not found" in gone.stderr, gone.stderr
    assert len(gone.stderr.strip().splitlines()) == 1
    assert _snapshot(run_dir) == before

    import torch

    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    state["device"] = "cuda"  # as if taken on a GPU
    torch.save(state, run_dir / "checkpoint.pt")
    before = _snapshot(run_dir)
    data.write_text(
        (Path(__file__).resolve().parents[1] / "presets" / "data" / "diabetes.csv").read_text()
    )
    moved = run(runs, "resume", "latest", "--set", "train.epochs=10", "--set", "train.device=cpu")
    assert moved.returncode == 2 and "taken on cuda" in moved.stderr, moved.stderr
    assert _snapshot(run_dir) == before


def test_a_resumed_log_is_one_history_with_the_new_total(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert (
        run(
            runs, "train", "--set", "train.epochs=5", "--set", "early_stopping.enabled=false"
        ).returncode
        == 0
    )
    assert run(runs, "resume", "latest", "--set", "train.epochs=12").returncode == 0
    events, _ = store.read_events(only_run(runs))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["RunStarted"] + ["EpochEnded"] * 12 + ["RunFinished"]
    assert events[0].epochs == 12 and events[0].config["train"]["epochs"] == 12
