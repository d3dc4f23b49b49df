"""``linreg-tui``: the dashboard, ``linreg-tui watch RUN``, and every headless subcommand.

Textual and the app are imported only when the dashboard opens, so ``linreg-tui train`` stays
fast; argument parsing, preset validation and finding a run to watch are the engine's
(:mod:`engine.cli.main`). This module hands the engine its two ways to open the dashboard — on a
preset, and on a run directory, read-only — since the engine never imports the TUI.
"""

from __future__ import annotations

from engine.core.quiet_start import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the command line still imports is one line

import contextlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

from engine.cli.main import main as engine_main  # noqa: E402

_dashboard_ran = False
"""Set once the dashboard has run in this process: :func:`entry` may then leave at once."""


SERVE_HELP = "serve the dashboard to a web browser (textual-serve), behind a token"
"""``serve``'s line in ``linreg-tui -h``: :data:`tui.serve.HELP`, written out here because
importing that module (asyncio, sockets) would slow every command's start (a test compares)."""
APP_COMMANDS = {"serve": SERVE_HELP}
"""The commands run here rather than by the engine, handed to it for ``-h`` and did-you-mean."""

KEYS_FPS = "120"
"""Textual paints a frame at most ``TEXTUAL_FPS`` times a second (60 by default), so a key's
effect waits up to one period for its frame; 120 halves that wait. Frames are painted only when
something changed, so an idle or throttled dashboard paints no more often."""
SWITCH_INTERVAL_S = 0.001
"""How long a thread holds the GIL before another may take it (Python's default is 5 ms): the
plot's frames are built in a worker thread during a run, and the event loop's keys should not
wait 5 ms for it at each step of their way to the screen."""


def _tune_for_keys() -> None:
    """Before Textual is imported: the dashboard process's frame rate and GIL hand-over.

    Measured in one script run (``benchmarks/bench_dashboard.py``, key ``l`` during a run):
    p95 41 ms with Textual's and Python's defaults, 29 ms with both (the run paused: 12 ms).
    """
    os.environ.setdefault("TEXTUAL_FPS", KEYS_FPS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def _run_app(app) -> int:
    """Run the app; after it, say how to come back to a run left going in the background."""
    global _dashboard_ran
    _dashboard_ran = True
    app.run()
    if app.detached is not None:
        with contextlib.suppress(OSError, ValueError):  # the terminal is gone (a hangup)
            print(
                f"run {app.detached.name} goes on in the background; come back with: "
                f"linreg-tui watch {app.detached.name}"
            )
    return app.return_code or 0


def _launch(preset: str, overrides: list[str]) -> int:
    """Open the dashboard (the engine has already validated the preset and overrides).

    Returns the app's exit code: 0 after a normal quit, non-zero when the app crashed.
    """
    _tune_for_keys()
    from tui.app import make_app

    return _run_app(make_app(preset, overrides, warm_trainer=True))


def _watch(run: Path, root: Path) -> int:
    """Open the dashboard on ``run`` (the engine has found it and read its status)."""
    _tune_for_keys()
    from tui.app import make_app

    return _run_app(make_app(str(run / "config.yaml"), [], runs_root=root, watch=run))


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns (and exits with) the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:  # the dashboard in a browser: a server, not an engine command
        from tui import serve

        return serve.main(argv[1:])
    return engine_main(argv, launch_app=_launch, watch_app=_watch, app_commands=APP_COMMANDS)


def entry() -> None:
    """The console script: :func:`main`, and after a dashboard, a prompt exit.

    Once the app has restored the terminal and said its last line, nothing in this process is
    left to save (runs are written by their own trainer processes), yet tearing down the
    interpreter — thousands of Textual objects and modules — takes 0.5-1 s after ``q``. So the
    dashboard's exit flushes and ends the process there; headless commands exit normally.
    """
    code = main()
    if _dashboard_ran:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # the terminal is gone (a hangup)
                stream.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
