"""Every file of a finished run damaged, every command run on it (issue 20, "done when"): each one
works or refuses with one line (exit 2, no traceback), and a canary folder outside the runs
folder is never touched.

Hypothesis picks the file and the damage (truncated, random bytes, wrong JSON or tensor types,
deleted) and the commands run in this process (``engine.cli.main.main``, fast enough for many
examples); one damage per file is then run through real ``python -m engine`` processes, where a
warning printed before a refusal, or a traceback, would show.
"""

# ruff: noqa: F811 - the kit's fixtures are imported, then named as test arguments

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli.main import main
from engine.runs.notes import change_tags, set_note
from tests.runs_hardening_kit import canary, copy_run, make_canary, train_finished, tree_hash  # noqa: F401 - fixtures
from tests.runs_helpers import run

FILES = (
    "status.json",
    "config.yaml",
    "events.jsonl",
    "model.pt",
    "checkpoint.pt",
    "curve.bin",
    "notes.json",
    "writer.lock",
)
KINDS = ("truncate", "random", "types", "delete")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run with every file a run can hold: 20 epochs (a ``curve.bin`` record is 16),
    a note and a tag (``notes.json``), its ``writer.lock``."""
    run_dir = train_finished(tmp_path_factory.mktemp("finished-runs"), "--set", "train.epochs=20")
    set_note(run_dir, "a note")
    change_tags(run_dir, add=("tagged",))
    assert {p.name for p in run_dir.iterdir()} == set(FILES)
    return run_dir


def _wrong_types(path: Path, draw: st.DrawFn) -> None:
    """Rewrite ``path`` whole but with values of the wrong type where its reader expects others."""
    bad = draw(st.sampled_from(["abc", ["x"], {"k": 1}, None, True, -1, 1e308]))
    name = path.name
    if name in ("curve.bin", "writer.lock"):  # no types in them: bytes of another file
        path.write_bytes(draw(st.sampled_from([b"{}", b"\x00" * 1024, b'{"series": 3}' * 99])))
    elif name in ("status.json", "notes.json"):
        data = json.loads(path.read_text())
        key = draw(st.sampled_from(sorted(data)))
        data[key] = bad
        path.write_text(json.dumps(data))
    elif name == "events.jsonl":
        lines = path.read_bytes().splitlines(keepends=True)
        i = draw(st.integers(0, len(lines) - 1))
        event = json.loads(lines[i])
        key = draw(st.sampled_from(sorted(event)))
        event[key] = bad
        lines[i] = json.dumps(event).encode() + b"\n"
        path.write_bytes(b"".join(lines))
    elif name == "config.yaml":
        import yaml

        data = yaml.safe_load(path.read_text())
        section = draw(st.sampled_from(sorted(data)))
        if isinstance(data[section], dict) and data[section]:
            data[section][draw(st.sampled_from(sorted(data[section])))] = bad
        else:
            data[section] = bad
        path.write_text(yaml.safe_dump(data))
    else:
        blob = torch.load(path, weights_only=True)
        key = draw(st.sampled_from(sorted(blob)))
        blob[key] = bad if draw(st.booleans()) else torch.zeros(draw(st.integers(0, 3)), 7)
        torch.save(blob, path)


def damage(path: Path, kind: str, draw: st.DrawFn) -> None:
    if kind == "delete":
        path.unlink()
    elif kind == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: draw(st.integers(0, max(0, len(data) - 1)))])
    elif kind == "random":
        path.write_bytes(draw(st.binary(min_size=0, max_size=400)))
    else:
        _wrong_types(path, draw)


def _commands(run_dir: Path, runs: Path, csv: Path) -> list[list[str]]:
    at = ["--runs-dir", str(runs)]
    return [
        ["runs", *at],
        ["runs", "--json", *at],
        ["runs", "show", run_dir.name, *at],
        ["watch", run_dir.name, *at],
        ["predict", run_dir.name, str(csv), *at],
        ["resume", run_dir.name, "--set", "train.epochs=24", *at],
        ["runs", "note", run_dir.name, *at],
        ["runs", "note", run_dir.name, "checked", "again", *at],
        ["runs", "tag", run_dir.name, "fuzzed", *at],
        ["runs", "tag", run_dir.name, "tagged", "--remove", *at],
        ["runs", "rm", "-y", run_dir.name, *at],
    ]


def _in_process(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv, watch_app=lambda run, root: 0)
    return code, err.getvalue()


def check(code: int, err: str, argv: list[str]) -> None:
    """It worked (exit 0), or it refused in one line (exit 2) without a traceback."""
    assert "Traceback" not in err, (argv, err)
    if code != 0:
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, (argv, code, err)


def _rows_csv(where: Path) -> Path:
    """A CSV of rows with the default preset's raw feature columns."""
    csv = where / "rows.csv"
    csv.write_text("x1,x2,x3\n0.5,-1,2\n1,2,3\n")
    return csv


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), name=st.sampled_from(FILES), kind=st.sampled_from(KINDS))
def test_every_command_works_or_refuses_in_one_line_on_any_damaged_file(
    finished: Path, canary: Path, data: st.DataObject, name: str, kind: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        run_dir = copy_run(finished, runs)
        damage(run_dir / name, kind, data.draw)
        csv = _rows_csv(Path(tmp))
        for argv in _commands(run_dir, runs, csv):
            code, err = _in_process(argv)
            check(code, err, argv)
        assert not run_dir.exists()  # runs rm -y removes even a damaged run


@pytest.mark.parametrize("name", FILES)
def test_real_processes_refuse_a_damaged_file_in_one_line(
    tmp_path: Path, finished: Path, canary: Path, name: str
) -> None:
    runs = tmp_path / "runs"
    run_dir = copy_run(finished, runs)
    data = (run_dir / name).read_bytes()
    (run_dir / name).write_bytes(data[: len(data) // 3] + b"\x00\xff garbage \n" * 3)
    csv = _rows_csv(tmp_path)
    for argv in _commands(run_dir, runs, csv):
        proc = run(runs, *argv)
        check(proc.returncode, proc.stderr, argv)
    assert not run_dir.exists()


def test_the_canary_is_not_a_run_to_any_command(tmp_path: Path, finished: Path) -> None:
    folder = make_canary(tmp_path / "elsewhere", finished)
    before = tree_hash(folder)
    runs = tmp_path / "runs"
    copy_run(finished, runs)
    for argv in (
        ["runs", "rm", "-y", str(folder)],
        ["resume", str(folder)],
        ["train", "--set", "train.epochs=2", "--run-dir", str(folder)],
        ["predict", str(folder), str(_rows_csv(tmp_path))],
        ["runs", "show", str(folder)],
    ):
        proc = run(runs, *argv)
        check(proc.returncode, proc.stderr, argv)
    assert tree_hash(folder) == before


@pytest.mark.parametrize("name", FILES)
def test_a_run_file_linked_outside_is_never_written_through(
    tmp_path: Path, finished: Path, canary: Path, name: str
) -> None:
    """Each run file in turn a symbolic link into the canary folder (to a file there, or to a
    name not there yet): every command works or refuses in one line, nothing is written through
    the link (the canary fixture checks its bytes), and ``runs rm`` refuses the run rather than
    deleting a link it did not make."""
    runs = tmp_path / "runs"
    run_dir = copy_run(finished, runs)
    (run_dir / name).unlink()
    (run_dir / name).symlink_to(canary / name)
    csv = _rows_csv(tmp_path)
    for argv in _commands(run_dir, runs, csv):
        code, err = _in_process(argv)
        check(code, err, argv)
    assert (run_dir / name).is_symlink()
    assert sorted(p.name for p in canary.iterdir()) == ["model.pt", "notes.txt", "status.json"]
