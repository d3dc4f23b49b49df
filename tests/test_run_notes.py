"""A run's notes and tags (``notes.json``) under concurrent writers: real processes add tags and
rewrite the note at once while another reads; no change is lost and no read sees half a file."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.core.errors import RunError
from engine.runs.notes import change_tags, read_notes, set_note
from tests.runs_helpers import ROOT, env, only_run, run

WRITER = """
import sys
from pathlib import Path
from engine.runs.notes import change_tags, set_note
run, who, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(n):
    change_tags(run, add=(f"{who}-{i}",))
    set_note(run, f"{who} wrote {i}")
"""


@pytest.fixture(scope="module")
def a_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("notes")
    done = run(runs, "train", "default", "--set", "train.epochs=3", "--set", "data.n_samples=200")
    assert done.returncode == 0, done.stderr
    return only_run(runs)


def test_concurrent_writers_lose_no_tag_and_readers_never_see_a_torn_file(a_run: Path) -> None:
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(a_run), f"w{k}", "25"],
            cwd=ROOT,
            env=env(a_run.parent),
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(4)
    ]
    reads = 0
    deadline = time.monotonic() + 120
    while any(w.poll() is None for w in writers):
        assert time.monotonic() < deadline, "writers did not finish"
        path = a_run / "notes.json"
        if path.exists():
            data = json.loads(path.read_text())  # never a half-written file
            assert set(data) == {"note", "tags"}
            reads += 1
    for w in writers:
        assert w.wait() == 0, w.stderr.read() if w.stderr else ""
    notes = read_notes(a_run)
    assert sorted(notes.tags) == sorted(f"w{k}-{i}" for k in range(4) for i in range(25))
    assert notes.note in {f"w{k} wrote 24" for k in range(4)}
    assert reads > 0
    assert not [p for p in a_run.iterdir() if p.name.endswith(".tmp")]


def test_notes_of_a_run_being_trained_do_not_touch_its_files(tmp_path: Path) -> None:
    from tests.runs_helpers import LONG, start, wait_for_epochs

    proc = start(tmp_path, "train", *LONG, stdout=subprocess.DEVNULL)
    try:
        run_dir = only_run(tmp_path)
        wait_for_epochs(run_dir, 3, proc)
        change_tags(run_dir, add=("live",))
        set_note(run_dir, "tagged while it trains")
        wait_for_epochs(run_dir, 6, proc)
        assert proc.poll() is None  # the writer goes on, its lock untouched
        tagged = run(tmp_path, "runs", "--json", "--filter", "tag=live state=running")
        [row] = [json.loads(line) for line in tagged.stdout.splitlines()]
        assert row["note"] == "tagged while it trains"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert read_notes(run_dir).tags == ("live",)


def test_a_damaged_notes_file_reads_as_none_and_a_bad_tag_is_refused(
    a_run: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / a_run.name
    shutil.copytree(a_run, copy)
    (copy / "notes.json").write_text('{"note": ["x"], "tags": "abc"')
    assert read_notes(copy).note == "" and read_notes(copy).tags == ()
    listing = run(tmp_path, "runs", "--json")
    assert listing.returncode == 0 and json.loads(listing.stdout)["tags"] == []
    for bad in ("two words", "", "a=b", "x" * 41):
        with pytest.raises(RunError, match="one word"):
            change_tags(copy, add=(bad,))
    with pytest.raises(RunError, match="not a run directory"):
        set_note(tmp_path, "no run here")
