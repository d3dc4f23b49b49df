"""The dashboard as a client of runs, measured: training speed with the dashboard attached vs
headless, ``s`` to the first epoch on a warm dashboard, key-to-screen latency during a run, and
``q`` to process exit.

Run: ``.venv/bin/python benchmarks/bench_dashboard.py [--presets default,huber-outliers,adam-fast]``

Throughput: the same preset (train.device=cpu) trained by ``linreg-tui train`` (headless) and
from the dashboard (Textual's headless driver, keys by Pilot, the run in its trainer process),
each writing its run directory; epochs/s from each run's RunFinished (epochs_run / elapsed_s).
Goal: attached / headless >= 0.9. ``s`` to first epoch: from the start action to the first
epoch in the run history, with the spare trainer warm (goal <= 0.5 s). Keys: a real
``linreg-tui`` in tmux during a 100,000-epoch run; ``l`` (goal p95 <= 50 ms), and opening and
closing the help screen, each timed from ``send-keys`` until ``capture-pane`` shows the change
(each poll costs a tmux call, printed). ``q``: a real ``linreg-tui`` in tmux, from sending ``q`` to the process ended
(zombie or gone: tmux reaps a pane's process up to a second later; goal <= 0.5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.events import RunFinished  # noqa: E402
from engine.store import list_runs, read_events  # noqa: E402

CPU = ["train.device=cpu"]


def _speed(run_dir: Path) -> float:
    events, _ = read_events(run_dir)
    fin = next(e for e in events if isinstance(e, RunFinished))
    return fin.epochs_run / fin.elapsed_s


def headless(preset: str, runs: Path) -> float:
    env = {**os.environ, "LINREG_TUI_RUNS_DIR": str(runs)}
    subprocess.run([sys.executable, "-m", "engine", "train", preset, "--set", *CPU],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    return _speed(list_runs(runs)[0].path)


async def attached(preset: str, runs: Path) -> tuple[float, float]:
    """(epochs/s of a run started in the dashboard, seconds from start to its first epoch)."""
    from tui.app import make_app

    app = make_app(preset, CPU, runs_root=runs, warm_trainer=True)
    async with app.run_test(size=(80, 24)) as pilot:
        deadline = time.monotonic() + 60
        while (app.warm is None or not app.warm.ready()) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        t0 = time.perf_counter()
        app.action_start()
        while not app.history.epochs:
            await asyncio.sleep(0.005)
        first = time.perf_counter() - t0
        while app.history.finished is None:
            await asyncio.sleep(0.05)
        run_dir = app.follower.run_dir if app.follower else list_runs(runs)[0].path
    return _speed(run_dir), first


POLL_S = 0.005


class Terminal:
    """A private tmux server (own socket) running one ``linreg-tui`` at 80x24."""

    def __init__(self, args: list[str], runs: Path) -> None:
        self.tmux = shutil.which("tmux")
        self.socket = f"bench-{os.getpid()}-{time.monotonic_ns()}"
        self.env = {**os.environ, "TERM": "xterm-256color", "LINREG_TUI_RUNS_DIR": str(runs)}
        script = Path(sys.executable).with_name("linreg-tui")
        self("new-session", "-d", "-s", "b", "-x", "80", "-y", "24",
             " ".join(["exec", str(script), *args]))
        self.pid = int(self("display-message", "-p", "-t", "b", "#{pane_pid}").strip())

    def __call__(self, *args: str) -> str:
        return subprocess.run([self.tmux, "-L", self.socket, *args], capture_output=True,
                              text=True, env=self.env).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "b")

    def wait_for(self, cond, timeout: float = 30.0) -> float:  # noqa: ANN001
        """Seconds until ``cond(screen)`` holds (polling as fast as tmux answers)."""
        t0 = time.perf_counter()
        while not cond(self.screen()):
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(self.screen())
            time.sleep(POLL_S)  # polling flat out would take a core from the app it measures
        return time.perf_counter() - t0

    def exited(self) -> bool:
        """The process has ended (a zombie counts: tmux reaps its panes up to a second later)."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                return any(line.startswith("State:\tZ") for line in f)
        except FileNotFoundError:
            return True

    def close(self) -> None:
        self("kill-server")


def quit_time(runs: Path, settle: float = 8.0) -> float | None:
    """From sending ``q`` to an idle dashboard to its process ended."""
    term = Terminal(["default"], runs)
    try:
        term.wait_for(lambda s: "Settings" in s)
        time.sleep(settle)  # a dashboard in use: its spare trainer and device probe are done
        t0 = time.perf_counter()
        term("send-keys", "-t", "b", "q")
        while not term.exited():
            if time.perf_counter() - t0 > 10:
                return None
            time.sleep(0.002)
        return time.perf_counter() - t0
    finally:
        term.close()


def _pin(pid: int, cpu: int) -> None:
    """Every thread of ``pid`` onto one CPU."""
    for task in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(task), {cpu})


def key_latencies(runs: Path, presses: int = 30, *, pinned: bool = False
                  ) -> dict[str, list[float]]:
    """Key to screen during a run, each from ``send-keys`` until ``capture-pane`` shows it:
    ``l`` (log-y: its note in the top bar and the plot redrawn), ``?`` (the help screen opens),
    ``?`` again (it closes), and Esc closing it (Esc alone waits Textual's ESCDELAY, 100 ms by
    default, to tell it from the start of an escape sequence). ``pinned``: the trainer on one
    core and the dashboard on the other, as on a server with more cores than this."""
    from tui.screens import KEYS_HELP

    marker = KEYS_HELP[0][1]
    long_run = ["default", "--set", "train.epochs=100000", "--set", "train.device=cpu",
                "--set", "early_stopping.enabled=false"]
    term = Terminal(long_run, runs)
    out: dict[str, list[float]] = {"l (log-y)": [], "? opens help": [], "? closes help": [],
                                   "Esc closes help": []}

    def press(key: str, what: str, shown) -> None:  # noqa: ANN001
        term("send-keys", "-t", "b", key)
        out[what].append(term.wait_for(shown, 5))
        time.sleep(0.05)

    try:
        term.wait_for(lambda s: "Settings" in s)
        time.sleep(3)
        term("send-keys", "-t", "b", "s")
        term.wait_for(lambda s: "epoch" in s and "running" in s)
        if pinned:
            _pin(term.pid, 0)
            _pin(list_runs(runs)[0].status["pid"], 1)
        time.sleep(1)
        for i in range(presses):
            press("l", "l (log-y)", lambda s: f"log-y {'off' if i % 2 else 'on'}" in s)
        for i in range(presses // 2):
            press("?", "? opens help", lambda s: marker in s)
            closing = "Escape" if i % 3 == 2 else "?"
            press(closing, "Esc closes help" if closing == "Escape" else "? closes help",
                  lambda s: marker not in s)
        term("send-keys", "-t", "b", "x")
        term.wait_for(lambda s: "stopped by you" in s, 10)
        return out
    finally:
        term.close()


def _poll_cost(n: int = 20) -> float:
    """What one ``tmux capture-pane`` costs here (the resolution of the latency figures)."""
    tmux = shutil.which("tmux")
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run([tmux, "-L", f"bench-{os.getpid()}-none", "list-sessions"],
                       capture_output=True)
    return (time.perf_counter() - t0) / n


def p95(values: list[float]) -> float:
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, round(0.95 * (len(ranked) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", default="default,huber-outliers,adam-fast",
                        help="presets for the throughput rows ('' for none)")
    args = parser.parse_args()
    print(f"{'preset':<16}{'headless ep/s':>15}{'dashboard ep/s':>16}{'ratio':>8}"
          f"{'s→1st epoch':>13}")
    for preset in filter(None, args.presets.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            h = headless(preset, Path(tmp) / "h")
            a, first = asyncio.run(attached(preset, Path(tmp) / "a"))
        print(f"{preset:<16}{h:>15,.1f}{a:>16,.1f}{a / h:>8.2f}{first:>12.3f}s", flush=True)
    if shutil.which("tmux") is None or not Path(sys.executable).with_name("linreg-tui").exists():
        print("tmux or the linreg-tui script missing: key latency and quit not measured")
        return
    with tempfile.TemporaryDirectory() as tmp:
        poll = _poll_cost()
        print(f"key → screen during a run (tmux, polled every {POLL_S * 1e3:.0f} ms; one poll "
              f"costs ~{poll * 1e3:.0f} ms):")
        for pinned in (False, True):
            print("  trainer and dashboard pinned to a core each" if pinned else
                  f"  trainer and dashboard sharing the machine's {os.cpu_count()} cores")
            for what, times in key_latencies(Path(tmp) / f"k{pinned}", pinned=pinned).items():
                print(f"    {what:<16} {len(times):>3} presses  median "
                      f"{sorted(times)[len(times) // 2] * 1e3:5.0f} ms  "
                      f"p95 {p95(times) * 1e3:5.0f} ms  max {max(times) * 1e3:5.0f} ms")
        q = quit_time(Path(tmp) / "q")
    print(f"q → process exit, no run (tmux): {'n/a' if q is None else f'{q:.3f} s'}")


if __name__ == "__main__":
    main()
