"""A damaged log read through its curve summary (issue 19) and a line lost from its middle
(issue 20): the log has one parser (:meth:`engine.runs.log.RunLog.lines`), so zooming into a
damaged stretch (``Curve.points``), reading one epoch (``Curve.epoch``), rebuilding a summary
and reading events all refuse with the same one line naming the line in the whole file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.core.errors import RunError
from engine.core.events import EpochEnded
from engine.runs.curve_read import load_curve, rebuild
from engine.runs.log import LOG_NAME, RunLog
from tests.long_run import train_loss, write_long_run

N = 3000


def _lines(run: Path) -> list[bytes]:
    return (run / LOG_NAME).read_bytes().splitlines(keepends=True)


def _edit(run: Path, epoch: int, old: bytes, new: bytes) -> int:
    """Replace ``old`` by ``new`` (as long: the summary's byte offsets stay right) in the line
    of ``epoch``; that line's number."""
    assert len(old) == len(new)
    lines = _lines(run)
    number = next(i + 1 for i, ln in enumerate(lines) if b'"epoch":%d,' % epoch in ln)
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    (run / LOG_NAME).write_bytes(b"".join(lines))
    return number


@pytest.fixture
def long_run(tmp_path: Path) -> Path:
    return write_long_run(tmp_path / "runs", N)


def test_points_and_epoch_in_a_damaged_stretch_raise_the_logs_one_error(long_run: Path) -> None:
    line = _edit(long_run, 700, b'"train_loss":', b'"train_loss"#')
    assert line == 701  # the RunStarted, then one line per epoch
    curve = load_curve(long_run)
    assert not curve.rebuilt  # the summary still matches: the damage is found when read
    with pytest.raises(RunError) as read:
        RunLog(long_run).read()
    said = str(read.value)
    assert said.startswith(f"{long_run.name}/events.jsonl: bad event line 701 (")
    assert said.endswith("): the log is damaged")
    with pytest.raises(RunError) as points:
        curve.points("train_loss", 690, 710, 160)  # a narrow range: the epochs' own lines
    with pytest.raises(RunError) as one:
        curve.epoch(700)
    assert str(points.value) == str(one.value) == said
    # elsewhere the log reads as written
    assert curve.points("train_loss", 100, 120, 160) == [
        (float(e), train_loss(e)) for e in range(100, 121)
    ]
    event = curve.epoch(2000)
    assert isinstance(event, EpochEnded) and event.train_loss == train_loss(2000)


def test_a_wrong_type_in_one_epochs_line_is_the_same_error_as_a_full_read(long_run: Path) -> None:
    lines = _lines(long_run)
    data = json.loads(lines[1500])
    assert data["epoch"] == 1500
    data["train_loss"] = "abc"
    lines[1500] = json.dumps(data, separators=(",", ":")).encode() + b"\n"
    (long_run / LOG_NAME).write_bytes(b"".join(lines))
    with pytest.raises(RunError, match=r"bad event line 1501 \(EpochEnded.train_loss is ") as read:
        RunLog(long_run).read()
    with pytest.raises(RunError) as one:
        load_curve(long_run).epoch(1500)  # every field of the epoch's line checked
    assert str(one.value) == str(read.value)


def test_a_line_deleted_from_the_middle_is_refused_naming_the_line(tmp_path: Path) -> None:
    run = write_long_run(tmp_path / "runs", 40)
    lines = _lines(run)
    del lines[11]  # epoch 11's line: valid JSON everywhere, one epoch missing
    (run / LOG_NAME).write_bytes(b"".join(lines))
    want = "bad event line 12 (epoch 12 follows epoch 10): the log is damaged"
    for read in (lambda: RunLog(run).read(), lambda: rebuild(run), lambda: load_curve(run)):
        with pytest.raises(RunError) as refused:
            read()
        assert str(refused.value) == f"{run.name}/events.jsonl: {want}"


def test_a_follower_sees_a_gap_between_two_reads(tmp_path: Path) -> None:
    run = write_long_run(tmp_path / "runs", 40)
    lines = _lines(run)
    (run / LOG_NAME).write_bytes(b"".join(lines[:11]))  # the RunStarted and epochs 1-10
    log = RunLog(run)
    events, offset = log.read()
    assert [e.epoch for e in events if isinstance(e, EpochEnded)] == list(range(1, 11))
    with open(run / LOG_NAME, "ab") as fh:
        fh.write(lines[12])  # epoch 12, epoch 11 never written
    with pytest.raises(RunError, match=r"bad event line 12 \(epoch 12 follows epoch 10\)"):
        log.read(offset)


def test_an_epoch_at_a_records_start_must_follow_the_record_before(long_run: Path) -> None:
    """The first epoch of a summary record is checked against the record before it (the
    summary says which epoch that ended with), not taken on trust."""
    line = _edit(long_run, 33, b'"epoch":33,', b'"epoch":99,')  # epochs 33-48: one record
    curve = load_curve(long_run)
    with pytest.raises(RunError, match=rf"bad event line {line} \(epoch 99 follows epoch 32\)"):
        curve.points("train_loss", 33, 48, 160)


def test_a_resumed_logs_one_history_reads_whole(tmp_path: Path) -> None:
    """A resume keeps the epochs it goes on from under a new RunStarted, so its epochs follow
    on; the epochs of a history begin again after a RunStarted."""
    run = write_long_run(tmp_path / "runs", 40)
    lines = _lines(run)
    (run / LOG_NAME).write_bytes(b"".join(lines[:21] + lines[:31]))  # 1-20, then 1-30
    events, _ = RunLog(run).read()
    epochs = [e.epoch for e in events if isinstance(e, EpochEnded)]
    assert epochs == list(range(1, 21)) + list(range(1, 31))
    assert rebuild(run).last_epoch == 16  # the second history's one whole record (1-16)
