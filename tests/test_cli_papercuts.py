"""CLI papercuts: ``--version``, "did you mean" for a mistyped command, and the one-line note when
an early-stopped run is resumed with no more patience (real processes)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from tests.runs_helpers import ROOT, env, only_run, run


def _console_script(*args: str, runs: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("linreg-tui")
    return subprocess.run(
        [str(script), *args], cwd=ROOT, env=env(runs), text=True, capture_output=True, timeout=60
    )


def test_version_is_the_installed_packages(tmp_path: Path) -> None:
    for args in (["--version"], ["-V"]):
        proc = _console_script(*args, runs=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"linreg-tui {version('linreg-tui')}\n"
    headless = run(tmp_path, "--version")
    assert headless.stdout == f"python -m engine {version('linreg-tui')}\n"


def test_a_mistyped_command_says_the_closest_one_in_one_line(tmp_path: Path) -> None:
    for argv, said in (
        (["trian", "--set", "train.epochs=3"], "unknown command 'trian' (did you mean 'train'?)"),
        (["rusn"], "unknown command 'rusn' (did you mean 'runs'?)"),
        (["sweeep", "default"], "(did you mean 'sweep'?)"),
    ):
        proc = _console_script(*argv, runs=tmp_path)
        assert proc.returncode == 2, proc
        assert said in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert proc.stdout == ""
    far = run(tmp_path, "xyzzy")  # no dashboard: any unknown word is a command typo
    assert far.returncode == 2 and "unknown command 'xyzzy'; see" in far.stderr
    preset = _console_script("diabets", runs=tmp_path)  # not near a command: a preset typo
    assert preset.returncode == 2 and "unknown preset 'diabets'" in preset.stderr
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # nothing ran


def test_resuming_an_early_stopped_run_explains_patience(tmp_path: Path) -> None:
    quick = ["--set", "early_stopping.patience=3", "--set", "optim.lr=0.5"]
    done = run(tmp_path, "train", "default", *quick, "--set", "data.n_samples=200")
    assert done.returncode == 0 and "early stopped at epoch" in done.stdout, done.stderr
    run_dir = only_run(tmp_path)
    again = run(tmp_path, "resume", run_dir.name, "--set", "train.epochs=2000")
    assert again.returncode == 0, again.stderr
    notes = [line for line in again.stderr.splitlines() if "early stopping will stop it" in line]
    assert len(notes) == 1
    assert "early_stopping.patience=N (N > 3)" in notes[0]
    assert "early_stopping.enabled=false" in notes[0]
    assert "early stopped at epoch" in again.stdout  # and it did, at once
    patient = run(
        tmp_path,
        "resume",
        run_dir.name,
        "--set",
        "train.epochs=2500",
        "--set",
        "early_stopping.patience=400",
    )
    assert patient.returncode == 0, patient.stderr
    assert "early stopping will stop it" not in patient.stderr
