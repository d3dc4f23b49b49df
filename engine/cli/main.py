"""The headless command line: ``linreg-tui train | resume | runs | predict | cv | ...``.

Each command lives in its own module (``cli_train``, ``cli_runs``, ``cli_cv``,
``cli_check_loss``); this one parses arguments and maps outcomes to exit codes: 0 completed or
early-stopped, 1 diverged or failed, 2 bad input (one line on stderr naming the file or field,
never a traceback), 128 + N when signal N stopped the run (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP:
the run stops cleanly and still reports). The dashboard (``linreg-tui [PRESET]``) is launched by ``tui.cli``, which
hands its launcher in here, so the engine never imports the TUI.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from engine.cli import check_loss as cli_check_loss
from engine.cli import cv as cli_cv
from engine.cli import runs as cli_runs
from engine.cli import sweep as cli_sweep
from engine.cli import train as cli_train
from engine.config import ConfigError
from engine.config.presets import DEFAULT_PRESET, list_presets, load_config
from engine.core.signals import Interrupted

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

LaunchApp = Callable[[str, list[str]], int]


class UsageError(Exception):
    """Bad command-line usage (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with one line, no usage dump
        raise UsageError(f"{self.prog}: {message}")


def add_preset_args(p: argparse.ArgumentParser) -> None:
    """``PRESET`` and ``--set K=V`` (train, cv and the dashboard)."""
    p.add_argument("preset", nargs="?", default=DEFAULT_PRESET,
                   help="bundled or user preset name, or a path to a .yaml file "
                        f"(default: {DEFAULT_PRESET})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V",
                   help="override a preset key, e.g. --set optim.lr=0.01 (repeatable)")


# ---------------------------------------------------------------------------------------------
# presets


def cmd_presets(args: argparse.Namespace) -> int:
    """Bundled presets, then the user's, each group by name (``ridge`` before ``ridge-custom``)."""
    from engine.config.presets import user_dir

    infos = sorted(list_presets(), key=lambda p: (not p.bundled, p.name.split("-")))
    width = max(len(p.name) for p in infos)
    for bundled, heading in ((True, "bundled (read-only):"),
                             (False, f"yours, in {user_dir()}:")):
        group = [p for p in infos if p.bundled == bundled]
        if group:
            print(heading)
        for p in group:
            tag = "" if p.bundled else "  [user]"
            print(f"{p.name.ljust(width)}  {p.description}{tag}")
    return EXIT_OK


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], int]]] = {
    "train": ("train headless, printing progress (or JSON events) and a summary; keeps a run "
              "directory", cli_train.add_train, cli_train.cmd_train),
    "resume": ("continue a stopped, killed or finished run from its checkpoint",
               cli_train.add_resume, cli_train.cmd_resume),
    "runs": (cli_runs.HELP, cli_runs.add_arguments, cli_runs.run),
    "predict": (cli_runs.PREDICT_HELP, cli_runs.add_predict, cli_runs.cmd_predict),
    "presets": ("list the bundled and user presets", lambda p: None, cmd_presets),
    "cv": (cli_cv.HELP, cli_cv.add_arguments, cli_cv.run),
    "sweep": (cli_sweep.HELP, cli_sweep.add_arguments, cli_sweep.run),
    "check-loss": (cli_check_loss.HELP, cli_check_loss.add_arguments, cli_check_loss.run),
}
"""Subcommands: name -> (help, add_arguments, run)."""


def build_parser(with_app: bool = True) -> argparse.ArgumentParser:
    """The parser; ``with_app``: ``linreg-tui`` (the dashboard too) vs ``python -m engine``."""
    prog = "linreg-tui" if with_app else "python -m engine"
    app = "[PRESET] [--set K=V ...] | " if with_app else ""
    parser = _Parser(
        prog=prog, usage=f"{prog} [-h] {app}COMMAND ...",
        description="Train linear-regression models in PyTorch from the terminal."
                    + (" With no command, opens the dashboard on PRESET (default: default), "
                       "with --set overrides." if with_app else ""),
        epilog=f"'{prog} COMMAND -h' explains a command.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add, _) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, prog=f"{prog} {name}")
        p.error = _Parser.error.__get__(p)  # type: ignore[method-assign]
        add(p)
    return parser


def _leave_despite_stray_threads(code: int) -> int:
    """A user loss may start a non-daemon thread that would keep the process alive after the
    command is done: then flush and leave now with ``code``."""
    from engine.losses.user_code import stray_threads

    if stray_threads():
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
        os._exit(code)
    return code


def _say(line: str) -> None:
    """One line on stderr, if there still is one (never a second error about the first)."""
    if sys.stderr is not None:
        try:
            print(line, file=sys.stderr)
        except (OSError, ValueError):
            pass


def main(argv: Sequence[str] | None = None, launch_app: LaunchApp | None = None) -> int:
    """Entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(with_app=launch_app is not None)
        if argv and argv[0] in COMMANDS or any(a in ("-h", "--help") for a in argv[:1]):
            args = parser.parse_args(argv)
            return _leave_despite_stray_threads(COMMANDS[args.command][2](args))
        app_parser = _Parser(prog="linreg-tui", description="Open the dashboard on PRESET.")
        add_preset_args(app_parser)
        args = app_parser.parse_args(argv)
        if launch_app is None:
            raise UsageError("linreg-tui: the dashboard is not available here; "
                             "use 'linreg-tui train'")
        load_config(args.preset, args.overrides)  # bad input fails here, before the screen
        return launch_app(args.preset, args.overrides)
    except (ConfigError, UsageError) as exc:
        _say(f"error: {exc}" if isinstance(exc, ConfigError) else str(exc))
        return EXIT_BAD_INPUT
    except Interrupted as exc:  # a second signal: leave at once
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        _say(f"error: {type(exc).__name__}: {exc}")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
