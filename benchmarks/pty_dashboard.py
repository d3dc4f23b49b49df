"""A real ``linreg-tui`` on a pseudo-terminal (80x24) for the dashboard benchmark: keys are
written to the terminal, and a key's effect is seen the moment its text arrives in the output
stream (no screen polling, so the figures resolve to well under a millisecond).
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class PtyDashboard:
    """``linreg-tui ARGS`` on its own pseudo-terminal; ``env`` adds to the environment,
    ``prelude`` is Python run before the console script's entry (to change a setting)."""

    def __init__(
        self, args: list[str], runs: Path, *, env: dict[str, str] | None = None, prelude: str = ""
    ) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        code = (
            f"import sys; sys.argv[0] = 'linreg-tui'\n{prelude}\nfrom tui.cli import entry\nentry()"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            cwd=ROOT,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            env={
                **os.environ,
                "TERM": "xterm-256color",
                "LINREG_TUI_RUNS_DIR": str(runs),
                "XDG_CONFIG_HOME": str(runs / "config"),
                **(env or {}),
            },
        )
        os.close(slave)
        self.master = master
        self.out = bytearray()
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the process ended and closed the terminal
                data = b""
            with self._changed:
                self.out.extend(data)
                self._changed.notify_all()
            if not data:
                return

    def mark(self) -> int:
        """Where the output stands now (wait_for looks only after it)."""
        with self._changed:
            return len(self.out)

    def press(self, key: bytes) -> float:
        """Write ``key``; returns the time it was written."""
        t = time.perf_counter()
        os.write(self.master, key)
        return t

    def wait_for(self, text: bytes, since: int = 0, timeout: float = 30.0) -> float:
        """The time ``text`` has arrived in the output after offset ``since``."""
        deadline = time.perf_counter() + timeout
        with self._changed:
            while self.out.find(text, since) < 0:
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise TimeoutError(f"{text!r} never appeared")
                self._changed.wait(left)
        return time.perf_counter()

    def key_latency(self, key: bytes, shown: bytes, timeout: float = 5.0) -> float:
        """Seconds from writing ``key`` until ``shown`` arrives in the output."""
        since = self.mark()
        t = self.press(key)
        return self.wait_for(shown, since, timeout) - t

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
