"""Shared fixtures: isolated preset and run folders and a quick way to build configs; the
suite's tiers.

Event builders for tests live in :mod:`tests.builders`; waiting for a condition (never a fixed
sleep) in :mod:`tests.eventually`. Tiers (:mod:`tests.tiers`, markers registered in
``pyproject.toml``): ``pytest`` runs everything; ``pytest -m "not e2e and not slow"`` is the
quick tier (no tmux, none of the tests measured slow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.config import Config, parse_config
from tests import tiers


def pytest_addoption(parser: pytest.Parser) -> None:
    tiers.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    tiers.configure(config)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tiers.mark(items)


@pytest.fixture(autouse=True)
def isolated_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never read or write the real ~/.config/linreg-tui or ~/.local/state/linreg-tui (child
    processes inherit the environment, so they are isolated too)."""
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.delenv("LINREG_TUI_RUNS_DIR", raising=False)
    return home / "linreg-tui"


@pytest.fixture(autouse=True)
def no_terminal_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The terminal's size is not a test input: pytest-xdist's workers export ``COLUMNS=80``,
    and a child process (``linreg-tui runs``) would fit its table to it. A test that wants a
    width sets one."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


@pytest.fixture
def user_presets(isolated_config_home: Path) -> Path:
    """This test's user preset folder (the one ``isolated_config_home`` points at)."""
    return isolated_config_home


def make_config(**sections: Any) -> Config:
    """A validated config from keyword sections, e.g. ``make_config(optim={"lr": 0.1})``."""
    return parse_config(sections, where="test")
