"""Shared fixtures: an isolated user preset folder and a quick way to build configs."""

from __future__ import annotations

from typing import Any

import pytest

from engine.config import Config, parse_config


@pytest.fixture(autouse=True)
def isolated_config_home(tmp_path, monkeypatch):
    """Never read or write the real ~/.config/linreg-tui."""
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home / "linreg-tui"


def make_config(**sections: Any) -> Config:
    """A validated config from keyword sections, e.g. ``make_config(optim={"lr": 0.1})``."""
    return parse_config(sections, where="test")
