"""A command forked by the warm server (:mod:`tests.warm_process`) ends as the same command
exec'd: exit status, stdout and stderr, atexit handlers, a non-daemon thread that outlives the
main one, a signal landing mid-run. The server's children skip the interpreter's teardown
(``_run_as_main``); these are what the interpreter does as it ends, teardown or not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import warm_process
from tests.runs_helpers import engine_cmd, env

LOSSES = {
    "exits-with-a-message": (
        "import atexit, sys\n"
        "atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
        "sys.exit('leaving: a message')\n"
    ),
    "trains-then-a-thread-and-atexit-print": (
        "import atexit, sys, threading\n"
        "def late():\n"
        "    threading.main_thread().join()\n"
        "    print('thread ended', flush=True)\n"
        "atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
        "def loss(pred, target):\n"
        "    if not any(t.name == 'late' for t in threading.enumerate()):\n"
        "        threading.Thread(target=late, name='late').start()\n"
        "    return ((pred - target) ** 2).mean()\n"
    ),
    "interrupted-by-sigint-mid-run": (
        "import os, signal\n"
        "calls = []\n"
        "def loss(pred, target):\n"
        "    calls.append(1)\n"
        "    if len(calls) == 3:\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    return ((pred - target) ** 2).mean()\n"
    ),
}
NUMBERS = re.compile(r"\d{8}-\d{6}-default-[0-9a-f]{6}|\d[\d,.]*")
"""Masked in what the commands print: run names (a time and a random part) and throughput."""


def _ended(tmp_path: Path, loss_file: Path, fresh: bool) -> tuple[int, list[str], list[str]]:
    done = warm_process.run(
        engine_cmd(
            "train",
            *("--set", "data.n_samples=50", "--set", "train.epochs=5"),
            *("--set", "train.device=cpu", "--set", "loss.name=custom"),
            *("--set", f"loss.callable={loss_file}:loss"),
        ),
        fresh=fresh,
        env=env(tmp_path / "runs"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, _masked(done.stdout), _masked(done.stderr)


def _masked(text: str) -> list[str]:
    """The lines of ``text`` with numbers masked, repeats once (how many progress lines a run
    prints depends on the time it takes)."""
    lines = NUMBERS.sub("N", text).splitlines()
    return [line for i, line in enumerate(lines) if i == 0 or line != lines[i - 1]]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_a_forked_command_ends_as_the_same_command_execd(tmp_path: Path, name: str) -> None:
    loss_file = tmp_path / f"{name}.py"
    loss_file.write_text(LOSSES[name])
    fresh = _ended(tmp_path, loss_file, fresh=True)
    assert _ended(tmp_path, loss_file, fresh=False) == fresh
    code, out, err = fresh
    if name.startswith("trains"):
        assert code == 0 and out[-1] == "thread ended" and "atexit ran" in err
    elif name.startswith("exits"):
        assert code == 2 and "atexit ran" in err
    else:
        assert code == 130
