"""Shared helpers for the dashboard tests: tiny, fast runs and ways to drive and read the app.

The user preset folder is isolated for every test by ``isolated_config_home`` in
``tests/conftest.py``. Tests about what the dashboard shows of a run file events by hand
(:func:`file_events`): built by ``tests/builders.py``, or recorded from a real run of the engine
(:func:`fit_events`, the ``small_run`` fixture); tests about runs themselves start real trainer
processes.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import tempfile
import types
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from rich.console import Console
from textual import events
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Label, Select, Static

from engine.cli import sweep_launch, trainer_process
from engine.core.events import Event
from engine.runs.store import list_runs
from tests import warm_process
from tests.eventually import eventually, eventually_async

SMALL = [
    "data.n_samples=200",
    "train.epochs=300",
    "train.device=cpu",
    "early_stopping.patience=5",
    "optim.lr=0.1",
]
"""A run of the default preset that early-stops in about 25 epochs."""

LONG = [
    "data.n_samples=200",
    "train.epochs=100000",
    "train.device=cpu",
    "early_stopping.enabled=false",
]
"""A run that goes on until stopped."""


@pytest.fixture(autouse=True)
def warm_trainers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trainers and sweeps the dashboard starts are forked warm (:mod:`tests.warm_process`):
    real processes of the product's own command, environment, session, log file and signals,
    each started without paying torch's import (~1.5 s of CPU, most of these tests' time).
    ``test_trainer_process.py`` overrides this: it tests the start itself, an exec'd trainer."""
    forked = types.SimpleNamespace(**{**vars(subprocess), "Popen": warm_process.popen})
    for module in (trainer_process, sweep_launch):
        monkeypatch.setattr(module, "subprocess", forked)


async def wait_until(
    pilot: Pilot, cond: Callable[[], object], timeout: float = 20.0, what: str = "the app"
) -> None:
    """Let the app run until ``cond()`` holds; fail the test after ``timeout`` seconds, saying
    what the app's top bar showed then (how a CI failure is diagnosed). :func:`eventually_async`
    with ``Pilot.pause`` between polls, so the app's timers and screen updates run too."""

    def failed_waiting_for() -> str:
        top = pilot.app.query("#topbar")
        return f"{what} (its top bar: {str(top.first().render())!r})" if top else what

    await eventually_async(cond, timeout, message=failed_waiting_for, pause=pilot.pause)


def wait_for(
    cond: Callable[[], object], timeout: float = 30.0, what: str = "the condition"
) -> None:
    """Outside an app: poll ``cond`` until it holds; fail the test after ``timeout`` seconds
    (:func:`eventually` under the name these tests know)."""
    eventually(cond, timeout, message=what)


async def file_events(pilot: Pilot, *evts: Event, run_name: str | None = None) -> None:
    """File engine events through the app's run session, as its follow does, show what the
    session says about them, and draw them. ``run_name``: the run directory they came from."""
    app = pilot.app
    if run_name is not None:
        app.session.shown_run = run_name
    for event in evts:
        notice = app.session.file(event)
        if notice is not None:
            app.tell(notice)
    await app.painter.redraw_now()


def fit_events(preset: str, overrides: Sequence[str] = ()) -> list[Event]:
    """Every event of a real run of ``preset`` trained in this process (``engine.fit``): what
    its trainer process would log, for tests about what the dashboard shows of a run. The run
    trains from the config file a trainer process is given (paths in it made absolute)."""
    from engine import fit, load_config
    from engine.cli.trainer_process import prepare_run_dir

    with tempfile.TemporaryDirectory() as root:
        run_dir = prepare_run_dir(load_config(preset, list(overrides)), Path(root))
        return fit(load_config(str(run_dir / "config.yaml"))).events


@pytest.fixture(scope="session")
def small_run() -> list[Event]:
    """The events of a SMALL run of the default preset (early-stopped after about 25 epochs),
    recorded once for every test that only shows them."""
    return fit_events("default", SMALL)


def text_of(app: App, selector: str) -> str:
    """The plain text a Static currently shows."""
    return str(app.query_one(selector, Static).render())


def table_text(app: App, selector: str) -> str:
    """What a panel holding a Rich renderable (a table) shows, as plain text at its width."""
    widget = app.query_one(selector, Static)
    console = Console(
        width=max(widget.content_size.width, 20),
        color_system=None,
        record=True,
        file=io.StringIO(),
        legacy_windows=False,
    )
    console.print(widget.content)
    return console.export_text()


def error_text(app: App, key: str) -> str | None:
    """The error line under a field, or None when it is not shown."""
    label = app.query_one(f"#err-f-{key.replace('.', '-')}", Label)
    return str(label.render()) if label.display else None


async def tab_to(pilot: Pilot, widget_id: str, limit: int = 80) -> None:
    """Press tab until the widget with ``widget_id`` has focus (keyboard only)."""
    for _ in range(limit):
        if pilot.app.focused is not None and pilot.app.focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"tab never reached #{widget_id}")


async def choose(pilot: Pilot, widget_id: str, value: str) -> None:
    """Pick ``value`` in a Select by keyboard: open it, arrow to the option, enter."""
    select = pilot.app.query_one(f"#{widget_id}", Select)
    values = [str(v) for _, v in select._options]
    select.focus()
    await pilot.press("enter")
    steps = values.index(value) - values.index(str(select.value))
    await pilot.press(*(["down"] * steps if steps > 0 else ["up"] * -steps), "enter")
    await wait_until(pilot, lambda: select.value == value, timeout=5)


async def paste(pilot: Pilot, text: str) -> None:
    """Paste ``text`` into the focused widget as a terminal's bracketed paste delivers it.

    A path typed key by key costs pilot an idle wait per key; a paste is one event, and it is
    how people put a path into a field anyway.
    """
    assert pilot.app.focused is not None, "nothing has focus to paste into"
    pilot.app.focused.post_message(events.Paste(text))
    await pilot.pause()


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    """Every dashboard test keeps its runs in its own folder, and no trainer process it
    started outlives it (a test that failed half-way would otherwise leave one training)."""
    root = tmp_path / "runs"
    monkeypatch.setenv("LINREG_TUI_RUNS_DIR", str(root))
    yield root
    for run in list_runs(root):
        pid = run.status.get("pid")
        if run.state == "running" and isinstance(pid, int):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
