"""The bell and desktop notification at a run's end: the bytes (tui/alerts.py), and a real
dashboard on a pseudo-terminal whose run ends, read back from the terminal's side."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.pty_dashboard import PtyDashboard
from tui.alerts import DEFAULT, alert_bytes, alert_kinds, passthrough

SMALL_RUN = [
    "default",
    *("--set", "data.n_samples=200", "--set", "train.epochs=300", "--set", "train.device=cpu"),
    *("--set", "early_stopping.patience=5", "--set", "optim.lr=0.1"),
]
"""The SMALL run of tests/tui/conftest.py: early-stops in about 25 epochs."""


def test_the_setting_picks_what_is_sent() -> None:
    assert alert_kinds("") == DEFAULT == ("bell", "osc9")
    assert alert_kinds("off") == () and alert_kinds("bell, OFF") == ()
    assert alert_kinds("osc777,bell,nonsense") == ("bell", "osc777")


def test_the_escapes_are_well_formed_and_cannot_be_broken_by_their_text() -> None:
    """A message carrying an ESC, a BEL or (in OSC 777) a ';' would end or split the escape."""
    sent = alert_bytes("linreg-tui run", "done;\x1b]evil\x07 now", ("bell", "osc9", "osc777"))
    assert sent == (
        "\a"
        "\x1b]9;linreg-tui run: done; ]evil now\x07"
        "\x1b]777;notify;linreg-tui run;done, ]evil now\x07"
    )
    assert alert_bytes("t", "b", ("bell",)) == "\a"
    wrapped = alert_bytes("t", "b", ("bell", "osc9"), tmux=True)
    assert wrapped == "\a\x1bPtmux;\x1b\x1b]9;t: b\x07\x1b\\"
    assert passthrough("\x1b]9;x\x07") == "\x1bPtmux;\x1b\x1b]9;x\x07\x1b\\"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"LINREG_TUI_ALERT": "bell,osc9,osc777", "TMUX": ""},
            [b"\x07\x1b]9;linreg-tui ", b"\x1b]777;notify;linreg-tui "],
        ),
        ({"TMUX": "/tmp/tmux-0/default,1,0"}, [b"\x07\x1bPtmux;\x1b\x1b]9;linreg-tui "]),
    ],
    ids=["plain", "in-tmux"],
)
def test_a_run_that_ends_rings_the_terminal(
    tmp_path: Path, env: dict[str, str], expected: list[bytes]
) -> None:
    term = PtyDashboard(SMALL_RUN, tmp_path, env=env)
    try:
        term.wait_for(b"Settings", timeout=60)
        since = term.mark()
        term.press(b"s")
        term.wait_for(expected[0], since, timeout=90)
        for seq in expected[1:]:
            term.wait_for(seq, since, timeout=5)
        end = bytes(term.out[since:])
        assert b"early-stopped: early stopped at epoch" in end or b"completed:" in end
    finally:
        term.close()


def test_alerts_can_be_turned_off(tmp_path: Path) -> None:
    term = PtyDashboard(SMALL_RUN, tmp_path, env={"LINREG_TUI_ALERT": "off", "TMUX": ""})
    try:
        term.wait_for(b"Settings", timeout=60)
        since = term.mark()
        term.press(b"s")
        term.wait_for(b"finished (", since, timeout=90)  # the top bar says the run ended
        out = bytes(term.out[since:])
        assert b"\x1b]9;" not in out and b"\x1b]777;" not in out and b"\x07\x1b]" not in out
    finally:
        term.close()
