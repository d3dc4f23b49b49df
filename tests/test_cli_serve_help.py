"""``linreg-tui serve`` is a command like the others in ``linreg-tui -h`` and in did-you-mean,
although ``tui.cli`` runs it itself and the engine, which builds the help, never imports the TUI
(real processes of the installed console script)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.cli.main import COMMANDS
from tests.runs_helpers import ROOT, env, run
from tui import cli, serve


def _console_script(*args: str, runs: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("linreg-tui")
    return subprocess.run(
        [str(script), *args], cwd=ROOT, env=env(runs), text=True, capture_output=True, timeout=60
    )


def _commands_section(help_text: str) -> dict[str, str]:
    """``-h``'s COMMAND list as name -> help line (argparse wraps the help over lines)."""
    section = help_text.split("  COMMAND\n", 1)[1].split("\n\n", 1)[0]
    listed: dict[str, str] = {}
    name = ""
    for line in section.splitlines():
        if line.startswith("    ") and not line.startswith("     "):
            name, _, text = line.strip().partition(" ")
            listed[name] = text.strip()
        else:
            listed[name] += " " + line.strip()
    return listed


def test_help_lists_serve_with_its_one_line(tmp_path: Path) -> None:
    proc = _console_script("-h", runs=tmp_path)
    assert proc.returncode == 0, proc.stderr
    listed = _commands_section(proc.stdout)
    assert list(listed) == [*COMMANDS, "serve"]
    assert listed["serve"] == serve.HELP
    assert listed["train"] == " ".join(COMMANDS["train"].HELP.split())


def test_the_help_line_is_the_serve_modules_own() -> None:
    assert cli.APP_COMMANDS == {"serve": serve.HELP}


def test_a_mistyped_serve_says_serve_in_one_line(tmp_path: Path) -> None:
    for word in ("serv", "srve", "sevre"):
        proc = _console_script(word, runs=tmp_path)
        assert proc.returncode == 2, proc
        said = f"linreg-tui: unknown command '{word}' (did you mean 'serve'?); see 'linreg-tui -h'"
        assert proc.stderr == said + "\n"
        assert proc.stdout == ""
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # nothing ran


def test_serve_still_runs_as_its_own_command(tmp_path: Path) -> None:
    proc = _console_script("serve", "-h", runs=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: linreg-tui serve ")
    assert "--no-token" in proc.stdout


def test_the_headless_command_line_has_no_serve(tmp_path: Path) -> None:
    """``python -m engine`` opens no dashboard, so it neither lists nor offers ``serve``."""
    listed = run(tmp_path, "-h")
    assert listed.returncode == 0 and "serve" not in listed.stdout
    typo = run(tmp_path, "serv")
    assert typo.returncode == 2
    assert typo.stderr == "python -m engine: unknown command 'serv'; see 'python -m engine -h'\n"
