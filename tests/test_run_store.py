"""The run directory: format, torn lines, atomic writes, finding runs, the model file."""

from __future__ import annotations

import json
import math
import os
import pickle
import socket
from pathlib import Path

import pytest
import torch

import engine
from engine.core.events import EpochEnded, RunFinished, RunStarted
from engine.data.dataset import load_dataset, split_indices
from engine.data.raw_source import read_source
from engine.runs import store
from engine.runs.checkpoint import save_checkpoint
from engine.runs.model_file import load_model
from engine.runs.store import RunError, RunWriter, event_from_dict, new_run_dir, read_events
from engine.training.trainer import run_training


def _train_into(root: Path, *overrides: str) -> tuple[Path, engine.Config, RunFinished]:
    cfg = engine.load_config("default", ["train.epochs=40", "train.device=cpu", *overrides])
    run = new_run_dir(root, cfg.name)
    writer = RunWriter(run, cfg.to_dict())
    try:
        fin = run_training(cfg, writer)
    finally:
        writer.close()
    return run, cfg, fin


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, engine.Config, RunFinished]:
    return _train_into(tmp_path_factory.mktemp("runs"))


def test_run_directory_holds_config_log_status_and_model(trained) -> None:
    run, cfg, fin = trained
    assert sorted(p.name for p in run.iterdir()) == [
        "config.yaml",
        "curve.bin",
        "events.jsonl",
        "model.pt",
        "status.json",
        "writer.lock",
    ]
    again = engine.load_config(str(run / "config.yaml"), ["train.device=cpu"])
    assert again.to_dict() == cfg.to_dict()  # the saved config reproduces the run
    events, _ = read_events(run)
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert [e.epoch for e in events if isinstance(e, EpochEnded)] == list(range(1, 41))
    assert events[-1].weights == fin.weights
    status = store.read_status(run)
    assert status["state"] == "finished" and status["reason"] == fin.reason
    assert status["pid"] == os.getpid() and status["format"] == store.FORMAT_VERSION


def test_saved_config_trains_to_the_same_numbers(trained, tmp_path: Path) -> None:
    run, _, fin = trained
    cfg = engine.load_config(str(run / "config.yaml"), ["train.device=cpu"])
    assert run_training(cfg, lambda e: None).weights == fin.weights


def test_events_round_trip_through_json_lines_including_non_finite_values() -> None:
    ev = EpochEnded(
        epoch=3,
        epochs=9,
        train_loss=math.inf,
        val_loss=math.nan,
        best_epoch=None,
        best_monitor=None,
        improved=False,
        wait=2,
        patience=5,
        lr=0.1,
        weights=[1.0, -math.inf],
        bias=None,
        elapsed_s=0.5,
        samples_per_s=10.0,
        metrics={"train": {"mse": math.nan}},
    )
    back = event_from_dict(json.loads(json.dumps(ev.to_dict())))
    assert back.to_dict() == ev.to_dict() and math.isinf(back.train_loss)
    assert math.isnan(back.val_loss) and back.weights[1] == -math.inf


def test_a_torn_last_line_is_left_for_the_next_read(trained, tmp_path: Path) -> None:
    run, _, _ = trained
    copy = tmp_path / "copy"
    copy.mkdir()
    lines = (run / "events.jsonl").read_bytes().splitlines(keepends=True)
    (copy / "events.jsonl").write_bytes(b"".join(lines[:5]) + lines[5][:37])
    events, offset = read_events(copy)
    assert len(events) == 5
    with open(copy / "events.jsonl", "ab") as fh:  # the writer finishes the line
        fh.write(lines[5][37:])
    more, _ = read_events(copy, offset=offset)
    assert len(more) == 1 and more[0].to_dict() == event_from_dict(json.loads(lines[5])).to_dict()


def test_a_corrupt_complete_line_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text('{"type": "Nope"}\n')
    with pytest.raises(RunError, match="events.jsonl: bad event line"):
        read_events(tmp_path)


def test_late_epochs_are_thinned_but_never_their_losses() -> None:
    w = [0.123456789] * 20
    base = dict(
        epochs=100_000,
        train_loss=0.5,
        val_loss=0.6,
        best_epoch=1,
        best_monitor=0.6,
        wait=3,
        patience=10,
        lr=0.1,
        weights=w,
        bias=0.1,
        elapsed_s=1.0,
        samples_per_s=1e6,
        metrics={"train": {"mse": 0.5, "rmse": 0.7, "mae": 0.4, "r2": 0.9}},
        weights_original=w,
        bias_original=0.2,
        gap=1e-3,
    )
    late = store.thin(EpochEnded(epoch=54_321, improved=False, **base))
    assert late["weights"] is None and late["metrics"] == {}
    assert late["train_loss"] == 0.5 and late["val_loss"] == 0.6
    assert store.thin(EpochEnded(epoch=54_320, improved=False, **base))["weights"] == w
    assert store.thin(EpochEnded(epoch=54_321, improved=True, **base))["weights"] == w
    size = (
        sum(
            len(
                json.dumps(
                    store.thin(EpochEnded(epoch=e, improved=False, **base)), separators=(",", ":")
                )
            )
            + 1
            for e in range(1, 100_001, 7)
        )
        * 7
    )
    assert size < 50e6, f"a 100,000-epoch log with 20 features would be {size / 1e6:.0f} MB"


def test_atomic_write_keeps_the_old_file_when_the_rename_never_happens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "checkpoint.pt"
    save_checkpoint(target, {"epoch": 1, "w": torch.ones(3)})

    def crash(*_: object) -> None:
        raise OSError("killed between write and rename")

    monkeypatch.setattr(store.os, "replace", crash)
    with pytest.raises(OSError):
        save_checkpoint(target, {"epoch": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    # read raw: the test's blob is not a whole checkpoint (load_checkpoint checks its keys)
    assert torch.load(target, weights_only=True)["epoch"] == 1


def test_resolve_run_by_id_prefix_short_id_path_and_latest(tmp_path: Path) -> None:
    a, b = (tmp_path / "20260101-000000-default-aaa111", tmp_path / "20260102-000000-ridge-bbb222")
    for run in (a, b):
        run.mkdir()
        store.write_status(run, format=1, state="finished", started_at="x")
    assert store.resolve_run("latest", tmp_path) == b
    assert store.resolve_run(a.name, tmp_path) == a
    assert store.resolve_run("20260101", tmp_path) == a
    assert store.resolve_run("bbb222", tmp_path) == b
    assert store.resolve_run(str(a), tmp_path) == a
    with pytest.raises(RunError, match="ambiguous: 2 runs match"):
        store.resolve_run("2026", tmp_path)
    with pytest.raises(RunError, match="unknown run 'nope'"):
        store.resolve_run("nope", tmp_path)


def test_runs_started_within_one_second_list_and_resolve_newest_first(tmp_path: Path) -> None:
    """Quick runs share their name's second; the list and ``latest`` still follow the order
    they started in, whatever their presets are called (here against the alphabet)."""
    for attempt in range(20):  # until three folders are made within one second (at once, mostly)
        root = tmp_path / f"runs{attempt}"
        made = [new_run_dir(root, name) for name in ("zeta", "alpha", "mid")]
        if len({run.name[:15] for run in made}) == 1:
            break
    else:
        pytest.fail("no three run folders were made within one second in 20 tries")
    for run in made:
        store.write_status(run, format=1, state="finished", started_at="x")
    assert [info.path for info in store.list_runs(root)] == made[::-1]
    assert store.resolve_run("latest", root) == made[-1]


def test_a_run_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    store.write_status(tmp_path, format=store.FORMAT_VERSION + 1, state="finished")
    with pytest.raises(RunError, match="newer linreg-tui"):
        store.read_status(tmp_path)


def test_a_running_status_whose_process_is_gone_reads_as_crashed(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    gone = int(proc.stdout)
    status = store.write_status(tmp_path, state="running", pid=gone, host=socket.gethostname())
    assert store.run_state(status) == "crashed"
    assert store.run_state({**status, "pid": os.getpid()}) == "running"


def test_predict_equals_the_trained_models_predictions_on_training_rows(trained) -> None:
    run, cfg, fin = trained
    model = load_model(run / "model.pt")
    raw = read_source(cfg)
    idx_train, _, _ = split_indices(int(raw.x.shape[0]), cfg)
    ds = load_dataset(cfg)
    expected = torch.nn.functional.linear(
        ds.train.x, torch.tensor([fin.weights]), torch.tensor([fin.bias])
    ).squeeze(-1)
    expected = expected * ds.y_std + ds.y_mean
    got = model.predict(raw.x[idx_train][:, : len(model.raw_features)])
    assert torch.equal(got, expected)


def test_predict_undoes_polynomial_features_and_target_scaling(tmp_path: Path) -> None:
    run, cfg, fin = _train_into(tmp_path, "data.poly_degree=3", "data.standardize_target=true")
    model = load_model(run / "model.pt")
    assert model.raw_features == ["x1", "x2", "x3"] and model.poly_degree == 3
    raw = read_source(cfg)
    idx_train, _, _ = split_indices(int(raw.x.shape[0]), cfg)
    ds = load_dataset(cfg)
    expected = torch.nn.functional.linear(
        ds.train.x, torch.tensor([fin.weights]), torch.tensor([fin.bias])
    ).squeeze(-1)
    assert torch.equal(model.predict(raw.x[idx_train][:, :3]), expected * ds.y_std + ds.y_mean)


class _Evil:
    def __reduce__(self):  # runs os.system on an unsafe load
        return (os.system, ("touch /tmp/linreg-tui-pwned",))


def test_weights_only_refuses_a_pickled_object_in_a_model_file(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"weight": torch.ones(1, 3), "payload": _Evil()}, path)
    with pytest.raises(RunError, match="refused to load|not a readable model file"):
        load_model(path)
    assert not Path("/tmp/linreg-tui-pwned").exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "pickle"])
def test_a_corrupt_model_file_is_one_clear_error(trained, tmp_path: Path, damage: str) -> None:
    run, _, _ = trained
    path = tmp_path / "model.pt"
    data = (run / "model.pt").read_bytes()
    path.write_bytes(
        {
            "truncate": data[: len(data) // 2],
            "garbage": b"not a model",
            "pickle": pickle.dumps([1, 2, 3]),
        }[damage]
    )
    with pytest.raises(RunError, match=str(path)):
        load_model(path)


def test_engine_record_and_load_model_from_python(tmp_path: Path) -> None:
    cfg = engine.load_config("default", ["train.epochs=15", "train.device=cpu"])
    run = engine.record(cfg, tmp_path)
    assert store.read_status(run)["state"] == "finished"
    fin = read_events(run)[0][-1]
    model = engine.load_model("latest", tmp_path)
    assert model.weight.reshape(-1).tolist() == pytest.approx(fin.weights, rel=1e-6)
    assert torch.equal(engine.load_model(run / "model.pt").weight, model.weight)
