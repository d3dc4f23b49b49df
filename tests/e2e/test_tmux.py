"""End to end in a real terminal: tmux runs ``linreg-tui``, keys go in, the screen comes out.

Needs tmux (``.ci/run`` installs it); skipped with a reason where it is missing.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.runs.store import list_runs, read_status, run_state
from tests.eventually import NeverHappened, eventually
from tests.runs_helpers import epochs_logged

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
SCRIPT = Path(sys.executable).with_name("linreg-tui")
ARGS = [
    "default",
    "--set",
    "data.n_samples=200",
    "--set",
    "train.epochs=300",
    "--set",
    "train.device=cpu",
    "--set",
    "early_stopping.patience=5",
    "--set",
    "optim.lr=0.1",
]


LONG = [
    "default",
    "--set",
    "data.n_samples=200",
    "--set",
    "train.epochs=100000",
    "--set",
    "train.device=cpu",
    "--set",
    "early_stopping.enabled=false",
]


class Tmux:
    """A private tmux server (own socket) holding one session."""

    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"linreg-e2e-{uuid.uuid4().hex[:8]}"
        self.env = env

    def __call__(self, *args: str) -> str:
        out = subprocess.run(
            [TMUX, "-L", self.socket, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=20,
        )
        return out.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "app")

    def pane_pid(self) -> int:
        """The process the pane runs (the dashboard)."""
        return int(self("display-message", "-p", "-t", "app", "#{pane_pid}").strip())

    def wait_for(self, cond: Callable[[str], bool], timeout: float) -> str:
        """The screen, once ``cond(screen)`` holds; fails showing the last screen."""
        seen = [""]

        def shows() -> str | None:
            seen[0] = self.screen()
            return seen[0] if cond(seen[0]) else None

        try:
            return eventually(shows, timeout=timeout, interval=0.1, message="the screen")
        except NeverHappened:
            raise AssertionError(
                f"timed out after {timeout:g} s; the screen was:\n{seen[0]}"
            ) from None


@pytest.fixture
def tmux(tmp_path: Path):
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "TERM": "xterm-256color",
        "LINREG_TUI_RUNS_DIR": str(tmp_path / "runs"),
    }
    env.pop("TMUX", None)
    t = Tmux(env)
    yield t
    t("kill-server")
    for run in list_runs(tmp_path / "runs"):  # a trainer left going by a failed test
        if run.state == "running":
            with contextlib.suppress(OSError, TypeError):
                os.kill(run.status["pid"], signal.SIGKILL)


@pytest.mark.skipif(not SCRIPT.exists(), reason=f"{SCRIPT} not installed")
def test_dashboard_trains_in_a_real_terminal(tmux: Tmux) -> None:
    cmd = " ".join([str(SCRIPT), *ARGS])
    tmux("new-session", "-d", "-s", "app", "-x", "80", "-y", "24", cmd)
    tmux.wait_for(lambda s: "Start" in s and "Settings" in s, timeout=30)
    tmux("send-keys", "-t", "app", "s")
    screen = tmux.wait_for(lambda s: "● stopped" in s and "early stopped at epoch" in s, timeout=60)
    assert "┤" in screen, "the plot's y axis is drawn"
    assert any(0x2800 < ord(c) <= 0x28FF for c in screen), "the loss curve is drawn (braille)"
    assert "wait 5/5" in screen
    dashboard = tmux.pane_pid()
    tmux("send-keys", "-t", "app", "q")
    _wait(lambda: _ended(dashboard), 10, "q to quit the app")


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    eventually(cond, timeout=timeout, interval=0.1, message=what)


@pytest.mark.skipif(not SCRIPT.exists(), reason=f"{SCRIPT} not installed")
def test_hangup_leaves_the_run_going_and_a_new_dashboard_attaches(
    tmux: Tmux, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    tmux("new-session", "-d", "-s", "app", "-x", "80", "-y", "24", " ".join([str(SCRIPT), *LONG]))
    tmux.wait_for(lambda s: "Start" in s and "Settings" in s, timeout=30)
    dashboard = tmux.pane_pid()
    tmux("send-keys", "-t", "app", "s")
    _wait(
        lambda: bool(list_runs(runs)) and epochs_logged(list_runs(runs)[0].path) >= 10,
        90,
        "epochs in the run directory",
    )
    run_dir = list_runs(runs)[0].path

    tmux("kill-session", "-t", "app")  # the terminal goes away: SIGHUP to the dashboard
    _wait(lambda: _ended(dashboard), 10, "the dashboard to exit on hangup")
    before = epochs_logged(run_dir)
    _wait(lambda: epochs_logged(run_dir) > before + 10, 30, "the run to keep training")
    assert run_state(read_status(run_dir)) == "running"

    tmux("new-session", "-d", "-s", "app", "-x", "80", "-y", "24", " ".join([str(SCRIPT), *LONG]))
    tmux.wait_for(lambda s: "1 run in progress" in s, timeout=30)
    tmux("send-keys", "-t", "app", "a")
    tmux.wait_for(lambda s: "attached" in s, timeout=15)
    tmux("send-keys", "-t", "app", "x")
    # the attached run's curve so far loads in the background (thousands of epochs): the plot
    # may be drawn after the stop is said
    tmux.wait_for(lambda s: "stopped by you" in s and "┤" in s, timeout=30)
    _wait(lambda: read_status(run_dir).get("state") == "finished", 30, "the run to finish")
    assert (run_dir / "model.pt").exists() and (run_dir / "checkpoint.pt").exists()
    dashboard = tmux.pane_pid()
    tmux("send-keys", "-t", "app", "q")
    _wait(lambda: _ended(dashboard), 10, "q to quit with no run")


def _ended(pid: int) -> bool:
    """The process has ended: gone, or a zombie its parent (tmux) has not reaped yet."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" in status


@pytest.mark.skipif(not SCRIPT.exists(), reason=f"{SCRIPT} not installed")
def test_two_dashboards_follow_one_run_to_its_end(tmux: Tmux, tmp_path: Path) -> None:
    """A run started in one dashboard and watched from a second terminal: the watcher shows it
    mid-run (paused from the first, through the process boundary), then both show its last
    epoch once it has finished on its own."""
    runs = tmp_path / "runs"
    epochs = 20000
    args = [
        "default",
        "--set",
        "data.n_samples=200",
        "--set",
        f"train.epochs={epochs}",
        "--set",
        "train.device=cpu",
        "--set",
        "early_stopping.enabled=false",
    ]

    def screen(session: str) -> str:
        return tmux("capture-pane", "-p", "-t", session)

    tmux("new-session", "-d", "-s", "app", "-x", "80", "-y", "24", " ".join([str(SCRIPT), *args]))
    tmux.wait_for(lambda s: "Start" in s and "Settings" in s, timeout=30)
    tmux("send-keys", "-t", "app", "s")
    _wait(
        lambda: bool(list_runs(runs)) and epochs_logged(list_runs(runs)[0].path) >= 5,
        60,
        "epochs in the run directory",
    )
    run_dir = list_runs(runs)[0].path
    tmux.wait_for(lambda s: "running" in s and f"/{epochs}" in s, timeout=15)  # p acts now
    tmux("send-keys", "-t", "app", "p")
    tmux.wait_for(lambda s: "paused" in s, timeout=15)

    tmux(
        "new-session",
        "-d",
        "-s",
        "watch",
        "-x",
        "80",
        "-y",
        "24",
        " ".join([str(SCRIPT), "watch", "latest"]),
    )
    held = epochs_logged(run_dir)
    _wait(
        lambda: f"epoch {held}/{epochs}" in screen("watch"),
        30,
        f"the watcher to show the paused run at epoch {held}",
    )
    tmux("send-keys", "-t", "app", "p")
    _wait(lambda: read_status(run_dir).get("state") == "finished", 120, "the run to finish")
    last = f"epoch {epochs}/{epochs}"
    for session in ("app", "watch"):
        _wait(lambda session=session: last in screen(session), 15, f"{session} to show {last}")
        assert "┤" in screen(session), "the plot is drawn"


@pytest.mark.skipif(not SCRIPT.exists(), reason=f"{SCRIPT} not installed")
def test_leaving_a_run_in_the_background_says_how_to_come_back(tmux: Tmux, tmp_path: Path) -> None:
    """q then b: the dashboard exits at once (it ends its process right after the app), the
    terminal keeps its last line — the command that comes back — and the run goes on."""
    runs = tmp_path / "runs"
    tmux("new-session", "-d", "-s", "app", "-x", "80", "-y", "24")
    tmux("set-option", "-t", "app", "remain-on-exit", "on")
    tmux("respawn-pane", "-k", "-t", "app", " ".join([str(SCRIPT), *LONG]))
    tmux.wait_for(lambda s: "Start" in s and "Settings" in s, timeout=30)
    tmux("send-keys", "-t", "app", "s")
    _wait(
        lambda: bool(list_runs(runs)) and epochs_logged(list_runs(runs)[0].path) >= 5,
        60,
        "epochs in the run directory",
    )
    run_dir = list_runs(runs)[0].path
    dashboard = tmux.pane_pid()
    tmux("send-keys", "-t", "app", "q")
    tmux.wait_for(lambda s: "background" in s, timeout=10)
    tmux("send-keys", "-t", "app", "b")
    # Ended, not "Pane is dead": under CPU load tmux took over 20 s to reap the dashboard that
    # had printed its line and ended (a zombie) — tmux's pace, not the dashboard's.
    _wait(lambda: _ended(dashboard), 10, "the dashboard to exit")
    said = tmux("capture-pane", "-p", "-J", "-S", "-100", "-t", "app").replace("\n", "")
    assert f"goes on in the background; come back with: linreg-tui watch {run_dir.name}" in said
    before = epochs_logged(run_dir)
    _wait(lambda: epochs_logged(run_dir) > before + 10, 30, "the run to keep training")
    assert run_state(read_status(run_dir)) == "running"


def _field_value(screen: str, label: str) -> tuple[bool, str]:
    """(focused, text) of a settings field on the screen (``▌`` marks the focused row)."""
    for line in screen.splitlines():
        m = re.match(rf"│([▌ ]){re.escape(label)}\s+(\S*)", line)
        if m:
            return m.group(1) == "▌", m.group(2)
    raise AssertionError(f"no {label} field on the screen:\n{screen}")


def _focused_row(screen: str) -> str:
    """The settings row marked focused (``▌``), or "" when the focus is elsewhere."""
    return next((line[2:30] for line in screen.splitlines() if line.startswith("│▌")), "")


@pytest.mark.skipif(not SCRIPT.exists(), reason=f"{SCRIPT} not installed")
def test_esc_then_a_letter_in_a_field_during_a_run_never_types_the_letter(tmux: Tmux) -> None:
    """10 times during a run: focus the l1 field, type 7, then Esc and l — sent in one write
    (how a busy terminal or SSH delivers them: the parser sees alt+l) or in two. The letter
    never lands in the field: Esc leaves it, and l toggles log-y."""
    tmux("new-session", "-d", "-s", "app", "-x", "80", "-y", "24", " ".join([str(SCRIPT), *LONG]))
    tmux.wait_for(lambda s: "Start" in s and "Settings" in s, timeout=30)
    tmux("send-keys", "-t", "app", "s")
    tmux.wait_for(lambda s: "running" in s, timeout=30)
    for i in range(10):
        for row in ("preset ", "loss ", "l1 "):  # Esc left the focus on the plot
            tmux("send-keys", "-t", "app", "Tab")
            tmux.wait_for(lambda s, row=row: _focused_row(s).startswith(row), timeout=5)
        tmux("send-keys", "-t", "app", "7")
        tmux.wait_for(lambda s: _field_value(s, "l1") == (True, "7"), timeout=5)
        if i % 2:
            tmux("send-keys", "-t", "app", "Escape")
            time.sleep(0.03)  # part of the test: two writes a moment apart, as a person types
            tmux("send-keys", "-t", "app", "l")
        else:
            tmux("send-keys", "-t", "app", "Escape", "l")
        # The l has been handled once its note shows (each press flips log-y, and a note
        # replaces the one before): only then is "it never landed in the field" a fact.
        toggled = "log-y on" if i % 2 == 0 else "log-y off"
        screen = tmux.wait_for(
            lambda s, note=toggled: _focused_row(s) == "" and note in s, timeout=5
        )
        assert _field_value(screen, "l1") == (False, "7"), f"press {i + 1}:\n{screen}"
        assert "running" in screen and _focused_row(screen) == "", "the focus is on the plot"
    tmux("send-keys", "-t", "app", "x")
    tmux.wait_for(lambda s: "stopped by you" in s, timeout=30)
