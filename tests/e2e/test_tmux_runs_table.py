"""End to end in a real terminal: the runs screen (``h``) on runs the real CLI made — two lone
runs and a 3-trial sweep whose trial runs fold under one study row — at 80x24 in tmux.

What a person on a GPU box does after a sweep: the study is one row with its trial count, ``e``
unfolds it, ``/`` narrows the rows, ``s`` orders them, ``n`` writes a note that ``linreg-tui
runs`` and ``RUN/notes.json`` then hold. The expected rows and orders are computed here from the
runs' ``status.json`` files, not from the table code. On every unfiltered screen no line is wider
than 80 cells and each column header is whole: every column of ``runs --width 0`` is either shown
under its full name or named by the screen's "N columns hidden to fit" line. Keys are typed into
the input line only once it shows (under load keys can reach the table's bindings before the
field has the focus: ``tests/e2e/test_tmux_sweep.py``). The Pilot tests of the same screen are
``tests/tui/test_runs_screen.py``; the tmux helpers are ``tests/e2e/test_tmux.py``'s.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from engine.runs.store import read_status
from engine.runs.table import short_id
from tests.e2e.test_tmux import SCRIPT, TMUX, Tmux, _ended, _wait, tmux  # noqa: F401 - fixture
from tests.eventually import eventually

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed"),
    pytest.mark.skipif(not SCRIPT.exists(), reason=f"{SCRIPT} not installed"),
]
WIDTH = 80
STILL_S = 1.0
"""How long the runs table must stay unchanged before the next key goes in."""
PRESET = """\
name: fold3
seed: 0
data: {source: synthetic, n_samples: 200, n_features: 3, noise: 0.5, val_fraction: 0.2}
loss: {name: mse}
optim: {name: sgd, lr: 0.05}
train: {epochs: 10, device: cpu}
early_stopping: {enabled: false}
sweep:
  params: {train.epochs: [16, 24, 32]}
  sampler: grid
  parallel: 1
  pruning: false
"""
"""Three short trials whose epochs differ, so sorting by epochs orders the trial runs too."""
TRAIN = [
    "default",
    "--set",
    "data.n_samples=200",
    "--set",
    "train.device=cpu",
    "--set",
    "early_stopping.enabled=false",
]
NOTE = "baseline huber, try delta=2 next"


def _next_second() -> None:
    """Return once the wall clock's second has changed (polled, not a fixed sleep)."""
    start = int(time.time())
    eventually(lambda: int(time.time()) > start, timeout=5, interval=0.02, message="a new second")


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"linreg-tui {' '.join(args)}:\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Oldest first: a huber run (12 epochs), the sweep (one run per trial), an mse run with
    lr=0.1 (20 epochs) — newest first, the study sits between the two lone runs."""
    base = tmp_path_factory.mktemp("runs-table")
    preset = base / "fold3.yaml"
    preset.write_text(PRESET)
    env = {
        **os.environ,
        "LINREG_TUI_RUNS_DIR": str(base / "runs"),
        "XDG_CONFIG_HOME": str(base / "config"),
        "XDG_STATE_HOME": str(base / "state"),
    }
    _cli(env, "train", *TRAIN, "--set", "train.epochs=12", "--set", "loss.name=huber")
    _next_second()
    _cli(env, "sweep", str(preset), "--batch", "1")
    _next_second()  # run ids (and so "started") have one-second resolution: no tie with a trial
    _cli(env, "train", *TRAIN, "--set", "train.epochs=20", "--set", "optim.lr=0.1")
    return base / "runs"


@pytest.fixture
def runs(made: Path, tmp_path: Path) -> Path:
    """This test's own copy, where the ``tmux`` fixture points ``LINREG_TUI_RUNS_DIR``."""
    return Path(shutil.copytree(made, tmp_path / "runs"))


class Made:
    """The runs as their status files tell them."""

    def __init__(self, runs: Path) -> None:
        self.status = {
            p.name: read_status(p) for p in sorted(runs.iterdir()) if (p / "status.json").exists()
        }
        self.lone = sorted((i for i, s in self.status.items() if not s.get("study")), reverse=True)
        self.trials = sorted((i for i, s in self.status.items() if s.get("study")), reverse=True)
        assert len(self.lone) == 2 and len(self.trials) == 3, self.status
        (self.study,) = {self.status[t]["study"] for t in self.trials}
        self.huber, self.mse = (
            next(i for i in self.lone if self.status[i]["loss"] == name)
            for name in ("huber", "mse")
        )
        self.best_trial = min(self.trials, key=lambda t: self.status[t]["trial_value"])

    def study_cell(self) -> str:
        return f"study {short_id(self.study)[:6]}"

    def epochs(self, run_id: str) -> int:
        return int(self.status[run_id]["epochs_run"])


def _screen_rows(screen: str) -> list[str]:
    """The table's rows by their id cell (``3f9a1c``, ``study c7b4e6``, ``└ 9f19b9``)."""
    lines = screen.splitlines()
    head = next((i for i, line in enumerate(lines) if re.match(r"^\s+id\s", line)), None)
    rows: list[str] = []
    for line in lines[len(lines) if head is None else head + 1 :]:
        m = re.match(r"^.{4}(└ \S+|study \S+|\S+)", line)
        if not line.strip() or line.startswith(" sort ") or m is None:
            break
        rows.append(m.group(1))
    return rows


def _wait_rows(
    tmux: Tmux,  # noqa: F811
    expected: list[str],
    also: str = "",
    ordered: bool = True,
) -> str:
    """The screen once its table shows exactly the ``expected`` rows (in any order unless
    ``ordered``), each status whole, and the text ``also``, and has stayed the same for
    ``STILL_S``.

    Why not the first screen with those rows: each time the runs screen draws its table (on
    opening, twice: on mount and on its first resize; then on ``e``, a filter, a sort), it
    first paints every column cut to its header's width, until the DataTable measures the
    cells when idle. A key that redraws the table before that (``e`` right after opening, or
    right after Enter on a filter) left cut rows on the terminal for good — a bug reported
    with its fix (``tui/runs_screen.py`` giving ``add_column`` the layout's widths). A person
    reads the table before the next key; the test waits the same way.
    """
    seen = {"screen": "", "since": 0.0}

    def settled(screen: str) -> bool:
        now = time.monotonic()
        if screen != seen["screen"]:
            seen.update(screen=screen, since=now)
        return (
            (_screen_rows(screen) if ordered else sorted(_screen_rows(screen)))
            == (expected if ordered else sorted(expected))
            and also in screen
            and all(_status_whole(line) for line in _row_lines(screen))
            and now - float(seen["since"]) >= STILL_S
        )

    return tmux.wait_for(settled, timeout=30)


def _row_lines(screen: str) -> list[str]:
    lines = screen.splitlines()
    head = next((i for i, line in enumerate(lines) if re.match(r"^\s+id\s", line)), len(lines))
    return lines[head + 1 : head + 1 + len(_screen_rows(screen))]


def _status_whole(line: str) -> bool:
    """The row's status cell is not cut: a run's ``finished (...)``, a study's ``N trial runs``."""
    return re.search(r"finished \(\w+\)|\d trial runs?\b", line) is not None


def _all_headers(env: dict[str, str], *flags: str) -> list[str]:
    """Every column of the listing, at no width limit (``--all``: the unfolded trials count)."""
    return _cli(env, "runs", *flags, "--width", "0").splitlines()[0].split()


def _assert_fits(screen: str, headers: list[str]) -> None:
    """No line wider than the terminal; each column shown whole or said to be hidden."""
    wide = [line for line in screen.splitlines() if cell_len(line) > WIDTH]
    assert not wide, f"lines wider than {WIDTH}:\n" + "\n".join(wide)
    lines = screen.splitlines()
    shown = next(line for line in lines if re.match(r"^\s+id\s", line)).split()
    info = next(line for line in lines if line.startswith(" sort "))
    m = re.search(r"(\d+) columns? hidden to fit: (.*)$", info)
    hidden = m.group(2).strip().split(", ") if m else []
    assert not m or len(hidden) == int(m.group(1)), info
    assert all(h in headers for h in shown), f"a header is cut: {shown} (columns: {headers})"
    assert sorted([*shown, *hidden]) == sorted(headers), f"{shown} + hidden {hidden} != {headers}"


def _open_runs_screen(tmux: Tmux, rows: list[str]) -> str:  # noqa: F811
    """The dashboard at 80x24, then ``h``: the screen once the table shows ``rows``."""
    tmux("new-session", "-d", "-s", "app", "-x", str(WIDTH), "-y", "24", f"{SCRIPT} default")
    tmux.wait_for(lambda s: "Start" in s and "Settings" in s, timeout=30)
    tmux("send-keys", "-t", "app", "h")
    return _wait_rows(tmux, rows, also="sort started ↓")


def _type_into_input(tmux: Tmux, key: str, prompt: str, text: str) -> None:  # noqa: F811
    """Open the input line with ``key``, wait until it shows its (empty) prompt, type, Enter."""
    tmux("send-keys", "-t", "app", key)
    tmux.wait_for(lambda s: prompt in s, timeout=15)
    tmux("send-keys", "-t", "app", "-l", text)
    tmux.wait_for(lambda s: any(line.strip() == text for line in s.splitlines()), timeout=15)
    tmux("send-keys", "-t", "app", "Enter")


def _clear_filter(tmux: Tmux, current: str, rows: list[str]) -> str:  # noqa: F811
    """``/``, the line shows the filter, ctrl+u empties it, Enter: the screen showing ``rows``."""
    tmux("send-keys", "-t", "app", "/")
    tmux.wait_for(lambda s: any(line.strip() == current for line in s.splitlines()), timeout=15)
    tmux("send-keys", "-t", "app", "C-u")
    tmux.wait_for(lambda s: "filter: words" in s, timeout=15)
    tmux("send-keys", "-t", "app", "Enter")
    screen = _wait_rows(tmux, rows)
    assert "filter: words" not in screen and " · filter " not in screen, screen
    return screen


def _quit(tmux: Tmux) -> None:  # noqa: F811
    dashboard = tmux.pane_pid()
    tmux("send-keys", "-t", "app", "Escape")
    tmux.wait_for(lambda s: "Settings" in s and "Runs · " not in s, timeout=15)
    tmux("send-keys", "-t", "app", "q")
    _wait(lambda: _ended(dashboard), 15, "q to quit the dashboard")


def test_a_study_folds_unfolds_and_a_filter_narrows_the_rows(
    tmux: Tmux,  # noqa: F811
    runs: Path,
) -> None:
    made = Made(runs)
    short = {i: short_id(i) for i in made.status}
    folded = [short[made.mse], made.study_cell(), short[made.huber]]  # newest first
    screen = _open_runs_screen(tmux, folded)
    study_line = next(line for line in screen.splitlines() if made.study_cell() in line)
    assert "3 trial runs" in study_line
    _assert_fits(screen, _all_headers(tmux.env))

    tmux("send-keys", "-t", "app", "Down", "e")  # the study row, unfolded
    trials = [f"└ {short[t]}" for t in made.trials]  # newest first, as the trial runs started
    unfolded = [short[made.mse], made.study_cell(), *trials, short[made.huber]]
    screen = _wait_rows(tmux, unfolded)
    _assert_fits(screen, _all_headers(tmux.env, "--all"))

    # mse runs under 25 epochs: the lr=0.1 run and the 16- and 24-epoch trials, not huber's run
    kept = [t for t in made.trials if made.epochs(t) < 25]
    assert len(kept) == 2
    _type_into_input(tmux, "/", "filter: words", "mse epochs<25")
    narrowed = [short[made.mse], made.study_cell(), *[f"└ {short[t]}" for t in kept]]
    screen = _wait_rows(tmux, narrowed, also=" · filter mse epochs<25")
    study_line = next(line for line in screen.splitlines() if made.study_cell() in line)
    assert "2 trial runs" in study_line, "the study row counts the trial runs that match"

    _clear_filter(tmux, "mse epochs<25", unfolded)
    tmux("send-keys", "-t", "app", "e")  # the cursor is still on the study row: fold it
    _wait_rows(tmux, folded)
    _quit(tmux)


def _sorted_rows(made: Made, short: dict[str, str], descending: bool) -> list[str]:
    """The rows sorted by epochs, from the status files: a study by its best trial's epochs
    (the lowest ``trial_value``), its trial runs by their own, in the same direction."""
    top = {made.huber: made.epochs(made.huber), made.mse: made.epochs(made.mse)}
    top[made.study] = made.epochs(made.best_trial)
    assert len(set(top.values())) == 3, top  # no ties: the order is exact
    out: list[str] = []
    for key in sorted(top, key=top.__getitem__, reverse=descending):
        if key == made.study:
            trials = sorted(made.trials, key=made.epochs, reverse=descending)
            out += [made.study_cell(), *(f"└ {short[t]}" for t in trials)]
        else:
            out.append(short[key])
    return out


def test_s_sorts_by_each_column_in_turn_and_the_trials_with_their_study(
    tmux: Tmux,  # noqa: F811
    runs: Path,
) -> None:
    made = Made(runs)
    short = {i: short_id(i) for i in made.status}
    _open_runs_screen(tmux, [short[made.mse], made.study_cell(), short[made.huber]])
    tmux("send-keys", "-t", "app", "Down", "e")
    trials = [f"└ {short[t]}" for t in made.trials]
    unfolded = [short[made.mse], made.study_cell(), *trials, short[made.huber]]
    _wait_rows(tmux, unfolded)
    for label in ("state", "best", "r2"):  # s goes on from started to each in turn
        tmux("send-keys", "-t", "app", "s")
        _wait_rows(tmux, unfolded, also=f"sort {label} ↑", ordered=False)
    tmux("send-keys", "-t", "app", "s")
    screen = _wait_rows(tmux, _sorted_rows(made, short, False), also="sort epochs ↑")
    _assert_fits(screen, _all_headers(tmux.env, "--all"))

    tmux("send-keys", "-t", "app", "S")  # reversed: both levels turn around
    _wait_rows(tmux, _sorted_rows(made, short, True), also="sort epochs ↓")
    _quit(tmux)


def test_a_note_written_on_the_screen_is_in_the_cli_and_the_run_folder(
    tmux: Tmux,  # noqa: F811
    runs: Path,
) -> None:
    made = Made(runs)
    folded = [short_id(made.mse), made.study_cell(), short_id(made.huber)]
    _open_runs_screen(tmux, folded)
    _type_into_input(tmux, "/", "filter: words", "huber")  # one row: n notes that run
    _wait_rows(tmux, [short_id(made.huber)], also=" · filter huber")
    _type_into_input(tmux, "n", "note for this run", NOTE)
    tmux.wait_for(lambda s: f"note saved for run {made.huber}" in s, timeout=15)

    notes = json.loads((runs / made.huber / "notes.json").read_text())
    assert notes == {"note": NOTE, "tags": []}
    listed: list[dict[str, Any]] = [
        json.loads(line) for line in _cli(tmux.env, "runs", "--json").splitlines()
    ]
    assert {r["id"]: r["note"] for r in listed if r.get("id") in made.lone} == {
        made.huber: NOTE,
        made.mse: "",
    }
    table = _cli(tmux.env, "runs", "--width", "0").splitlines()
    assert table[0].split()[-2:] == ["note", "age"]
    assert NOTE in next(line for line in table if line.startswith(made.huber))
    assert not any(NOTE in line for line in table if not line.startswith(made.huber))

    screen = _clear_filter(tmux, "huber", folded)
    _assert_fits(screen, _all_headers(tmux.env))  # the note column: shown whole or hidden
    _quit(tmux)
