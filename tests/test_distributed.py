"""Data-parallel training: real torchrun ranks (gloo on loopback) against one process.

Each test starts ``python -m engine train --nproc N`` (torchrun's elastic agent in the launcher,
N real rank processes) and reads the run directory rank 0 wrote. The single-process answer is
``engine.fit`` of the same config in this process. Full batch must agree to 1e-6 (the ranks sum
the same float64 statistics or float32 gradients in another order), minibatch to 1e-5.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from engine.config import parse_config
from engine.training.run import fit
from tests.eventually import eventually
from tests.runs_helpers import run, start

pytestmark = pytest.mark.slow

SMALL = {
    "seed": 3,
    "data": {"n_samples": 1203, "n_features": 4, "noise": 0.5, "outlier_fraction": 0.05},
    "train": {"epochs": 40, "device": "cpu"},
    "early_stopping": {"enabled": False},
}
"""A small problem whose train split (963 rows) does not divide evenly among the ranks."""


def overrides(cfg: dict[str, Any]) -> list[str]:
    """``--set`` arguments for a nested config dict."""
    out = []
    for section, values in cfg.items():
        if isinstance(values, dict):
            out += [f"--set={section}.{k}={json.dumps(v)}" for k, v in values.items()]
        else:
            out.append(f"--set={section}={values}")
    return out


def merged(**sections: dict[str, Any]) -> dict[str, Any]:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in SMALL.items()}
    for name, values in sections.items():
        out.setdefault(name, {}).update(values)
    return out


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def finished(run_dir: Path) -> dict[str, Any]:
    return next(e for e in reversed(events(run_dir)) if e["type"] == "RunFinished")


def single(cfg: dict[str, Any]) -> Any:
    """The same run in one process (this one)."""
    return fit(parse_config(cfg, where="test")).finished


def assert_same(dist: dict[str, Any], one: Any, tol: float) -> None:
    assert dist["weights"] == pytest.approx(one.weights, rel=tol, abs=tol)
    assert dist["bias"] == pytest.approx(one.bias, rel=tol, abs=tol)
    assert dist["train_loss"] == pytest.approx(one.train_loss, rel=tol, abs=tol)
    assert dist["val_loss"] == pytest.approx(one.val_loss, rel=tol, abs=tol)


def train(tmp_path: Path, cfg: dict[str, Any], nproc: int = 2, **extra: str) -> Path:
    """Train ``cfg`` as ``nproc`` ranks into a fresh run directory; return it."""
    runs, run_dir = tmp_path / "runs", tmp_path / "run"
    done = run(
        runs, "train", *overrides(cfg), f"--nproc={nproc}", "--run-dir", str(run_dir), **extra
    )
    assert done.returncode == 0, done.stderr
    return run_dir


@pytest.mark.parametrize(
    ("loss", "steps"),
    [("mse", "auto"), ("mse", "closed_form"), ("huber", "autograd"), ("huber", "auto")],
)
def test_full_batch_two_ranks_equal_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loss: str, steps: str
) -> None:
    """MSE on the sufficient statistics (all-reduced once) and on the per-epoch gradient, huber
    by autograd and by its closed-form gradient: 2 ranks give the single process's fit."""
    cfg = merged(loss={"name": loss})
    run_dir = train(tmp_path, cfg, LINREG_TUI_STEPS=steps)
    monkeypatch.setenv("LINREG_TUI_STEPS", steps)
    assert_same(finished(run_dir), single(cfg), 1e-6)


def test_minibatch_splits_the_global_batch(tmp_path: Path) -> None:
    """Each global batch of 50 shuffled rows is cut among 3 ranks: the same iterates as one
    process up to float rounding (a penalty and a last, short batch included)."""
    cfg = merged(optim={"batch_size": 50, "lr": 0.05}, loss={"name": "huber", "l2": 0.01})
    cfg["train"]["epochs"] = 8
    assert_same(finished(train(tmp_path, cfg, nproc=3)), single(cfg), 1e-5)


def test_rank_zero_alone_writes_and_records_the_processes(tmp_path: Path) -> None:
    """One run directory, written by rank 0 (its pid in the status); the number of processes is
    in the status and in the RunStarted config; rank 1 wrote nothing anywhere."""
    runs = tmp_path / "runs"
    done = run(runs, "train", *overrides(SMALL), "--nproc=2")
    assert done.returncode == 0, done.stderr
    (run_dir,) = runs.iterdir()
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.yaml", "events.jsonl", "status.json", "model.pt", "checkpoint.pt"} <= names
    assert not {n for n in names if "rank" in n or n.endswith(".tmp")}
    status = json.loads((run_dir / "status.json").read_text())
    assert status["processes"] == 2 and status["state"] == "finished"
    started = events(run_dir)[0]
    assert started["type"] == "RunStarted" and started["config"]["train"]["processes"] == 2
    # one progress stream: rank 0's
    assert done.stderr.count("run: ") == 1 and done.stdout.count("completed 40 epochs") == 1


def _rank_pid(launcher: int, rank: int) -> int | None:
    """The pid of the child of ``launcher`` that torchrun started as ``rank``."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == launcher and f"RANK={rank}".encode() in environ:
            return int(proc.name)
    return None


def _epochs_logged(run_dir: Path) -> int:
    try:
        return (run_dir / "events.jsonl").read_text().count('"EpochEnded"')
    except OSError:
        return 0


LONG = {"train": {"epochs": 1000000}, "data": {"n_samples": 20000}}


def test_a_killed_rank_crashes_the_run_within_seconds(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = start(
        tmp_path / "runs", "train", *overrides(merged(**LONG)), "--nproc=2", "--run-dir",
        str(run_dir),
    )  # fmt: skip
    try:
        eventually(lambda: _epochs_logged(run_dir) >= 3, timeout=60, message="3 epochs")
        victim = eventually(lambda: _rank_pid(proc.pid, 1), message="rank 1's process")
        os.kill(victim, signal.SIGKILL)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert took < 10
    assert err.strip().splitlines()[-1] == "crashed: rank 1 exited (signal 9)"
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "crashed" and status["error"] == "rank 1 exited (signal 9)"


def test_ctrl_c_on_the_launcher_stops_every_rank_cleanly(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = start(
        tmp_path / "runs", "train", *overrides(merged(**LONG)), "--nproc=2", "--run-dir",
        str(run_dir),
    )  # fmt: skip
    try:
        eventually(lambda: _epochs_logged(run_dir) >= 3, timeout=60, message="3 epochs")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "finished" and status["reason"] == "cancelled"
    assert status["message"].startswith("stopped by Ctrl-C at epoch ")
    assert finished(run_dir)["reason"] == "cancelled"


def test_resume_with_another_number_of_ranks_repeats_the_uninterrupted_run(tmp_path: Path) -> None:
    """20 minibatch epochs in one process, then 20 more as 2 ranks: the uninterrupted
    single-process run's result (the checkpoint holds the shuffling generator)."""
    cfg = merged(optim={"batch_size": 64, "lr": 0.02})
    cfg["train"]["epochs"] = 20
    runs, run_dir = tmp_path / "runs", tmp_path / "run"
    first = run(runs, "train", *overrides(cfg), "--run-dir", str(run_dir))
    assert first.returncode == 0, first.stderr
    more = run(runs, "resume", str(run_dir), "--set=train.epochs=40", "--nproc=2")
    assert more.returncode == 0, more.stderr
    whole = merged(optim={"batch_size": 64, "lr": 0.02})
    fin = finished(run_dir)
    assert fin["epochs_run"] == 40
    assert_same(fin, single(whole), 1e-5)
    assert json.loads((run_dir / "status.json").read_text())["processes"] == 2


def test_one_process_is_a_plain_run(tmp_path: Path) -> None:
    """``train.processes: 1`` (the default) starts no agent: one process, no ``processes``
    key in the status."""
    runs = tmp_path / "runs"
    out = run(runs, "train", *overrides(SMALL))
    assert out.returncode == 0, out.stderr
    (run_dir,) = runs.iterdir()
    assert "processes" not in json.loads((run_dir / "status.json").read_text())


def test_the_dashboard_starts_and_stops_a_data_parallel_run(tmp_path: Path) -> None:
    """A config with ``train.processes: 2`` started as the dashboard starts runs (a detached
    trainer process): it trains as 2 ranks, and the dashboard's stop, sent to the process it
    started, stops every rank after the same epoch ("stopped by you")."""
    from engine.cli.trainer_process import start_trainer

    cfg = merged(train={"epochs": 1000000, "processes": 2}, data={"n_samples": 20000})
    handle = start_trainer(parse_config(cfg, where="test"), tmp_path / "runs")
    try:
        eventually(lambda: _epochs_logged(handle.run_dir) >= 3, timeout=60, message="3 epochs")
        assert handle.stop()
        eventually(lambda: not handle.alive(), timeout=30, message="the launcher to exit")
    finally:
        if handle.alive():
            handle.kill()
    status = json.loads((handle.run_dir / "status.json").read_text())
    assert status["processes"] == 2 and status["reason"] == "cancelled"
    assert status["message"].startswith("stopped by you at epoch ")
