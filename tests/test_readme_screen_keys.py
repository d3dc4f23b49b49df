"""Every key a screen binds is documented in the README's table for that screen.

The footer and ``?`` help are generated from the bindings; this keeps the README's key tables
from going stale the same way (a key added to a screen fails here until it has a row).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.binding import Binding

from tui.app import LinregApp
from tui.lab.screen import LabScreen
from tui.runs_screen import RunsScreen

README = Path(__file__).resolve().parents[1] / "README.md"
WRITTEN = {
    "escape": "esc",
    "question_mark": "?",
    "slash": "/",
    "plus": "+",
    "minus": "-",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
}
"""Textual's key names as the README writes them."""


def table_keys(header: str) -> set[str]:
    """The keys in the first column of the README table whose header row is ``header``
    (``| `a` / `b` | ...`` gives both)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(header)
    keys: set[str] = set()
    for line in lines[start + 2 :]:
        if not line.startswith("| `"):
            break
        keys |= set(re.findall(r"`([^`]+)`", line.split(" | ")[0]))
    return keys


def bound(bindings: list[Binding]) -> set[str]:
    return {WRITTEN.get(b.key, b.key) for b in bindings}


@pytest.mark.parametrize(
    "screen, header",
    [
        (LinregApp, "| key | does |"),
        (RunsScreen, "| runs screen key | does |"),
        (LabScreen, "| lab key | does |"),
    ],
)
def test_each_bound_key_has_a_row_in_its_screens_table(screen: type, header: str) -> None:
    missing = bound(screen.BINDINGS) - table_keys(header)
    assert not missing, f"{screen.__name__} binds keys the README table {header!r} lacks: {missing}"
