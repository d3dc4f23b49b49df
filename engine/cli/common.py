"""What every command shares: the parser that fails in one line, exit codes, stderr, arguments
used by several commands, a stdout that may vanish, aligned tables, and the dashboard's hooks.

A command module (``train``, ``runs``, ...) imports this and the packages below ``engine.cli``,
never another command or :mod:`engine.cli.main`, so commands stay independent and there is no
import circle between them.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from engine.config.presets import DEFAULT_PRESET
from engine.core.errors import ConfigError
from engine.core.signals import Interrupted, note_arrival, take_arrival

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
"""0 completed or early-stopped, 1 diverged or failed, 2 bad input, 130 Ctrl-C (128 + N when
signal N stopped a run)."""

LaunchApp = Callable[[str, list[str]], int]
"""Opens the dashboard on a preset with ``--set`` overrides; its exit code."""
WatchApp = Callable[[Path, Path], int]
"""Opens the dashboard on a run directory (and the runs folder it is in), read-only."""


class UsageError(Exception):
    """Bad command-line usage (exit 2)."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (exit 2 through :class:`UsageError`), not a
    usage dump and ``SystemExit``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if message.endswith("expected one argument"):
            # argparse reads a value that starts with "-" (a token, a negative number) as an option
            option = message.removeprefix("argument ").split(":")[0].split("/")[-1]
            message += f" (a value that starts with '-' is written {option}=VALUE)"
        raise UsageError(f"{self.prog}: {message}")


def say(line: str) -> None:
    """One line on stderr, if there still is one (never a second error about the first)."""
    if sys.stderr is not None:
        with contextlib.suppress(OSError, ValueError):
            print(line, file=sys.stderr)


def guarded(command: Callable[[], int]) -> int:
    """Run ``command`` and turn what it raises into an exit code and at most one stderr line:
    bad input 2, a second signal 128 + N, Ctrl-C 130, a closed pipe 0, anything else 1.
    A line is at most :data:`MAX_LINE` characters (:func:`fit_line`)."""
    try:
        return command()
    except (ConfigError, UsageError) as exc:
        say(fit_line(f"error: {exc}" if isinstance(exc, ConfigError) else str(exc)))
        return EXIT_BAD_INPUT
    except Interrupted as exc:  # a second signal (a run's), or SIGTERM outside a run: leave
        if isinstance(exc, Left):
            say(f"stopped by {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        say("stopped by Ctrl-C")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        say(fit_line(f"error: {type(exc).__name__}: {exc}"))
        return EXIT_FAILED


def positive(text: str) -> int:
    """An argument that must be a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text[:40]!r}")
    return value


MAX_LINE = 200
"""Longest one-line error the CLI prints: long user values (a path, a quoted value) are cut in
their middle (``…``) so the line keeps the key and the reason around them."""
KEEP = 24
"""A cut word keeps at least this many characters (its head and tail)."""


def fit_line(line: str, limit: int = MAX_LINE) -> str:
    """``line`` if it fits in ``limit`` characters; else its longest words (user values: paths,
    numbers, quoted text) cut in the middle, longest first, until it fits; failing that (many
    short words) the line's own middle is cut, keeping its start (the key) and end (the reason)."""
    if len(line) <= limit:
        return line
    words = line.split(" ")
    excess = len(line) - limit
    for i in sorted(range(len(words)), key=lambda j: -len(words[j])):
        word = words[i]
        if excess <= 0 or len(word) <= KEEP:
            break
        cut = min(excess + 1, len(word) - KEEP + 1)  # characters replaced by one "…"
        keep = len(word) - cut
        words[i] = f"{word[: keep - keep // 2]}…{word[len(word) - keep // 2 :]}"
        excess -= cut - 1
    out = " ".join(words)
    if len(out) <= limit:
        return out
    tail = limit // 3  # many short words: cut the middle, keeping more of the start (what
    # failed) than of the end (the advice)
    return f"{out[: limit - tail - 1]}…{out[-tail:]}"


class Left(Interrupted):
    """The first SIGTERM outside a run: leave, saying so in one line."""


@contextlib.contextmanager
def leave_on_signals(active: bool = True) -> Iterator[None]:
    """While a command runs: SIGTERM unwinds like Ctrl-C (:class:`Interrupted`, exit 143, temp
    files removed on the way) instead of killing the process where it stands. A run replaces
    this with its own clean stop (:class:`engine.core.signals.StopOnSignals`). Main thread
    only (``signal`` allows no other).

    A signal that lands inside an import is only noted (an exception there may be swallowed by
    C code, or abort it: :func:`engine.core.signals.note_arrival`): the run that starts next
    stops at once, and a command that ends or fails without the exception leaves here as if
    it had arrived.
    """
    if not active or threading.current_thread() is not threading.main_thread():
        yield
        return

    def leave(signum: int, frame: FrameType | None) -> None:
        if note_arrival(signum, frame):
            raise Left(signum)

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if note_arrival(signum, frame):
            raise KeyboardInterrupt

    take_arrival()  # one noted by an earlier command in this process is not this one's
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, leave),
        signal.SIGINT: signal.signal(signal.SIGINT, interrupt),
    }
    try:
        yield
        _leave_if_swallowed()
    except KeyboardInterrupt:
        raise
    except BaseException:
        _leave_if_swallowed()
        raise
    finally:
        take_arrival()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _leave_if_swallowed() -> None:
    """Raise what the handler of a signal noted but never delivered raised."""
    swallowed = take_arrival()
    if swallowed == signal.SIGINT:
        raise KeyboardInterrupt from None
    if swallowed is not None:
        raise Left(swallowed) from None


def add_preset_args(p: argparse.ArgumentParser) -> None:
    """``PRESET`` and ``--set K=V`` (train, cv, sweep and the dashboard)."""
    p.add_argument(
        "preset",
        nargs="?",
        default=DEFAULT_PRESET,
        help=f"bundled or user preset name, or a path to a .yaml file (default: {DEFAULT_PRESET})",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="K=V",
        help="override a preset key, e.g. --set optim.lr=0.01 (repeatable)",
    )


def add_runs_dir_arg(p: argparse.ArgumentParser) -> None:
    """``--runs-dir DIR`` (shared by every command that reads or writes runs)."""
    p.add_argument(
        "--runs-dir",
        metavar="DIR",
        default=None,
        help="where runs are kept (default $LINREG_TUI_RUNS_DIR, else "
        "$XDG_STATE_HOME/linreg-tui/runs, i.e. ~/.local/state/linreg-tui/runs)",
    )


def add_run_arg(p: argparse.ArgumentParser) -> None:
    """``RUN``: one run, by id, unique prefix, path or ``latest``."""
    p.add_argument("run", metavar="RUN", help="run id, unique prefix, path or latest")


class QuietWhenGone:
    """A text stream that stops writing, silently, once the terminal behind it is gone
    (closed stdout, a broken pipe, EIO after an SSH hangup) instead of failing the run."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self.gone = stream is None

    def write(self, text: str) -> None:
        if self.gone:
            return
        try:
            self._stream.write(text)  # type: ignore[union-attr]
            self._stream.flush()  # type: ignore[union-attr]
        except (OSError, ValueError):  # ValueError: I/O operation on closed file
            self.gone = True


def table(rows: Sequence[Sequence[str]], left: Collection[int] = (0,)) -> list[str]:
    """``rows`` (the first one the header) as aligned lines, two spaces between columns:
    the columns in ``left`` (negative counts from the end) flush left, the others right."""
    n = len(rows[0])
    flush_left = {i % n for i in left}
    widths = [max(len(r[i]) for r in rows) for i in range(n)]
    return [
        "  ".join(
            c.ljust(w) if i in flush_left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
        ).rstrip()
        for r in rows
    ]
