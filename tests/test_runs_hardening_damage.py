"""Damaged runs (issue 20, cases 5-6), against real files and processes: a failed resume changes
nothing, a garbage line inside a log is refused naming its line (a torn last line is not), and one
bad ``status.json`` or log line never breaks ``runs`` for the whole store."""

# ruff: noqa: F811 - the kit's fixtures are imported, then named as test arguments

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.core.errors import RunError
from engine.runs.log import RunLog
from engine.runs.store import list_runs
from tests.readonly import read_only
from tests.runs_hardening_kit import (  # noqa: F401 - fixtures
    canary,
    copy_run,
    finished,
    is_root,
    refused,
    status_of,
    tree_hash,
)
from tests.runs_helpers import run


def _lines(run_dir: Path) -> list[bytes]:
    return (run_dir / "events.jsonl").read_bytes().splitlines(keepends=True)


def test_resume_after_config_yaml_was_edited_changes_nothing(
    tmp_path: Path, finished: Path, canary: Path
) -> None:
    runs = tmp_path / "runs"
    run_dir = copy_run(finished, runs)
    text = (run_dir / "config.yaml").read_text()
    assert "  name: sgd\n" in text
    (run_dir / "config.yaml").write_text(text.replace("  name: sgd\n", "  name: adam\n"))
    before = tree_hash(run_dir)
    line = refused(
        run(runs, "resume", run_dir.name, "--set", "train.epochs=20"),
        "optim.name differs from the checkpoint's config",
    )
    assert "KeyError" not in line
    assert tree_hash(run_dir) == before  # log, config and status as they were


def test_a_garbage_line_inside_the_log_is_refused_naming_its_line(
    tmp_path: Path, finished: Path
) -> None:
    runs = tmp_path / "runs"
    run_dir = copy_run(finished, runs)
    lines = _lines(run_dir)
    lines[3] = b'{"type": "EpochEnded", "epo\n'  # a torn write, then more lines after it
    (run_dir / "events.jsonl").write_bytes(b"".join(lines))
    with pytest.raises(RunError, match=r"events.jsonl: bad event line 4 "):
        RunLog(run_dir).read()
    before = tree_hash(run_dir)
    refused(
        run(runs, "resume", run_dir.name, "--set", "train.epochs=20"),
        "bad event line 4",
        "the log is damaged",
    )
    assert tree_hash(run_dir) == before  # no epoch silently dropped, nothing cut


def test_a_line_number_is_right_when_read_from_an_offset(tmp_path: Path, finished: Path) -> None:
    run_dir = copy_run(finished, tmp_path / "runs")
    lines = _lines(run_dir)
    (run_dir / "events.jsonl").write_bytes(b"".join(lines[:3]))
    log = RunLog(run_dir)
    events, offset = log.read()
    assert len(events) == 3
    (run_dir / "events.jsonl").write_bytes(b"".join(lines[:3]) + b"garbage\n" + lines[3])
    with pytest.raises(RunError, match="bad event line 4 "):
        log.read(offset)


def test_a_torn_last_line_is_tolerated_and_a_resume_goes_on(tmp_path: Path, finished: Path) -> None:
    runs = tmp_path / "runs"
    run_dir = copy_run(finished, runs)
    lines = _lines(run_dir)
    torn = b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2]  # a writer killed mid-line
    (run_dir / "events.jsonl").write_bytes(torn)
    events, _ = RunLog(run_dir).read()
    assert len(events) == len(lines) - 1
    proc = run(runs, "resume", run_dir.name, "--set", "train.epochs=9")
    assert proc.returncode == 0, proc.stderr
    kinds = [json.loads(ln)["type"] for ln in _lines(run_dir)]
    assert kinds == ["RunStarted", *["EpochEnded"] * 9, "RunFinished"]


@pytest.mark.parametrize(
    "content, reason",
    [
        ('{"format": 1, "state": ["x"]}', "is not one of running, finished, crashed"),
        ("not json at all", "unreadable status.json"),
        ('{"format": 1, "state": "finished", "pid": "12"}', "pid is str, not int"),
        ('["a list"]', "not a mapping"),
        (None, "no status.json"),
    ],
)
def test_one_bad_status_is_listed_as_unreadable_and_the_rest_still_list(
    tmp_path: Path, finished: Path, content: str | None, reason: str
) -> None:
    runs = tmp_path / "runs"
    good = copy_run(finished, runs)
    bad = copy_run(finished, runs, "20990101-000000-default-badbad")
    if content is None:
        (bad / "status.json").unlink()
    else:
        (bad / "status.json").write_text(content)
    listing = run(runs, "runs", "--json")
    assert listing.returncode == 0 and listing.stderr == "", listing.stderr
    rows = {r["id"]: r for r in map(json.loads, listing.stdout.splitlines())}
    assert rows[good.name]["state"] == "finished"
    assert rows[bad.name]["state"] == "unreadable" and reason in rows[bad.name]["problem"]
    text = run(runs, "runs")
    assert text.returncode == 0 and "unreadable" in text.stdout
    assert good.name in text.stdout
    refused(run(runs, "runs", "show", bad.name))
    proc = run(runs, "runs", "rm", "-y", bad.name)  # a damaged run can still be removed
    assert proc.returncode == 0 and not bad.exists(), proc.stderr


def test_a_wrong_type_in_the_log_is_one_line_for_show_and_watch(
    tmp_path: Path, finished: Path
) -> None:
    runs = tmp_path / "runs"
    run_dir = copy_run(finished, runs)
    lines = _lines(run_dir)
    epoch = json.loads(lines[-2])
    assert epoch["type"] == "EpochEnded"
    epoch["train_loss"] = "abc"
    (run_dir / "events.jsonl").write_bytes(
        b"".join(lines[:-2]) + json.dumps(epoch).encode() + b"\n"
    )  # now the last line
    for command in ("show", "watch"):
        argv = ("runs", "show", run_dir.name) if command == "show" else ("watch", run_dir.name)
        refused(run(runs, *argv), "events.jsonl", "EpochEnded.train_loss")
    with pytest.raises(RunError, match=r"bad event line \d+ \(EpochEnded.train_loss"):
        RunLog(run_dir).read()
    listing = run(runs, "runs")  # the listing still lists it
    assert listing.returncode == 0 and run_dir.name in listing.stdout, listing.stderr


def test_a_runs_folder_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.write_text("not a folder\n")
    for argv in (
        ("runs",),
        ("runs", "show", "latest"),
        ("train", "--set", "train.epochs=2"),
        ("resume", "latest"),
        ("runs", "rm", "-y", "abcdef"),
    ):
        refused(run(runs, *argv), "is not a directory")
    assert runs.read_text() == "not a folder\n"


def test_a_read_only_runs_folder_is_one_line(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    with read_only(runs):
        refused(run(runs, "train", "--set", "train.epochs=2"), "cannot create a run in")
        assert run(runs, "runs").returncode == 0


def test_list_runs_never_raises_for_one_damaged_run(tmp_path: Path, finished: Path) -> None:
    runs = tmp_path / "runs"
    good = copy_run(finished, runs)
    for i, damage in enumerate(["", "{", '{"state": 1}', '{"format": "x"}', '{"format": 99}']):
        bad = copy_run(finished, runs, f"2099010{i}-000000-default-bad00{i}")
        (bad / "status.json").write_text(damage)
    (runs / "20990109-000000-default-lockonly").mkdir()
    infos = {i.id: i for i in list_runs(runs)}
    assert infos[good.name].state == "finished"
    assert sorted(i.state for i in infos.values()) == ["empty", "finished", *["unreadable"] * 5]
    assert "newer linreg-tui" in (infos["20990104-000000-default-bad004"].problem or "")
