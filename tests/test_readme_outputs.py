"""The README's example outputs are what the commands print today (timings aside).

Each fenced block that starts with ``$ linreg-tui ...`` and is listed in ``CHECKED`` is run for
real; the block's lines before a ``...`` line must be the output's first lines and the lines
after it the output's last lines, after timings and the machine's device name are masked.

Lines are compared word for word, and a computed decimal (a point or an exponent, at least 4
significant digits) may differ by one unit in its last documented digit: CPUs with other vector
units (AVX-512, AVX2, SSE, another BLAS) sum in another order, which moves a float32 result by a
few ulps and can flip the sixth significant digit. Everything else is exact: words, integers
(epochs, rows), short numbers (settings such as ``0.0003``), and every decision a run takes
(where it stopped and why), which the presets keep clear of rounding (see
``early_stopping.min_delta`` in ``presets/diabetes.yaml``).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests import warm_process

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"```\n(\$ linreg-tui [^\n]*)\n(.*?)```", re.S)

CHECKED = {
    "linreg-tui train diabetes": ROOT,
    "linreg-tui train --set early_stopping.patiense=3": ROOT,
    "linreg-tui cv diabetes --folds 5": ROOT,
    "linreg-tui check-loss examples/asymmetric_loss.py:asymmetric_mse --params under=3,over=1": ROOT
    / "presets",
}
"""Documented commands whose output is deterministic, and the folder each runs from."""


def _mask(line: str) -> str:
    line = re.sub(r"[\d,]+ samples/s", "N samples/s", line)
    return re.sub(r" on (cpu|cuda(:\d+)?|mps) \([^)]*\)", " on DEVICE", line)


DECIMAL = re.compile(r"-?(\d*\.\d+(e[-+]?\d+)?|\d+e[-+]?\d+)")
"""A number printed with a decimal point or an exponent (integers are compared exactly)."""
COMPUTED_DIGITS = 4
"""A decimal with at least this many significant digits is a computed result (6 are printed,
trailing zeros trimmed); a shorter one is a setting echoed back, compared exactly."""


def _same_number(printed: str, documented: str) -> bool:
    """Both computed decimals, within one unit of the documented number's last digit."""
    if not (DECIMAL.fullmatch(printed) and DECIMAL.fullmatch(documented)):
        return False
    _, digits, exponent = Decimal(documented).as_tuple()
    assert isinstance(exponent, int)
    if len(digits) < COMPUTED_DIGITS:
        return False
    return abs(Decimal(printed) - Decimal(documented)) <= Decimal(10) ** exponent


def _same_lines(printed: list[str], documented: list[str]) -> bool:
    """The lines match word for word, decimals up to one unit in their last digit."""
    if len(printed) != len(documented):
        return False
    for got, want in zip(printed, documented):
        a, b = got.split(), want.split()
        if len(a) != len(b) or not all(x == y or _same_number(x, y) for x, y in zip(a, b)):
            return False
    return True


def test_numbers_may_differ_in_their_last_digit_only() -> None:
    assert _same_lines(["val  3690.77  -0.0869501"], ["val    3690.76   -0.08695"])
    assert _same_lines(["bias 2.0873e-7 1.23567"], ["bias 2.0872e-7 1.23568"])
    assert not _same_lines(["val  3690.78"], ["val  3690.76"])  # two units off
    assert not _same_lines(["1  283/71  140  0.44"], ["1  283/71  139  0.44"])  # an epoch count
    assert not _same_lines(["restored epoch 71"], ["restored epoch 72"])
    assert not _same_lines(["train 0.436277"], ["val 0.436277"])
    assert not _same_lines(["improvement > 0.0004"], ["improvement > 0.0003"])  # a setting
    assert not _same_lines(["a", "b"], ["a"])


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
    proc = warm_process.run(
        [sys.executable, "-m", "engine", *argv],
        cwd=CHECKED[command],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    printed = [
        _mask(ln) for ln in (proc.stdout + proc.stderr).splitlines() if not ln.startswith("run: ")
    ]
    expected = [_mask(ln) for ln in expected]
    if "..." in expected:
        cut = expected.index("...")
        head, tail = expected[:cut], expected[cut + 1 :]
    else:
        head, tail = expected, []
        assert len(printed) == len(head), "\n".join(printed)
    shown = "\n".join(printed)
    assert _same_lines(printed[: len(head)], head), (
        f"documented:\n{chr(10).join(head)}\nprinted:\n{shown}"
    )
    if tail:
        assert _same_lines(printed[-len(tail) :], tail), (
            f"documented:\n{chr(10).join(tail)}\nprinted:\n{shown}"
        )
    if code is not None:
        assert str(proc.returncode) == code
