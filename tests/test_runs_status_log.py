"""``status.json`` (:class:`RunStatus`) and ``events.jsonl`` (:class:`RunLog`): typed, tolerant of
old and torn files, and byte-compatible with the files runs already on disk were written as."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import engine
from engine.core.errors import RunError
from engine.core.events import EpochEnded, RunFinished, RunStarted
from engine.runs.log import TAIL_BYTES, RunLog, event_line, read_events
from engine.runs.status import FORMAT_VERSION, RunStatus, read_status, run_state, write_status
from engine.runs.store import RunWriter, new_run_dir
from engine.training.trainer import run_training

OLD_STATUS = """{
 "format": 1,
 "state": "running",
 "reason": null,
 "pid": 4242,
 "host": "elsewhere",
 "preset": "default",
 "loss": "mse",
 "error": null,
 "message": null,
 "started_at": "2026-01-02T03:04:05+0000",
 "ended_at": null,
 "study": "s1",
 "trial": 3,
 "trial_state": "running"
}
"""
"""A status as the trainer process, then the trainer, then a sweep trial wrote it (key order
included) before RunStatus existed."""


def _gone_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def test_an_old_status_reads_typed_with_its_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "status.json").write_text(OLD_STATUS)
    status = RunStatus.read(tmp_path)
    assert (status.state, status.pid, status.host, status.preset) == (
        "running",
        4242,
        "elsewhere",
        "default",
    )
    assert status.extra == {"study": "s1", "trial": 3, "trial_state": "running"}
    assert status.run_state == "running"  # another host: taken at its word
    assert read_status(tmp_path) == json.loads(OLD_STATUS)  # the mapping, keys in file order
    assert list(read_status(tmp_path)) == list(json.loads(OLD_STATUS))


def test_a_rewrite_keeps_the_files_keys_in_place_and_adds_new_ones_last(tmp_path: Path) -> None:
    (tmp_path / "status.json").write_text(OLD_STATUS)
    new = RunStatus.update(
        tmp_path, state="finished", reason="completed", epochs_run=7, trial_state="complete"
    )
    expected = json.loads(OLD_STATUS)
    expected.update(state="finished", reason="completed", epochs_run=7, trial_state="complete")
    assert (tmp_path / "status.json").read_text() == json.dumps(expected, indent=1) + "\n"
    assert new.epochs_run == 7 and new.extra["trial_state"] == "complete"
    assert write_status(tmp_path, paused=True)["paused"] is True
    assert RunStatus.read(tmp_path).paused is True


def test_a_status_missing_its_state_or_format_reads_as_a_crashed_format_1_run(
    tmp_path: Path,
) -> None:
    (tmp_path / "status.json").write_text('{"pid": 1}')
    status = RunStatus.read(tmp_path)
    assert status.state == "crashed" and status.format == FORMAT_VERSION
    assert status.run_state == "crashed" and status.crash_reason == "its process died"
    assert status.to_dict() == {"pid": 1}  # defaults are not written back as if read


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "not a run directory"),
        ('{"state": "runn', "unreadable status.json"),
        ("[1, 2]", "not a mapping"),
        (f'{{"format": {FORMAT_VERSION + 1}}}', "newer linreg-tui"),
    ],
)
def test_a_missing_torn_or_foreign_status_is_one_run_error(
    tmp_path: Path, text: str | None, message: str
) -> None:
    if text is not None:
        (tmp_path / "status.json").write_text(text)
    with pytest.raises(RunError, match=message):
        RunStatus.read(tmp_path)


def test_run_state_checks_the_pid_on_this_host_only() -> None:
    here = socket.gethostname()
    gone = _gone_pid()
    assert RunStatus(state="running", pid=gone, host=here).run_state == "crashed"
    assert RunStatus(state="running", pid=os.getpid(), host=here).run_state == "running"
    assert RunStatus(state="running", pid=gone, host=here + "-other").run_state == "running"
    assert run_state({"state": "running", "pid": gone, "host": here}) == "crashed"
    crashed = RunStatus(state="crashed", error="TypeError: x", error_text="loss.callable: bad")
    assert crashed.crash_reason == "loss.callable: bad"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = engine.load_config("default", ["train.epochs=12", "train.device=cpu"])
    path = new_run_dir(tmp_path_factory.mktemp("runs"), cfg.name)
    writer = RunWriter(path, cfg.to_dict())
    try:
        run_training(cfg, writer)
    finally:
        writer.close()
    return path


def test_the_log_reads_what_the_writer_appended_line_by_line(run_dir: Path) -> None:
    log = RunLog(run_dir)
    events, end = log.read()
    assert end == (run_dir / "events.jsonl").stat().st_size
    assert [type(e) for e in events] == [RunStarted] + [EpochEnded] * 12 + [RunFinished]
    assert (run_dir / "events.jsonl").read_bytes() == b"".join(map(event_line, events))
    cut = len(event_line(events[0])) + len(event_line(events[1]))
    rest, _ = log.read(cut)
    assert [e.to_dict() for e in rest] == [e.to_dict() for e in events[2:]]
    assert log.read(end) == ([], end)


def test_ends_gives_the_start_and_the_latest_whole_event_of_a_torn_log(
    run_dir: Path, tmp_path: Path
) -> None:
    lines = (run_dir / "events.jsonl").read_bytes().splitlines(keepends=True)
    (tmp_path / "events.jsonl").write_bytes(b"".join(lines[:6]) + lines[6][:40])
    started, last = RunLog(tmp_path).ends()
    assert isinstance(started, RunStarted) and isinstance(last, EpochEnded)
    assert last.epoch == 5  # lines 1-5 are epochs 1-5; the torn sixth is left
    assert RunLog(tmp_path / "nope").ends() == (None, None)


def test_ends_reads_only_the_tail_of_a_long_log(run_dir: Path, tmp_path: Path) -> None:
    lines = (run_dir / "events.jsonl").read_bytes().splitlines(keepends=True)
    epochs = lines[1:-1]
    body = b"".join(epochs) * (3 * TAIL_BYTES // len(b"".join(epochs)) + 1)
    (tmp_path / "events.jsonl").write_bytes(lines[0] + body + lines[-1])
    started, last = RunLog(tmp_path).ends()
    assert isinstance(started, RunStarted) and isinstance(last, RunFinished)
    assert last.epochs_run == 12


def test_epochs_until_keeps_the_epochs_a_resume_goes_on_from(run_dir: Path) -> None:
    kept = RunLog(run_dir).epochs_until(4)
    assert [json.loads(x)["epoch"] for x in kept.splitlines()] == [1, 2, 3, 4]
    assert RunLog(run_dir).epochs_until(99).count(b"\n") == 12  # never the RunFinished


def test_the_log_refuses_appends_before_it_is_opened(tmp_path: Path, run_dir: Path) -> None:
    event = read_events(run_dir)[0][0]
    log = RunLog(tmp_path)
    with pytest.raises(RunError, match="not open for writing"):
        log.append(event)
    log.open()
    log.append(event)
    log.close()
    assert log.read()[0][0].to_dict() == event.to_dict()


def test_a_directory_gone_under_a_reader_is_one_run_error(tmp_path: Path) -> None:
    assert RunLog(tmp_path).read() == ([], 0)  # no log yet: a run still starting
    with pytest.raises(RunError, match="run directory is gone"):
        RunLog(tmp_path / "gone").read()


def test_a_long_runs_thinned_log_reads_back_whole(tmp_path):
    """Past epoch 1,000 the log drops the weights of epochs that neither improve nor fall on the
    stride (``thin``): those null weights are the log's format, not damage."""
    import engine
    from engine.runs.log import FULL_WEIGHT_EPOCHS, RunLog

    epochs = FULL_WEIGHT_EPOCHS + 60
    cfg = engine.load_config("default", [f"train.epochs={epochs}", "early_stopping.enabled=false"])
    run = engine.record(cfg, runs_dir=tmp_path)
    events, _ = RunLog(run).read()
    epoch_events = [e for e in events if type(e).__name__ == "EpochEnded"]
    assert [e.epoch for e in epoch_events] == list(range(1, epochs + 1))
    thinned = [e for e in epoch_events if e.weights is None]
    assert thinned and all(e.epoch > FULL_WEIGHT_EPOCHS for e in thinned)
    assert type(events[-1]).__name__ == "RunFinished"
