"""The curve summary kept beside a run's log (``curve.bin``): each record equals what a full
read of the log gives (min, max, last, sum and count per bucket, computed here independently),
it is rebuilt when missing or stale, a torn last line or record is tolerated, and a real
training run writes one that matches its log."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from engine.core.events import EpochEnded, RunFinished
from engine.runs.curve import BUCKET, CURVE_NAME, HEADER_BYTES
from engine.runs.curve_read import load_curve, rebuild
from engine.runs.log import LOG_NAME, RunLog
from tests.long_run import train_loss, val_loss, val_metrics, write_long_run
from tests.runs_helpers import only_run, run

N = 3000
SPIKE = 1234


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_long_run(tmp_path_factory.mktemp("runs"), N, spike=SPIKE)


def _logged_epochs(run_dir: Path) -> list[dict]:
    lines = (run_dir / LOG_NAME).read_bytes().splitlines()
    return [d for d in map(json.loads, lines) if d["type"] == "EpochEnded"]


def _bucket_stats(values: list[float | None]) -> tuple[float, float, float, float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return (math.inf, -math.inf, math.nan, 0.0, 0.0)
    return (min(finite), max(finite), finite[-1], math.fsum(finite), float(len(finite)))


def test_each_record_is_min_max_last_of_its_epochs_as_a_full_read_gives(long_run: Path) -> None:
    epochs = _logged_epochs(long_run)
    curve = rebuild(long_run)  # every record, as written (load_curve keeps the last as events)
    on_disk = load_curve(long_run)
    assert not on_disk.rebuilt and on_disk.records == curve.records[: -curve.size]
    assert len(curve) == N // BUCKET
    for r in range(len(curve)):
        chunk = epochs[r * BUCKET : (r + 1) * BUCKET]
        assert curve.column("first", "")[r] == chunk[0]["epoch"]
        assert curve.column("last", "")[r] == chunk[-1]["epoch"]
        for name, values in (
            ("train_loss", [d["train_loss"] for d in chunk]),
            ("val_loss", [d["val_loss"] for d in chunk]),
            ("val.rmse", [(d["metrics"].get("val") or {}).get("rmse") for d in chunk]),
        ):
            want = _bucket_stats(values)
            got = [curve.column(name, s)[r] for s in ("min", "max", "last", "sum", "n")]
            assert got[:2] == list(want[:2]) and got[4] == want[4], (name, r)
            assert got[3] == pytest.approx(want[3], rel=1e-12)
            assert got[2] == want[2] or (math.isnan(got[2]) and math.isnan(want[2]))
    # the spike survives any downsampling: the whole run at 20 points still reaches 500
    assert max(y for _, y in on_disk.points("train_loss", 1, N, 20)) == 500.0


def test_the_index_reads_any_epoch_and_any_narrow_range_from_the_log(long_run: Path) -> None:
    curve = load_curve(long_run)
    for e in (1, 17, SPIKE, 2000, curve.last_epoch):
        event = curve.epoch(e)
        assert isinstance(event, EpochEnded) and event.epoch == e
        assert event.train_loss == train_loss(e, SPIKE) and event.val_loss == val_loss(e)
    assert curve.epoch(N + 5) is None
    # past epoch 1,000 metrics are thinned to every 10th epoch: a range shows those it has
    narrow = curve.points("val.rmse", 2001, 2100, 400)
    assert narrow == [(float(e), val_metrics(e)["rmse"]) for e in range(2010, 2101, 10)]
    assert curve.points("val_loss", 101, 164, 400) == [
        (float(e), val_loss(e)) for e in range(101, 165)
    ]


def test_attach_reads_the_summary_then_only_the_logs_end(long_run: Path) -> None:
    curve = load_curve(long_run)
    epochs = [e for e in curve.tail if isinstance(e, EpochEnded)]
    # the last whole record's epochs and the partial bucket after it, then the end
    assert BUCKET <= len(epochs) < 2 * BUCKET and epochs[-1].epoch == N
    assert epochs[0].epoch == curve.last_epoch + 1
    assert isinstance(curve.tail[-1], RunFinished)
    assert curve.offset == (long_run / LOG_NAME).stat().st_size


def test_a_missing_summary_is_rebuilt_from_the_log_and_saved(
    long_run: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / long_run.name
    shutil.copytree(long_run, copy)
    original = (copy / CURVE_NAME).read_bytes()
    (copy / CURVE_NAME).unlink()
    seen: list[tuple[int, int]] = []
    curve = load_curve(copy, lambda done, total: seen.append((done, total)))
    assert curve.rebuilt and (copy / CURVE_NAME).read_bytes() == original
    assert seen and all(0 < d <= t for d, t in seen)
    assert not load_curve(copy).rebuilt


def test_a_stale_summary_is_rebuilt_when_a_resume_rewrote_the_log(
    long_run: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / long_run.name
    shutil.copytree(long_run, copy)
    log = RunLog(copy)
    first = (copy / LOG_NAME).read_bytes().split(b"\n", 1)[0] + b"\n"
    kept = log.epochs_until(500)
    log.replace(first.replace(b'"epochs":3000', b'"epochs":4000') + kept)  # as a resume does
    curve = load_curve(copy)
    assert curve.rebuilt
    epochs = [e.epoch for e in curve.tail if isinstance(e, EpochEnded)]
    assert curve.last_epoch + len(epochs) == 500 and epochs[-1] == 500


def test_a_torn_last_line_and_a_torn_last_record_are_left_for_later(
    long_run: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / long_run.name
    shutil.copytree(long_run, copy)
    whole = load_curve(copy)
    with open(copy / LOG_NAME, "ab") as fh:
        fh.write(b'{"type":"EpochEnded","epoch":30')  # a write cut by kill -9
    with open(copy / CURVE_NAME, "ab") as fh:
        fh.write(b"\x00" * 40)  # half a record
    torn = load_curve(copy)
    assert not torn.rebuilt and torn.records == whole.records
    assert [e.to_dict() for e in torn.tail] == [e.to_dict() for e in whole.tail]
    assert torn.offset == whole.offset


def test_a_real_training_run_writes_a_summary_that_matches_its_log(tmp_path: Path) -> None:
    done = run(tmp_path, "train", "--set", "train.epochs=100", "--set", "train.device=cpu")
    assert done.returncode == 0, done.stderr
    run_dir = only_run(tmp_path)
    raw = (run_dir / CURVE_NAME).read_bytes()
    assert raw[:HEADER_BYTES].rstrip().endswith(b"}")
    written = load_curve(run_dir)
    assert not written.rebuilt
    rebuilt = rebuild(run_dir)
    assert rebuilt.records[: len(written.records)] == written.records
    epochs = _logged_epochs(run_dir)
    lows = written.column("val_loss", "min")
    for r, low in enumerate(lows):
        assert low == min(d["val_loss"] for d in epochs[r * BUCKET : (r + 1) * BUCKET])


def test_a_resumed_run_keeps_a_summary_of_its_one_history(tmp_path: Path) -> None:
    """The resume rewrites the log (its RunStarted, the epochs it goes on from): the writer
    starts the summary over from that log, so it matches a rebuild, not the old run's."""
    args = ["--set", "train.device=cpu", "--set", "early_stopping.enabled=false"]
    done = run(tmp_path, "train", *args, "--set", "train.epochs=40")
    assert done.returncode == 0, done.stderr
    resumed = run(tmp_path, "resume", "latest", "--set", "train.epochs=90")
    assert resumed.returncode == 0, resumed.stderr
    run_dir = only_run(tmp_path)
    written = load_curve(run_dir)
    assert not written.rebuilt
    assert rebuild(run_dir).records[: len(written.records)] == written.records
    epochs = [e.epoch for e in written.tail if isinstance(e, EpochEnded)]
    assert epochs[-1] == 90 and written.last_epoch + len(epochs) == 90
