"""A stop signal that lands inside an import is acted on, never lost.

C code that imports a module may swallow the exception a handler raises there (``torch._C``
imports numpy and clears any error: the run then trained on, SIGTERM lost) or abort on it. The
command's start-up handlers only note a signal inside an import; the run that starts next stops
at once and a command that ends without the exception leaves as if it had arrived. Real signals
to this process, delivered inside a real import.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.common import Left, leave_on_signals
from engine.core.control import Control
from engine.core.signals import StopOnSignals

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="POSIX signals")


def _module_that_is_signalled(tmp_path: Path, name: str, signum: int) -> str:
    """A module whose import sends ``signum`` to this process and finishes (records ``done``)."""
    (tmp_path / f"{name}.py").write_text(
        "import os, signal, time\n"
        f"os.kill(os.getpid(), {int(signum)})\n"
        "for _ in range(100):\n"
        "    time.sleep(0.001)  # the handler runs here, inside the import\n"
        "done = True\n"
    )
    return name


@pytest.fixture
def importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("signalled_")]:
        del sys.modules[name]


@pytest.mark.parametrize(
    "signum, raised", [(signal.SIGTERM, Left), (signal.SIGINT, KeyboardInterrupt)]
)
def test_a_signal_inside_an_import_lets_it_finish_then_leaves(
    importable: Path, signum: int, raised: type[BaseException]
) -> None:
    name = _module_that_is_signalled(importable, f"signalled_{signum}", signum)
    after = []
    with pytest.raises(raised), leave_on_signals():
        module = importlib.import_module(name)
        after.append(module.done)  # the import ran to its end; the command went on
    assert after == [True]


def test_a_run_that_starts_after_a_signal_inside_an_import_stops_at_once(importable: Path) -> None:
    name = _module_that_is_signalled(importable, "signalled_run", signal.SIGTERM)
    control = Control()
    with leave_on_signals():
        importlib.import_module(name)
        assert not control.stopped
        with StopOnSignals(control) as signals:
            assert control.stopped and control.stopped_by == "SIGTERM"
    assert signals.interrupted and signals.exit_code == 128 + signal.SIGTERM


def test_outside_an_import_the_signal_raises_where_it_lands() -> None:
    reached = []
    with pytest.raises(Left), leave_on_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            reached.append(1)  # Python runs the handler at the next bytecode or so
    assert len(reached) < 1000


def test_a_noted_signal_does_not_leak_into_the_next_command(importable: Path) -> None:
    name = _module_that_is_signalled(importable, "signalled_leak", signal.SIGTERM)
    with pytest.raises(Left), leave_on_signals():
        importlib.import_module(name)
    control = Control()
    with leave_on_signals(), StopOnSignals(control):
        assert not control.stopped


def test_a_ctrl_c_that_breaks_a_class_being_built_is_one_line_and_ends_by_sigint() -> None:
    """Before any command's handler (the command line still importing): a Ctrl-C landing in a
    dataclass field's ``__set_name__`` surfaces as ``RuntimeError: Error calling __set_name__``
    caused by it. The quiet hook says one line and ends the process by SIGINT, as for a plain
    Ctrl-C (CI saw the traceback, at 0.1 s into ``linreg-tui predict``)."""
    code = (
        "from engine.core.quiet_start import quiet_interrupts\n"
        "quiet_interrupts()\n"
        "import os, signal\n"
        "class Field:\n"
        "    def __set_name__(self, owner, name):\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        for _ in range(100000):\n"
        "            pass  # the Ctrl-C is raised here, inside __set_name__\n"
        "class Config:\n"
        "    val_fraction = Field()\n"
        "print('not reached')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.stderr == "stopped by Ctrl-C\n"
    assert proc.returncode == -signal.SIGINT and proc.stdout == ""
