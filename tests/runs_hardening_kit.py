"""What the run-store hardening tests share: a finished run to copy, a tree hash, a canary folder
outside the runs folder that no command may touch, and the check for a one-line refusal."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runs_helpers import only_run, run

SHORT = [
    "--set",
    "train.epochs=6",
    "--set",
    "train.device=cpu",
    "--set",
    "early_stopping.enabled=false",
]
"""A default-preset run that finishes in a moment (it keeps a checkpoint and a model)."""


def tree_hash(path: Path) -> str:
    """A hash of every name, kind, mode and byte under ``path`` (itself included)."""
    digest = hashlib.sha256()
    for p in sorted([path, *path.rglob("*")]):
        st = p.lstat()
        digest.update(f"{p.relative_to(path.parent)}|{st.st_mode}\n".encode())
        if p.is_file() and not p.is_symlink():
            digest.update(p.read_bytes())
    return digest.hexdigest()


def train_finished(runs: Path, *args: str) -> Path:
    """Train a short run into ``runs`` (empty) and return its directory."""
    proc = run(runs, "train", *SHORT, *args)
    assert proc.returncode == 0, proc.stderr
    return only_run(runs)


def copy_run(src: Path, runs: Path, name: str | None = None) -> Path:
    """A copy of the run ``src`` in the runs folder ``runs`` (writable, its own)."""
    runs.mkdir(parents=True, exist_ok=True)
    dst = runs / (name or src.name)
    shutil.copytree(src, dst)
    return dst


def refused(proc: subprocess.CompletedProcess, *words: str) -> str:
    """Assert ``proc`` refused with exit 2 and one stderr line holding ``words``; the line."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def make_canary(where: Path, model_from: Path) -> Path:
    """A folder that looks a little like a run (a parsable ``status.json``, a real ``model.pt``)
    but is nobody's run: what ``runs rm`` once deleted."""
    canary = where / "canary"
    canary.mkdir(parents=True)
    (canary / "status.json").write_text(json.dumps({"format": 1, "state": "finished"}))
    shutil.copy(model_from / "model.pt", canary / "model.pt")
    (canary / "notes.txt").write_text("my own files\n")
    return canary


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run, trained once per module: tests copy it, never change it."""
    return train_finished(tmp_path_factory.mktemp("finished-runs"))


@pytest.fixture
def canary(tmp_path: Path, finished: Path) -> Iterator[Path]:
    """The canary folder, checked unchanged (same tree hash) after the test."""
    folder = make_canary(tmp_path / "outside", finished)
    before = tree_hash(folder)
    yield folder
    assert folder.exists() and tree_hash(folder) == before, "a command touched the canary"


def status_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "status.json").read_text())


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0
