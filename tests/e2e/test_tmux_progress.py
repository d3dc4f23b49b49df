"""End to end in a real terminal (tmux, 80x24): what a run's progress looks like (issue 21,
items 5-7) — the ETA and the trainer's system line during a long run, the footer that offers
only what acts now, the bell and a toast when a run ends, a bad value's message in one row plus
a toast that fixing the field clears, ``?`` help per screen, and the warning rows of a fit that
diverged.

The numbers on screen are checked against the run itself: the ETA against the epochs left at
the pace the screen shows, the RSS against the trainer's ``/proc`` entry, the toast against the
run's ``status.json``, the warnings against its ``events.jsonl``. The bell is what tmux saw:
``#{window_bell_flag}`` is set on a window of a detached session when a BEL reaches its pane
(tmux's ``alerts.c``), and stays set. The Pilot tests of the same things are
``tests/tui/test_keys_messages_progress.py`` and ``tests/tui/test_alerts.py``; the tmux helpers
and fixture (a private server, temporary runs and XDG folders) are ``tests/e2e/test_tmux.py``'s.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pytest

from engine.core.events import EpochEnded, RunFinished
from engine.runs.log import read_events
from engine.runs.store import list_runs, read_status
from tests.e2e.test_tmux import (
    ARGS,
    LONG,
    SCRIPT,
    TMUX,
    Tmux,
    _field_value,
    tmux,  # noqa: F401 - the fixture
)
from tests.eventually import eventually
from tui.app import ERROR_TOAST_S

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed"),
    pytest.mark.skipif(not SCRIPT.exists(), reason=f"{SCRIPT} not installed"),
]
WIDTH, HEIGHT = 80, 24
DIVERGES = [
    "default",
    *("--set", "data.n_samples=200", "--set", "train.epochs=300", "--set", "train.device=cpu"),
    *("--set", "optim.lr=10"),
]
"""Full-batch SGD with a learning rate far past 2/L: the loss overflows within ~15 epochs."""
_PROGRESS = re.compile(r"epoch (\d+)/(\d+) [█░]+ \d+%\s+([\d.]+) s(?:\s+ETA (≤?)(\S+))?")
_SCROLLBAR = str.maketrans("", "", "▁▂▃▄▅▆▇█▔")
"""The block characters a scrollbar's thumb is drawn with (never part of the help's text)."""
_SYSTEM = re.compile(r"trainer cpu (\d+)%  rss ([\d.]+) (MB|GB)  (\d+) thr")


def _start(t: Tmux, args: list[str]) -> str:
    """A dashboard in a detached 80x24 session ``app``, once its form and footer show."""
    t.env.pop("LINREG_TUI_ALERT", None)  # what a user gets by default: bell and OSC 9
    t("new-session", "-d", "-s", "app", "-x", str(WIDTH), "-y", str(HEIGHT), _cmd(args))
    return t.wait_for(lambda s: "Settings" in s and "Quit" in _footer(s), timeout=60)


def _cmd(args: list[str]) -> str:
    return " ".join([str(SCRIPT), *args])


def _keys(t: Tmux, *keys: str) -> None:
    t("send-keys", "-t", "app", *keys)


def _rows(screen: str) -> list[str]:
    rows = screen.split("\n")
    return (rows + [""] * HEIGHT)[:HEIGHT]


def _footer(screen: str) -> list[str]:
    """The footer's words (the last row)."""
    return _rows(screen)[-1].split()


def _bell(t: Tmux) -> bool:
    """Whether a BEL has reached the pane since the session began (tmux keeps the flag set)."""
    return t("display-message", "-p", "-t", "app", "#{window_bell_flag}").strip() == "1"


def _seconds(text: str) -> int:
    """``54s``, ``1m03s``, ``2h03m``, ``3d04h`` (engine/core/eta.py's format) in seconds."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([dhms])", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(int(n) * units[u] for n, u in parts)


def _progress(screen: str) -> tuple[int, int, float, int | None] | None:
    """(epoch, total, seconds trained, ETA in seconds or None) from the run panel's bar row."""
    m = _PROGRESS.search(screen)
    if m is None:
        return None
    eta = None if m.group(5) is None else _seconds(m.group(5))
    return int(m.group(1)), int(m.group(2)), float(m.group(3)), eta


def _toast(screen: str) -> str:
    """The text of the toasts on screen ('' without): the rows right of a toast's left edge
    (``▌``, right of the settings panel), up to the toast rack's scrollbar gutter (its
    ``overflow-y: scroll`` keeps the last two columns), joined."""
    rows = _rows(screen)
    edges = [r.find("▌", 32) for r in rows]
    left = max(set(edges) - {-1}, key=edges.count, default=-1)
    if left < 0:
        return ""
    shown = [r[left + 1 : WIDTH - 2] for r, e in zip(rows, edges) if e == left]
    return " ".join(" ".join(shown).split())


def _modal(screen: str) -> str:
    """The text inside the help dialog's frame (a ``╭──…──╮`` row to its ``╰``), without its
    scrollbar's thumb, rows joined with single spaces; '' when no dialog is open."""
    rows = _rows(screen)
    tops = [
        (i, row.rfind("╭"), row.rfind("╮"))
        for i, row in enumerate(rows)
        if 0 <= row.rfind("╭") < row.rfind("╮")
        and not row[row.rfind("╭") + 1 : row.rfind("╮")].strip("─")
    ]
    if not tops:
        return ""
    top, left, right = tops[0]
    out = []
    for row in rows[top + 1 :]:
        if row[left : left + 1] == "╰":
            return " ".join(out)
        out.append(" ".join(row[left + 1 : right].translate(_SCROLLBAR).split()))
    return ""  # not closed on screen


def _only_run(tmp_path: Path) -> Path:
    return eventually(
        lambda: (runs := list_runs(tmp_path / "runs")) and runs[0].path, message="a run directory"
    )


def _rss_mib(pid: int) -> float:
    """The process's resident set size in MiB, as the kernel counts it (what psutil reads)."""
    status = Path(f"/proc/{pid}/status").read_text()
    kib = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert kib is not None
    return int(kib.group(1)) / 1024


def test_a_long_run_shows_its_eta_falling_the_trainers_use_and_the_keys_that_act_now(
    tmux: Tmux,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    screen = _start(tmux, LONG)
    assert "Start" in _footer(screen) and not {"Stop", "Pause", "Resume"} & set(_footer(screen))
    _keys(tmux, "s")
    screen = tmux.wait_for(lambda s: (p := _progress(s)) is not None and p[3] is not None, 60)
    epoch0, total, secs, eta0 = _progress(screen)  # type: ignore[misc]
    assert total == 100_000
    # the ETA is the epochs left at the run's pace: the pace of its last seconds, which under
    # load may differ from the average so far, but not by a factor of 4
    average = (total - epoch0) * secs / epoch0
    assert average / 4 <= eta0 <= average * 4 + 1, f"ETA {eta0} s vs {average:.0f} s:\n{screen}"
    assert "≤" not in screen, "early stopping is off: the ETA is not a bound"
    footer = set(_footer(screen))
    assert {"Stop", "Pause"} <= footer and not {"Start", "Resume"} & footer, screen

    screen = tmux.wait_for(
        lambda s: (p := _progress(s)) is not None and p[0] > epoch0 and (p[3] or eta0) <= eta0 - 2,
        timeout=30,
    )  # later epochs, a shorter ETA
    screen = tmux.wait_for(lambda s: _SYSTEM.search(s) is not None, timeout=15)
    cpu, rss, unit, threads = _SYSTEM.search(screen).groups()  # type: ignore[union-attr]
    shown = float(rss) * (1024 if unit == "GB" else 1)
    run_dir = _only_run(tmp_path)
    actual = _rss_mib(read_status(run_dir)["pid"])
    assert abs(shown - actual) <= 0.25 * actual, f"rss {shown} MiB shown, {actual:.0f} MiB real"
    assert 0 < int(cpu) <= 100 * (os.cpu_count() or 1) and int(threads) >= 1
    assert "─Run on cpu · trainer cpu" in screen, "the system line sits in the panel's rule"

    _keys(tmux, "p")
    screen = tmux.wait_for(lambda s: "Resume" in _footer(s), timeout=15)
    assert "Pause" not in _footer(screen) and "Start" not in _footer(screen)
    screen = tmux.wait_for(lambda s: "⏸ paused" in s, timeout=10)
    assert "ETA" not in screen, "no time left is shown while paused"
    _keys(tmux, "p")
    screen = tmux.wait_for(lambda s: "Pause" in _footer(s) and "ETA " in s, timeout=15)
    assert "Resume" not in _footer(screen)
    _keys(tmux, "x")
    screen = tmux.wait_for(lambda s: "stopped by you" in s and "Start" in _footer(s), timeout=30)
    assert not {"Stop", "Pause", "Resume"} & set(_footer(screen))
    assert "ETA" not in screen and "trainer cpu" not in screen, "the run has ended"


def test_a_run_that_ends_rings_the_terminal_and_toasts_how_it_ended(
    tmux: Tmux,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    _start(tmux, ARGS)
    assert not _bell(tmux), "nothing rang before the run"
    _keys(tmux, "s")
    screen = tmux.wait_for(lambda s: "early stopped at epoch" in _toast(s), timeout=60)
    status = read_status(_only_run(tmp_path))
    assert status["reason"] == "early_stopped"
    toast = _toast(screen)
    assert toast.endswith(status["message"]), toast
    assert f"{_only_run(tmp_path).name}: early_stopped" in toast, toast
    eventually(lambda: _bell(tmux), timeout=10, message="tmux to see the bell")


def test_a_bad_value_is_said_in_one_row_and_a_toast_and_fixing_the_field_clears_both(
    tmux: Tmux,  # noqa: F811 - the fixture
) -> None:
    _start(tmux, ARGS)
    _focus(tmux, "lr ")
    _keys(tmux, "a", "b", "c")  # the focused field's text is selected: typing replaces it
    tmux.wait_for(lambda s: _field_value(s, "lr") == (True, "abc") and "✗ must be" in s, 10)
    _keys(tmux, "Escape")
    tmux.wait_for(lambda s: _focused(s) == "", timeout=10)
    _keys(tmux, "s")
    screen = tmux.wait_for(lambda s: "optim.lr: must be a number" in _toast(s), timeout=15)
    rows = _rows(screen)
    assert "start refused — optim.lr: must" in rows[0], screen
    assert rows[1].startswith("╭─ Settings"), f"the top bar is one row:\n{screen}"
    assert "start refused — optim.lr: must be a number" in _toast(screen)
    assert not [w for w in ("Traceback", "ValueError", "'abc'") if w in screen], screen

    _focus(tmux, "lr ")  # back to the field (its error and toast still show), and fix it
    screen = tmux.screen()
    assert "start refused" in _rows(screen)[0] and "optim.lr" in _toast(screen), (
        f"the toast lasts {ERROR_TOAST_S:g} s; six Tabs took longer:\n{screen}"
    )
    _keys(tmux, "0", ".", "1")
    screen = tmux.wait_for(
        lambda s: _field_value(s, "lr") == (True, "0.1") and "refused" not in s and not _toast(s),
        timeout=5,
    )
    assert "✗" not in screen


def _focused(screen: str) -> str:
    """The settings row marked focused (``▌``), or '' when the focus is elsewhere."""
    return next((r[2:30] for r in _rows(screen) if r.startswith("│▌")), "")


def _focus(t: Tmux, row: str) -> None:
    """Tab from the plot through the settings to ``row``, one focus move at a time."""
    for name in ("preset ", "loss ", "l1 ", "l2 ", "optimizer ", "lr "):
        _keys(t, "Tab")
        t.wait_for(lambda s, name=name: _focused(s).startswith(name), timeout=10)
        if name == row:
            return
    raise AssertionError(f"no {row!r} row")


def test_help_lists_the_keys_of_the_screen_it_is_opened_from(tmux: Tmux) -> None:  # noqa: F811
    _start(tmux, ARGS)
    _keys(tmux, "?")
    shown = tmux.wait_for(lambda s: "Keys" in _modal(s), timeout=15)
    text = _modal(shown)
    assert "s start a run with the settings shown" in text and "Keys of this screen" not in text
    assert "p pause the run (not now)" in text, "no run: pause does nothing now"
    assert "s start a run with the settings shown (not now)" not in text
    assert "Mark" not in text, "the runs screen's keys are not this screen's"
    _keys(tmux, "Escape")
    tmux.wait_for(lambda s: not _modal(s) and "Settings" in s, timeout=10)

    _keys(tmux, "h")
    tmux.wait_for(lambda s: s.startswith(" Runs · ") and "Back" in _footer(s), timeout=15)
    _keys(tmux, "?")
    text = _modal(tmux.wait_for(lambda s: "Keys of this screen (RunsScreen)" in _modal(s), 15))
    for key, does in [("space", "Mark"), ("enter", "Open"), ("c", "Compare"), ("s", "Sort")]:
        assert f"{key} {does}" in text, f"{key} {does}: {text}"
    assert "slash Filter" in text and "esc Back" in text
    assert "start a run with the settings shown" not in text
    _keys(tmux, "Escape")
    tmux.wait_for(lambda s: not _modal(s) and s.startswith(" Runs · "), timeout=10)
    _keys(tmux, "Escape")
    tmux.wait_for(lambda s: "Settings" in s and "Sweep" in _footer(s), timeout=10)

    _keys(tmux, "w")
    tmux.wait_for(lambda s: "no sweep yet" in s and "Back" in _footer(s), timeout=15)
    _keys(tmux, "?")
    text = _modal(tmux.wait_for(lambda s: "Keys of this screen (SweepScreen)" in _modal(s), 15))
    assert "s Start" in text and "s Start (not now)" not in text
    assert "x Stop (not now)" in text and "e Edit space" in text and "esc Back" in text
    assert "Mark" not in text
    _keys(tmux, "Escape")
    tmux.wait_for(lambda s: not _modal(s) and "no sweep yet" in s, timeout=10)


def test_a_diverging_fit_ends_with_its_warning_rows(tmux: Tmux, tmp_path: Path) -> None:  # noqa: F811
    _start(tmux, DIVERGES)
    assert not _bell(tmux)
    _keys(tmux, "s")
    tmux.wait_for(lambda s: "finished (diverged)" in _rows(s)[0], timeout=60)
    eventually(lambda: _bell(tmux), timeout=10, message="tmux to see the bell")
    events, _ = read_events(_only_run(tmp_path))
    fin = next(e for e in events if isinstance(e, RunFinished))
    losses = [e.train_loss for e in events if isinstance(e, EpochEnded)]
    low = min(x for x in losses if math.isfinite(x))
    assert fin.reason == "diverged" and losses[-1] >= 1000 * low

    # the toasts fade (the error's after ERROR_TOAST_S); the rows they covered are the warnings
    def warned() -> str | None:
        screen = _repainted(tmux)
        return screen if not _toast(screen) and "⚠ poor fit" in screen else None

    screen = eventually(
        warned,
        timeout=ERROR_TOAST_S + 20,
        interval=0.5,
        message="the toasts to fade and the warning rows to show",
    )
    rows = _rows(screen)
    at = next(i for i, r in enumerate(rows) if " ⚠ diverging: the training loss grew " in r)
    assert " ⚠ poor fit: validation R² is " in rows[at + 1], screen
    # the run panel's last two rows, each cut to its row (the whole text is in ? help)
    assert at + 1 == HEIGHT - 2 and rows[at].endswith("…") and rows[at + 1].endswith("…"), screen
    r2 = float(re.search(r"R² is (-?[\d.]+)", rows[at + 1]).group(1))  # type: ignore[union-attr]
    assert r2 == pytest.approx(fin.metrics["val"]["r2"], rel=5e-3)

    # the whole text in ? help, with the numbers the events hold (opened once the toasts
    # have gone: Textual draws toasts over a dialog)
    _keys(tmux, "?")
    text = _modal(tmux.wait_for(lambda s: "Warnings of the last run (2)" in _modal(s), 15))
    m = re.search(r"from its minimum (\S+) at epoch (\d+) to (\S+); lower optim.lr", text)
    assert m is not None, text
    assert float(m.group(1)) == pytest.approx(low, rel=1e-3)
    assert int(m.group(2)) == losses.index(low) + 1
    assert float(m.group(3)) == pytest.approx(losses[-1], rel=1e-3)
    assert "worse than predicting the mean" in text


def _repainted(t: Tmux) -> str:
    """The screen once every cell has been drawn afresh: ``?`` puts the help dialog over it and
    Esc takes it away. (Some runs' end toasts stayed drawn in tmux after they expired, until
    the cells under them were redrawn: the DOM had no Toast, a Pilot test sees none; seen in
    about half the runs, not pinned down. Looking at a repainted screen keeps this test about
    the warning rows.)"""
    _keys(t, "?")
    t.wait_for(lambda s: "Keys" in _modal(s), timeout=15)
    _keys(t, "Escape")
    return t.wait_for(lambda s: not _modal(s) and "Settings" in s, timeout=15)
