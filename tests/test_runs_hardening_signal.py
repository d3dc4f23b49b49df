"""A clean stop in ``train``'s first seconds leaves no empty run folder (issue 20 audit): the run
folder is made before torch has loaded and before ``config.yaml`` is written, and a SIGTERM or
Ctrl-C then once left it behind, empty. Real processes, real signals: the test waits until the
run folder exists and is still empty, signals, and checks the folder is gone and the exit code
is 128 + the signal, as for any signalled command."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.runs_helpers import LONG, start


def _signal_while_empty(runs: Path, signum: int) -> tuple[subprocess.Popen, bool]:
    """Start ``train``, signal it as soon as its run folder exists; whether the folder was still
    empty when the signal went (a loaded machine may have let it write its config first)."""
    proc = start(runs, "train", *LONG, fresh=True)  # its start-up is the subject
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [p for p in runs.iterdir() if p.is_dir()] if runs.exists() else []
        if found:
            empty = not any(found[0].iterdir())
            proc.send_signal(signum)
            return proc, empty
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.002)
    proc.kill()
    raise AssertionError(f"no run folder appeared in {runs}: {proc.communicate()}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_before_the_run_wrote_anything_leaves_no_folder(
    tmp_path: Path, signum: int
) -> None:
    for attempt in range(5):
        runs = tmp_path / f"runs{attempt}"
        proc, empty = _signal_while_empty(runs, signum)
        _, err = proc.communicate(timeout=120)
        if empty:
            break
        proc.wait()
    else:
        pytest.fail("the run wrote its config before every signal: no early signal was tested")
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err, err
    assert [p.name for p in runs.iterdir()] == [], err
