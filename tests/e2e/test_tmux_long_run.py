"""End to end in tmux: ``linreg-tui watch`` of a long finished run shows its end (read from
the run's curve summary, not epoch by epoch), and the plot's keys move around it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.test_tmux import SCRIPT, Tmux, tmux  # noqa: F401 - the fixture
from tests.long_run import write_long_run

pytestmark = pytest.mark.e2e
N = 100_000


@pytest.mark.skipif(not SCRIPT.exists(), reason=f"{SCRIPT} not installed")
def test_watch_a_long_finished_run_shows_its_end(tmux: Tmux, tmp_path: Path) -> None:  # noqa: F811
    run = write_long_run(tmp_path / "runs", N)
    t0 = time.monotonic()
    tmux("new-session", "-d", "-s", "app", "-x", "80", "-y", "24", f"{SCRIPT} watch {run.name}")
    screen = tmux.wait_for(lambda s: "finished (completed)" in s, timeout=60)
    opened = time.monotonic() - t0
    assert "idle" not in screen
    assert "100000" in screen.replace(",", "")  # the x axis reaches the last epoch
    assert opened < 30, f"watching took {opened:.1f} s"
    tmux("send-keys", "-t", "app", "g")
    tmux.wait_for(lambda s: "log-x" in s, timeout=10)
    tmux("send-keys", "-t", "app", "Right")
    tmux.wait_for(lambda s: f"epoch {N:,}: train" in s, timeout=10)
    tmux("send-keys", "-t", "app", "y")
    tmux.wait_for(lambda s: "val RMSE" in s or "RMSE" in s, timeout=10)
