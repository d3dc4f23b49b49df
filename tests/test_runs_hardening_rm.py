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

from tests import warm_process
from tests.runs_hardening_kit import canary, copy_run, finished, refused, train_finished, tree_hash  # noqa: F401 - fixtures
from tests.runs_helpers import ROOT, engine_cmd, env, run


def _names(runs: Path) -> list[str]:
    return sorted(p.name for p in runs.iterdir())


def test_rm_dot_is_refused_and_the_working_directory_is_kept(
    tmp_path: Path, finished: Path, canary: Path
) -> None:
    runs = tmp_path / "runs"
    copy_run(finished, runs)
    proc = warm_process.run(
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
    proc = warm_process.run(
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


def test_a_name_deletes_only_a_folder_of_run_files(tmp_path: Path, finished: Path) -> None:
    """By name as by path: a folder in the runs folder holding anything no run writes (a
    thesis, even beside a copied status.json and config.yaml) is not deleted (issue 20 audit)."""
    runs = tmp_path / "runs"
    run_dir = copy_run(finished, runs)
    mine = runs / "mystuff"
    mine.mkdir()
    (mine / "thesis.tex").write_text("x\n")
    refused(run(runs, "runs", "rm", "-y", "mystuff"), "not a run directory", "thesis.tex")
    refused(run(runs, "runs", "rm", "-y", "mystuf"), "not a run directory")  # a 6-char prefix
    looks = copy_run(finished, runs, "20990101-000000-default-fafafa")
    (looks / "thesis.tex").write_text("mine\n")
    before = tree_hash(looks)
    refused(run(runs, "runs", "rm", "-y", "fafafa"), "thesis.tex", "not deleting it")
    refused(run(runs, "runs", "rm", "-y", str(looks)), "thesis.tex", "not deleting it")
    assert tree_hash(looks) == before and (mine / "thesis.tex").read_text() == "x\n"
    assert run(runs, "runs", "rm", "-y", run_dir.name).returncode == 0  # a real run still goes
    assert _names(runs) == sorted([looks.name, "mystuff"])


def test_outside_the_runs_folder_a_run_marker_beside_other_files_is_not_deleted(
    tmp_path: Path, finished: Path
) -> None:
    runs = tmp_path / "runs"
    copy_run(finished, runs)
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.py").write_text("print('mine')\n")
    (project / "thesis.tex").write_text("mine\n")
    for name in ("status.json", "config.yaml"):
        (project / name).write_bytes((finished / name).read_bytes())
    before = tree_hash(project)
    refused(run(runs, "runs", "rm", "-y", str(project)), "not a run directory", "src")
    assert tree_hash(project) == before


def test_a_symlink_in_the_runs_folder_is_never_followed(
    tmp_path: Path, finished: Path, canary: Path
) -> None:
    """A link to somebody's folder, and a link to a real run elsewhere: ``runs rm`` refuses both
    (by name and by path) and deletes neither the link's target nor the link; nothing is
    created in the target (once ``canary/writer.lock``)."""
    runs = tmp_path / "runs"
    copy_run(finished, runs)
    elsewhere = copy_run(finished, tmp_path / "elsewhere", "20990101-000000-default-b0b0b0")
    before = tree_hash(elsewhere)
    (runs / "to-canary").symlink_to(canary, target_is_directory=True)
    (runs / elsewhere.name).symlink_to(elsewhere, target_is_directory=True)
    refused(run(runs, "runs", "rm", "-y", "to-canary"), "symbolic link")
    refused(run(runs, "runs", "rm", "-y", str(runs / "to-canary")), "not a run directory")
    refused(run(runs, "runs", "rm", "-y", str(runs / elsewhere.name)), "not a run directory")
    refused(run(runs, "runs", "rm", "-y", "b0b0b0"), "unknown run")  # links are not runs
    refused(run(runs, "runs", "note", "to-canary", "hi"), "symbolic link")
    assert (runs / "to-canary").is_symlink() and (runs / elsewhere.name).is_symlink()
    assert tree_hash(elsewhere) == before and not (canary / "writer.lock").exists()


def test_a_symlinked_writer_lock_is_never_followed(
    tmp_path: Path, finished: Path, canary: Path
) -> None:
    """``writer.lock`` a link to a file outside (absent or present): rm, resume and note refuse
    in one line, and the link's target is neither created nor changed."""
    runs = tmp_path / "runs"
    for target in (canary / "writer.lock", canary / "notes.txt"):
        run_dir = copy_run(finished, runs, f"20990101-000000-default-{target.stem[:6]:0>6}")
        (run_dir / "writer.lock").unlink(missing_ok=True)
        (run_dir / "writer.lock").symlink_to(target)
        refused(run(runs, "runs", "rm", "-y", str(run_dir)), "writer.lock (a symbolic link)")
        refused(run(runs, "runs", "rm", "-y", run_dir.name), "writer.lock (a symbolic link)")
        refused(
            run(runs, "resume", run_dir.name, "--set", "train.epochs=9"),
            "writer.lock is a symbolic link",
        )
        refused(run(runs, "runs", "tag", run_dir.name, "t"), "symbolic link")
        assert (run_dir / "writer.lock").is_symlink()
    assert not (canary / "writer.lock").exists()
