"""The first SIGINT/SIGTERM while a big CSV loads stops the command (one line, no traceback),
and a Ctrl-C right after a command starts prints no traceback, whether it was started as
``python -m engine`` or as the installed ``linreg-tui``."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.runs_helpers import LONG, ROOT, engine_cmd, env


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.csv"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600_000, 10)).astype(np.float32)
    np.savetxt(
        path,
        np.c_[x, x.sum(1)],
        delimiter=",",
        fmt="%.7g",
        header=",".join([f"x{i}" for i in range(10)] + ["y"]),
        comments="",
    )
    return path


def _loading(proc: subprocess.Popen[str], path: Path, deadline: float) -> bool:
    """True once the process has the CSV open (it is loading it)."""
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            fds = list(Path(f"/proc/{proc.pid}/fd").iterdir())
            if any(fd.resolve() == path for fd in fds):
                return True
        except OSError:
            pass
        time.sleep(0.005)
    return False


@pytest.mark.parametrize(
    "sig, code, who", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")]
)
def test_the_first_signal_during_loading_stops_the_command(
    big_csv: Path, tmp_path: Path, sig: int, code: int, who: str
) -> None:
    proc = subprocess.Popen(
        engine_cmd(
            "train",
            "--no-save",
            "--set",
            "data.source=csv",
            "--set",
            f"data.path={big_csv}",
            "--set",
            "data.target=y",
        ),
        cwd=ROOT,
        env=env(tmp_path),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert _loading(proc, big_csv, time.monotonic() + 60), "the load never started"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"stopped by {who}" in lines[0], err


SCRIPT = Path(sys.executable).with_name("linreg-tui")
"""The installed console script (``[project.scripts]``), beside this interpreter."""
HOOK = {
    ROOT / "engine" / "__init__.py",
    ROOT / "engine" / "core" / "__init__.py",
    ROOT / "engine" / "core" / "quiet_start.py",
}
"""Our files a Ctrl-C may pass through before the quiet hook is in: the hook's own import."""
FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def _launcher(name: str, *args: str) -> list[str]:
    if name == "python -m engine":
        return engine_cmd(*args)
    assert SCRIPT.exists(), f"no installed console script at {SCRIPT} (pip install -e .)"
    return [str(SCRIPT), *args]


def _hook_import_line() -> int:
    """The line of ``tui/cli.py`` that imports the quiet hook (its first import)."""
    lines = (ROOT / "tui" / "cli.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if "import quiet_interrupts" in line)


def _past_the_hook(err: str) -> list[str]:
    """The frames of ours in a traceback that are past the hook's own import: none may be."""
    cli = (str(ROOT / "tui" / "cli.py"), str(_hook_import_line()))
    bad = []
    for file, line in FRAME.findall(err):
        path = Path(file)
        if not path.is_relative_to(ROOT / "engine") and not path.is_relative_to(ROOT / "tui"):
            continue  # Python's start-up, the console script's one import line
        if path not in HOOK and (file, line) != cli:
            bad.append(f"{file}:{line}")
    return bad


def _interrupt_early(cmd: list[str], runs: Path, delay: float, sig: int) -> tuple[int, str]:
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env(runs), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    time.sleep(delay)  # the delay is the subject here: when the signal lands
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.parametrize("launcher", ["python -m engine", "linreg-tui"])
def test_ctrl_c_right_after_start_prints_no_traceback(tmp_path: Path, launcher: str) -> None:
    """From the moment our code runs. Python's own start-up (``site``, finding the first
    module: ~20-60 ms, more on a busy machine) is before any of it and may still print a
    traceback of its own frames, as may the quiet hook's own import (~1 ms); past that, a
    traceback never goes through our code, and once started there is none at all, one line
    at most. A long run, so every Ctrl-C lands before the run is over."""
    quiet = 0
    for delay in (0.0, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5):
        code, err = _interrupt_early(
            _launcher(launcher, "train", "--no-save", *LONG), tmp_path, delay, signal.SIGINT
        )
        assert not _past_the_hook(err), (delay, err)
        if "Traceback" in err or "Fatal Python error" in err:
            continue  # interrupted inside Python's own start-up
        quiet += 1
        assert code in (130, -signal.SIGINT), (delay, code, err)
        assert len(err.strip().splitlines()) <= 1, (delay, err)
    assert quiet >= 5


@pytest.mark.parametrize(
    "args, done", [(("runs",), 0), (("predict", "latest", "rows.csv"), 2)], ids=["runs", "predict"]
)
def test_ctrl_c_right_after_the_script_starts_a_quick_command(
    tmp_path: Path, args: tuple[str, ...], done: int
) -> None:
    """``runs`` and ``predict`` too: a Ctrl-C stops them quietly, or they were already done
    (``runs`` lists nothing: 0; ``predict`` finds no run: 2)."""
    for delay in (0.05, 0.1, 0.2, 0.3):
        code, err = _interrupt_early(_launcher("linreg-tui", *args), tmp_path, delay, signal.SIGINT)
        assert not _past_the_hook(err), (delay, err)
        if "Traceback" in err or "Fatal Python error" in err:
            continue  # interrupted inside Python's own start-up
        assert code in (130, -signal.SIGINT, done), (delay, code, err)
        assert len(err.strip().splitlines()) <= 1, (delay, err)


def test_sigterm_right_after_the_script_starts_prints_no_traceback(tmp_path: Path) -> None:
    """Before the command's handler a SIGTERM ends the process as the signal does (no output);
    after it, one line and exit 143. Never a traceback."""
    for delay in (0.0, 0.05, 0.1, 0.2, 0.4):
        code, err = _interrupt_early(
            _launcher("linreg-tui", "train", "--no-save", *LONG), tmp_path, delay, signal.SIGTERM
        )
        assert "Traceback" not in err, (delay, err)
        assert code in (143, -signal.SIGTERM), (delay, code, err)
        assert len(err.strip().splitlines()) <= 1, (delay, err)


def test_the_console_script_is_quiet_before_it_imports_anything_heavy() -> None:
    """Which modules the installed entry point imports before its Ctrl-C hook is in: only the
    hook's own package path, never the command line, the config or the training loop."""
    code = (
        "import sys\n"
        "from importlib.metadata import entry_points\n"
        "(ep,) = [e for e in entry_points(group='console_scripts') if e.name == 'linreg-tui']\n"
        "seen = []\n"
        "class Spy:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if not getattr(sys.excepthook, 'quiet_interrupts', False):\n"
        "            seen.append(name)\n"
        "sys.meta_path.insert(0, Spy())\n"
        "ep.load()\n"
        "print(ep.value)\n"
        "print(' '.join(seen))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split("\n")
    assert out[0] == "tui.cli:entry"
    assert out[1].split() == ["tui", "tui.cli", "engine", "engine.core", "engine.core.quiet_start"]


def test_importing_the_engine_is_cheap_and_leaves_the_callers_handlers_alone() -> None:
    """``import engine`` loads no submodule until a public name is used, and neither it nor
    the public API nor the command line's modules touch a script's Ctrl-C handling."""
    code = (
        "import signal, sys, engine\n"
        "print(sorted(m for m in sys.modules if m.startswith('engine')))\n"
        "from engine import fit, load_config, load_model, record, RunFinished\n"
        "import engine.cli.main\n"
        "print(sys.excepthook is sys.__excepthook__,"
        " signal.getsignal(signal.SIGINT) is signal.default_int_handler,"
        " signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)\n"
        "print(fit is engine.training.run.fit, engine.RunFinished.__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.splitlines()
    assert out == ["['engine']", "True True True", "True RunFinished"]
