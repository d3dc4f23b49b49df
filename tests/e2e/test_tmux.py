"""End to end in a real terminal: tmux runs ``linreg-tui``, keys go in, the screen comes out.

Needs tmux (``.ci/run`` installs it); skipped with a reason where it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
SCRIPT = Path(sys.executable).with_name("linreg-tui")
ARGS = ["default", "--set", "data.n_samples=200", "--set", "train.epochs=300",
        "--set", "train.device=cpu", "--set", "early_stopping.patience=5",
        "--set", "optim.lr=0.1"]


class Tmux:
    """A private tmux server (own socket) holding one session."""

    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"linreg-e2e-{uuid.uuid4().hex[:8]}"
        self.env = env

    def __call__(self, *args: str) -> str:
        out = subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True, text=True,
                             env=self.env, timeout=20)
        return out.stdout

    def alive(self) -> bool:
        return subprocess.run([TMUX, "-L", self.socket, "has-session", "-t", "app"],
                              capture_output=True, env=self.env).returncode == 0

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "app")

    def wait_for(self, cond: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if cond(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"timed out; the screen was:\n{text}")


@pytest.fixture
def tmux(tmp_path: Path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color"}
    env.pop("TMUX", None)
    t = Tmux(env)
    yield t
    t("kill-server")


@pytest.mark.skipif(not SCRIPT.exists(), reason=f"{SCRIPT} not installed")
def test_dashboard_trains_in_a_real_terminal(tmux: Tmux) -> None:
    cmd = " ".join([str(SCRIPT), *ARGS])
    tmux("new-session", "-d", "-s", "app", "-x", "80", "-y", "24", cmd)
    tmux.wait_for(lambda s: "Start" in s and "Settings" in s, timeout=30)
    tmux("send-keys", "-t", "app", "s")
    screen = tmux.wait_for(lambda s: "● stopped" in s and "early stopped at epoch" in s,
                            timeout=60)
    assert "┤" in screen, "the plot's y axis is drawn"
    assert any(0x2800 < ord(c) <= 0x28FF for c in screen), "the loss curve is drawn (braille)"
    assert "wait 5/5" in screen
    tmux("send-keys", "-t", "app", "q")
    deadline = time.monotonic() + 10
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tmux.alive(), "q quits the app"
