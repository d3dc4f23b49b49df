"""The headless command line: ``linreg-tui train | resume | runs | predict | cv | ...``.

Each command lives in its own module with ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``, listed in :data:`COMMANDS`; this one only builds the parser and dispatches.
Exit codes (:mod:`engine.cli.common`): 0 completed or early-stopped, 1 diverged or failed, 2 bad
input (one line on stderr naming the file or field, never a traceback), 128 + N when signal N
stopped the run (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP: the run stops cleanly and still reports).
``--version`` prints the installed package's version; a mistyped command is one line with the
closest command (``unknown command 'trian' (did you mean 'train'?)``, exit 2), unless a preset
or file has that name. The dashboard (``linreg-tui [PRESET]``, ``linreg-tui watch RUN``) is
opened by ``tui.cli``, which hands its openers in here, so the engine never imports the TUI; it
also hands in the names and one-line helps of the commands it runs itself (``serve``), which
``-h`` lists and did-you-mean offers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType

from engine.cli import (
    check_loss,
    cv,
    inspect,
    path,
    predict,
    presets,
    resume,
    runs,
    sweep,
    train,
    watch,
)
from engine.cli.common import (
    LaunchApp,
    Parser,
    UsageError,
    WatchApp,
    add_preset_args,
    guarded,
    leave_on_signals,
)

COMMANDS: dict[str, ModuleType] = {
    "train": train,
    "resume": resume,
    "runs": runs,
    "predict": predict,
    "watch": watch,
    "presets": presets,
    "cv": cv,
    "sweep": sweep,
    "check-loss": check_loss,
    "path": path,
    "inspect": inspect,
}
"""Subcommands: name -> module with ``HELP``, ``add_arguments`` and ``run``."""

AppCommands = Mapping[str, str]
"""Commands the dashboard's command line runs itself (``linreg-tui serve``): name -> its
one-line help. ``tui.cli`` hands them in, as it does its openers, so ``-h`` lists them and a
mistyped one gets a did-you-mean while the engine imports nothing of the TUI."""


def build_parser(
    with_app: bool = True,
    watch_app: WatchApp | None = None,
    app_commands: AppCommands | None = None,
) -> argparse.ArgumentParser:
    """The parser; ``with_app``: ``linreg-tui`` (the dashboard too) vs ``python -m engine``.
    ``watch_app`` opens the dashboard on a run for ``watch``; ``app_commands`` are listed in
    ``-h`` only (their caller parses and runs them)."""
    prog = "linreg-tui" if with_app else "python -m engine"
    app = "[PRESET] [--set K=V ...] | " if with_app else ""
    parser = Parser(
        prog=prog,
        usage=f"{prog} [-h] {app}COMMAND ...",
        description="Train linear-regression models in PyTorch from the terminal."
        + (
            " With no command, opens the dashboard on PRESET (default: default), "
            "with --set overrides."
            if with_app
            else ""
        ),
        epilog=f"'{prog} COMMAND -h' explains a command.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"{prog} {version()}")
    parser.set_defaults(open_run=watch_app)  # read by watch (engine.cli.watch)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.HELP, description=command.HELP, prog=f"{prog} {name}")
        command.add_arguments(p)
    for name, help_line in (app_commands or {}).items():
        sub.add_parser(name, help=help_line, add_help=False)
    return parser


def _leave_despite_stray_threads(code: int) -> int:
    """A user loss may start a non-daemon thread that would keep the process alive after the
    command is done: then flush and leave now with ``code``."""
    from engine.losses.user_code import stray_threads

    if stray_threads():
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
        os._exit(code)
    return code


def version() -> str:
    """The installed package's version (its metadata), ``unknown`` when not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("linreg-tui")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _mistyped_command(
    word: str, with_app: bool, app_commands: AppCommands | None = None
) -> UsageError | None:
    """A one-line error for a word that is no command: with the dashboard, only when it is
    close to a command (its own ``app_commands`` too) and no preset or file has that name
    (``linreg-tui trian``, ``linreg-tui serv``)."""
    import difflib

    names = [*COMMANDS, *(app_commands or {})]
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.7)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    prog = "linreg-tui" if with_app else "python -m engine"
    if not with_app:
        return UsageError(f"{prog}: unknown command '{word[:80]}'{hint}; see '{prog} -h'")
    if not close or os.path.exists(word):
        return None
    from engine.config.presets import list_presets

    if word in {p.name for p in list_presets()}:
        return None
    return UsageError(f"{prog}: unknown command '{word[:80]}'{hint}; see '{prog} -h'")


def _dispatch(
    argv: list[str],
    launch_app: LaunchApp | None,
    watch_app: WatchApp | None,
    app_commands: AppCommands | None = None,
) -> int:
    if argv[:1] in (["--version"], ["-V"]):
        prog = "linreg-tui" if launch_app is not None else "python -m engine"
        print(f"{prog} {version()}")
        return 0
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        mistyped = _mistyped_command(argv[0], launch_app is not None, app_commands)
        if mistyped is not None:
            raise mistyped
    if (argv and argv[0] in COMMANDS) or any(a in ("-h", "--help") for a in argv[:1]):
        args = build_parser(launch_app is not None, watch_app, app_commands).parse_args(argv)
        with leave_on_signals(args.command != "watch"):  # the dashboard has its own
            code = COMMANDS[args.command].run(args)
        return _leave_despite_stray_threads(code)
    app_parser = Parser(prog="linreg-tui", description="Open the dashboard on PRESET.")
    add_preset_args(app_parser)
    args = app_parser.parse_args(argv)
    if launch_app is None:
        raise UsageError("linreg-tui: the dashboard is not available here; use 'linreg-tui train'")
    from engine.config.presets import load_config

    load_config(args.preset, args.overrides)  # bad input fails here, before the screen
    return launch_app(args.preset, args.overrides)


def main(
    argv: Sequence[str] | None = None,
    launch_app: LaunchApp | None = None,
    watch_app: WatchApp | None = None,
    app_commands: AppCommands | None = None,
) -> int:
    """Entry point; returns the exit code. ``launch_app`` and ``watch_app`` open the dashboard
    (on a preset, on a run): ``tui.cli`` passes them; without them there is no dashboard.
    ``app_commands``: the commands ``tui.cli`` runs itself, for ``-h`` and did-you-mean."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return guarded(lambda: _dispatch(argv, launch_app, watch_app, app_commands))


if __name__ == "__main__":
    sys.exit(main())
