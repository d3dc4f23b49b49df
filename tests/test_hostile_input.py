"""Hostile input against the real ``python -m engine`` process: bounded time, exit 2, one line.

Each case once hung, exploded or misreported (issue "Hardening"): alias bombs, deep nesting,
duplicate keys, oversized or non-regular preset files, a folder named like a preset, CSV cells
beyond float32, polynomial features that overflow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import warm_process

ROOT = Path(__file__).resolve().parents[1]
LINE_LIMIT = 300

ALIAS_BOMB = (
    "\n".join(
        [
            'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
            "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]",
            "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]",
            "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]",
            "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]",
            "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]",
            "description: [*f,*f,*f,*f,*f,*f,*f,*f,*f]",
        ]
    )
    + "\n"
)
"""~400 bytes that expand to 9^7 = 4.8 million strings (the issue's case took 8 GB)."""


def engine(*argv: str, home: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m engine ARGV`` with the user preset folder and the run store under ``home``."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(home), "LINREG_TUI_RUNS_DIR": str(home / "runs")}
    return warm_process.run(
        [sys.executable, "-m", "engine", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def refused(*argv: str, home: Path) -> str:
    """Run a command that must exit 2 with one short stderr line; return that line."""
    proc = engine(*argv, home=home)
    # ``train`` names its run directory first (``run: PATH``); the refusal is the one line after
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith("run: ")]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(lines[0]) <= LINE_LIMIT, lines[0][:LINE_LIMIT]
    return lines[0]


@pytest.fixture
def home(isolated_config_home: Path) -> Path:
    """XDG_CONFIG_HOME for the subprocess (the same isolated folder the fixture set)."""
    return isolated_config_home.parent


def test_an_alias_bomb_is_refused_at_once_naming_file_and_line(tmp_path, home):
    preset = tmp_path / "bomb.yaml"
    preset.write_text(ALIAS_BOMB)
    start = time.monotonic()
    line = refused("train", str(preset), home=home)
    assert time.monotonic() - start < 30
    assert f"{preset}:1:" in line and "aliases" in line


def test_presets_listing_survives_a_bomb_a_device_and_a_long_description(
    isolated_config_home, home
):
    folder = isolated_config_home
    folder.mkdir(parents=True)
    (folder / "bomb.yaml").write_text(ALIAS_BOMB)
    (folder / "zero.yaml").symlink_to("/dev/zero")
    (folder / "long.yaml").write_text("description: " + "word " * 20_000 + "\n")
    proc = engine("presets", home=home)
    assert proc.returncode == 0, proc.stderr
    listed = {line.split()[0]: line for line in proc.stdout.splitlines()}
    assert "aliases" in listed["bomb"] and "not a regular file" in listed["zero"]
    assert len(listed["long"]) < 200 and listed["long"].endswith("…  [user]")
    assert max(len(line) for line in proc.stdout.splitlines()) < 400


def test_a_preset_symlinked_to_dev_zero_is_not_read(isolated_config_home, home):
    isolated_config_home.mkdir(parents=True)
    (isolated_config_home / "zero.yaml").symlink_to("/dev/zero")
    assert "zero.yaml: not a regular file" in refused("train", "zero", home=home)


def test_a_folder_named_like_a_preset_is_not_an_unknown_preset(
    isolated_config_home, home, tmp_path
):
    (isolated_config_home / "adir.yaml").mkdir(parents=True)
    line = refused("train", "adir", home=home)
    assert line.endswith("adir.yaml: is a folder, not a preset file"), line
    (tmp_path / "there.yaml").mkdir()
    assert "is a folder" in refused("train", str(tmp_path / "there.yaml"), home=home)


def test_deep_nesting_is_one_line_naming_the_file(tmp_path, home):
    preset = tmp_path / "deep.yaml"
    preset.write_text("description: " + "[" * 500 + "]" * 500 + "\n")
    line = refused("train", str(preset), home=home)
    assert str(preset) in line and "nested deeper than" in line and "Recursion" not in line


def test_a_duplicate_key_is_refused_naming_key_file_and_line(tmp_path, home):
    preset = tmp_path / "dup.yaml"
    preset.write_text("optim:\n  lr: 0.05\n  lr: 1e6\n")
    assert f"{preset}:3: duplicate key 'lr'" in refused("train", str(preset), home=home)


@pytest.mark.parametrize("cell", ["1e39", "1e308", "-3.5e38"])
def test_a_cell_beyond_float32_is_a_data_error_naming_the_cell(tmp_path, home, cell):
    (tmp_path / "d.csv").write_text(f"a,y\n1,2\n{cell},3\n3,4\n4,6\n")
    preset = tmp_path / "p.yaml"
    preset.write_text("data:\n  source: csv\n  path: d.csv\n  target: y\n")
    line = refused("train", str(preset), home=home)
    assert f"d.csv:3: column 'a': '{cell}' is too large" in line and "float32" in line


def test_polynomial_features_that_overflow_float32_are_a_data_error(tmp_path, home):
    rows = "".join(f"{1e7 + i * 1e5},{i}\n" for i in range(20))  # (1e7)^6 = 1e42
    (tmp_path / "d.csv").write_text("pop,y\n" + rows)
    preset = tmp_path / "p.yaml"
    preset.write_text("data:\n  source: csv\n  path: d.csv\n  target: y\n  poly_degree: 6\n")
    line = refused("train", str(preset), home=home)
    assert "data.poly_degree: feature 'pop^6' overflows float32" in line
