"""The README's example outputs are what the commands print today (timings aside).

Each fenced block that starts with ``$ linreg-tui ...`` and is listed in ``CHECKED`` is run for
real; the block's lines before a ``...`` line must be the output's first lines and the lines
after it the output's last lines, after timings and the machine's device name are masked.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"```\n(\$ linreg-tui [^\n]*)\n(.*?)```", re.S)

CHECKED = {
    "linreg-tui train diabetes": ROOT,
    "linreg-tui train --set early_stopping.patiense=3": ROOT,
    "linreg-tui cv diabetes --folds 5": ROOT,
    "linreg-tui check-loss examples/asymmetric_loss.py:asymmetric_mse --params under=3,over=1":
        ROOT / "presets",
}
"""Documented commands whose output is deterministic, and the folder each runs from."""


def _mask(line: str) -> str:
    line = re.sub(r"[\d,]+ samples/s", "N samples/s", line)
    return re.sub(r" on (cpu|cuda(:\d+)?|mps) \([^)]*\)", " on DEVICE", line)


def _blocks() -> dict[str, tuple[list[str], str | None]]:
    """``command -> (expected lines, the following '$ echo $?' value or None)``."""
    out = {}
    for cmd, body in BLOCK.findall(README):
        lines = body.rstrip("\n").split("\n")
        code = None
        if "$ echo $?" in lines:
            i = lines.index("$ echo $?")
            code, lines = lines[i + 1], lines[:i]
        lines = [ln for ln in lines if not ln.startswith("$ ")]
        out[cmd[2:]] = (lines, code)
    return out


def test_every_checked_command_is_documented() -> None:
    assert set(CHECKED) <= set(_blocks()), set(CHECKED) - set(_blocks())


@pytest.mark.parametrize("command", sorted(CHECKED))
def test_the_readme_shows_what_the_command_prints(command: str, tmp_path: Path) -> None:
    expected, code = _blocks()[command]
    argv = shlex.split(command)[1:]
    env = {**os.environ, "LINREG_TUI_RUNS_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "engine", *argv], cwd=CHECKED[command],
                          capture_output=True, text=True, timeout=300, env=env)
    printed = [_mask(ln) for ln in (proc.stdout + proc.stderr).splitlines()
               if not ln.startswith("run: ")]
    expected = [_mask(ln) for ln in expected]
    if "..." in expected:
        cut = expected.index("...")
        head, tail = expected[:cut], expected[cut + 1:]
    else:
        head, tail = expected, []
        assert len(printed) == len(head), "\n".join(printed)
    assert printed[:len(head)] == head
    if tail:
        assert printed[-len(tail):] == tail
    if code is not None:
        assert str(proc.returncode) == code
