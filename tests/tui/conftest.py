"""Shared fixtures for the dashboard tests: a private preset folder and tiny, fast runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual import events
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static

SMALL = ["data.n_samples=200", "train.epochs=300", "train.device=cpu",
         "early_stopping.patience=5", "optim.lr=0.1"]
"""A run of the default preset that early-stops in about 25 epochs."""

LONG = ["data.n_samples=200", "train.epochs=100000", "train.device=cpu",
        "early_stopping.enabled=false"]
"""A run that goes on until stopped."""


@pytest.fixture(autouse=True)
def user_presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point $XDG_CONFIG_HOME at a temp dir so no test touches the real preset folder."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "linreg-tui"


async def wait_until(pilot: Pilot, cond: Callable[[], bool], timeout: float = 20.0) -> None:
    """Let the app run until ``cond()`` holds; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


def text_of(app: App, selector: str) -> str:
    """The plain text a Static currently shows."""
    return str(app.query_one(selector, Static).render())


async def tab_to(pilot: Pilot, widget_id: str, limit: int = 80) -> None:
    """Press tab until the widget with ``widget_id`` has focus (keyboard only)."""
    for _ in range(limit):
        if pilot.app.focused is not None and pilot.app.focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"tab never reached #{widget_id}")


async def paste(pilot: Pilot, text: str) -> None:
    """Paste ``text`` into the focused widget as a terminal's bracketed paste delivers it.

    A path typed key by key costs pilot an idle wait per key; a paste is one event, and it is
    how people put a path into a field anyway.
    """
    assert pilot.app.focused is not None, "nothing has focus to paste into"
    pilot.app.focused.post_message(events.Paste(text))
    await pilot.pause()
