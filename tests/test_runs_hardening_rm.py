"""``runs rm`` deletes runs and nothing else (issue 20, case 1), against real processes and files:
the working directory, a folder with a ``status.json`` outside the runs folder, an empty name, a
preset name and an ambiguous prefix are refused in one line; with no terminal it needs ``-y``; on
a terminal (a real pty) it asks."""

# ruff: noqa: F811 - the kit's fixtures are imported, then named as test arguments

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

from tests.runs_hardening_kit import canary, copy_run, finished, refused, train_finished, tree_hash  # noqa: F401 - fixtures
from tests.runs_helpers import ROOT, engine_cmd, env, run


def _names(runs: Path) -> list[str]:
    return sorted(p.name for p in runs.iterdir())


def test_rm_dot_is_refused_and_the_working_directory_is_kept(
    tmp_path: Path, finished: Path, canary: Path
) -> None:
    runs = tmp_path / "runs"
    copy_run(finished, runs)
    proc = subprocess.run(
        engine_cmd("runs", "rm", "-y", "."),
        cwd=canary,
        env=env(runs),
        text=True,
        capture_output=True,
        timeout=60,
    )
    refused(proc, "refusing to delete the working directory")
    assert _names(runs) == [finished.name]


def test_rm_of_a_folder_with_a_status_outside_the_runs_folder_is_refused(
    tmp_path: Path, finished: Path, canary: Path
) -> None:
    runs = tmp_path / "runs"
    copy_run(finished, runs)
    refused(
        run(runs, "runs", "rm", "-y", str(canary)), "outside the runs folder", "not deleting it"
    )


def test_rm_of_the_runs_folder_itself_is_refused(
    tmp_path: Path, finished: Path, canary: Path
) -> None:
    runs = tmp_path / "runs"
    copy_run(finished, runs)
    refused(run(runs, "runs", "rm", "-y", str(runs)), "the runs folder")
    refused(run(runs, "runs", "rm", "-y", str(runs / finished.name / "..")), "runs folder")
    assert _names(runs) == [finished.name]


def test_an_empty_name_is_refused_rather_than_matching_every_run(
    tmp_path: Path, finished: Path
) -> None:
    runs = tmp_path / "runs"
    for i in range(2):
        copy_run(finished, runs, f"20260101-00000{i}-default-aaaaa{i}")
    refused(run(runs, "runs", "rm", "-y", ""), "empty run name")
    refused(run(runs, "runs", "rm", "-y", "  "), "empty run name")
    assert len(_names(runs)) == 2


def test_a_preset_name_does_not_delete_the_runs_of_that_preset(
    tmp_path: Path, finished: Path
) -> None:
    runs = tmp_path / "runs"
    copy_run(finished, runs, "20260101-000000-diabetes-abc123")
    line = refused(run(runs, "runs", "rm", "-y", "diabetes"), "unknown run 'diabetes'")
    assert "name one by its id" in line
    assert run(runs, "runs", "show", "diabetes").returncode == 0  # reading may still match it
    assert _names(runs) == ["20260101-000000-diabetes-abc123"]


def test_an_ambiguous_or_too_short_prefix_is_refused(tmp_path: Path, finished: Path) -> None:
    runs = tmp_path / "runs"
    copy_run(finished, runs, "20260101-000000-default-aaaaaa")
    copy_run(finished, runs, "20260102-000000-default-bbbbbb")
    refused(run(runs, "runs", "rm", "-y", "202601"), "ambiguous", "2 runs match")
    refused(run(runs, "runs", "rm", "-y", "2026"), "ambiguous")
    only = tmp_path / "one"
    copy_run(finished, only, "20260101-000000-default-cccccc")
    refused(run(only, "runs", "rm", "-y", "2"), "prefix of 6 characters or more")
    assert len(_names(runs)) == 2 and len(_names(only)) == 1


def test_without_a_terminal_rm_needs_y(tmp_path: Path, finished: Path) -> None:
    runs = tmp_path / "runs"
    copy_run(finished, runs)
    proc = subprocess.run(
        engine_cmd("runs", "rm", finished.name),
        cwd=ROOT,
        env=env(runs),
        text=True,
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    refused(proc, "pass -y")
    assert _names(runs) == [finished.name]
    proc = run(runs, "runs", "rm", "-y", finished.name[-6:])  # the short id
    assert proc.returncode == 0 and proc.stdout == f"deleted {finished.name}\n", proc.stderr
    assert _names(runs) == []


def _rm_on_a_terminal(runs: Path, name: str, answer: bytes) -> subprocess.CompletedProcess:
    """``runs rm NAME`` with a real pty as stdin, answering ``answer`` to its question."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            engine_cmd("runs", "rm", name),
            cwd=ROOT,
            env=env(runs),
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        os.write(master, answer)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(), err.decode())


def test_on_a_terminal_rm_asks_and_deletes_only_on_yes(tmp_path: Path, finished: Path) -> None:
    runs = tmp_path / "runs"
    copy_run(finished, runs)
    kept = _rm_on_a_terminal(runs, finished.name, b"\n")
    assert kept.returncode == 0 and "[y/N]" in kept.stderr and "nothing deleted" in kept.stderr
    assert _names(runs) == [finished.name]
    gone = _rm_on_a_terminal(runs, finished.name, b"y\n")
    assert gone.returncode == 0 and f"deleted {finished.name}" in gone.stdout, gone.stderr
    assert _names(runs) == []


def test_a_run_named_by_its_path_is_deleted_inside_or_outside_the_runs_folder(
    tmp_path: Path, finished: Path, canary: Path
) -> None:
    runs = tmp_path / "runs"
    inside = copy_run(finished, runs)
    outside = copy_run(finished, tmp_path / "kept-elsewhere")  # carries the run marker
    proc = run(runs, "runs", "rm", "-y", str(inside), str(outside))
    assert proc.returncode == 0, proc.stderr
    assert not inside.exists() and not outside.exists()


def test_every_run_is_checked_before_any_is_deleted(
    tmp_path: Path, finished: Path, canary: Path
) -> None:
    runs = tmp_path / "runs"
    good = copy_run(finished, runs)
    before = tree_hash(good)
    refused(run(runs, "runs", "rm", "-y", good.name, str(canary)), "not deleting it")
    assert tree_hash(good) == before


def test_an_empty_run_left_by_an_early_kill_is_listed_and_removable(
    tmp_path: Path, finished: Path
) -> None:
    runs = tmp_path / "runs"
    copy_run(finished, runs)
    empty = runs / "20990101-000000-default-eeeeee"
    empty.mkdir()
    (empty / "writer.lock").touch()
    listing = run(runs, "runs")
    assert listing.returncode == 0, listing.stderr
    line = next(ln for ln in listing.stdout.splitlines() if ln.startswith(empty.name))
    assert " empty " in f"{line} "
    proc = run(runs, "runs", "rm", "-y", "eeeeee")
    assert proc.returncode == 0, proc.stderr
    assert _names(runs) == [finished.name]


def test_a_folder_of_other_files_in_the_runs_folder_is_not_a_run(
    tmp_path: Path, finished: Path
) -> None:
    runs = tmp_path / "runs"
    copy_run(finished, runs)
    mine = runs / "my-notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("keep me\n")
    refused(run(runs, "runs", "rm", "-y", str(mine)), "not a run directory")
    assert "my-notes" not in run(runs, "runs").stdout
    assert (mine / "todo.txt").read_text() == "keep me\n"
