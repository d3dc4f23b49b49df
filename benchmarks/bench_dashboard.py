"""The dashboard as a client of runs, measured: training speed with the dashboard attached vs
headless, ``s`` to the first epoch on a warm dashboard, and ``q`` to process exit.

Run: ``.venv/bin/python benchmarks/bench_dashboard.py [--presets default,huber-outliers,adam-fast]``

Throughput: the same preset (train.device=cpu) trained by ``linreg-tui train`` (headless) and
from the dashboard (Textual's headless driver, keys by Pilot, the run in its trainer process),
each writing its run directory; epochs/s from each run's RunFinished (epochs_run / elapsed_s).
Goal: attached / headless >= 0.9. ``s`` to first epoch: from the start action to the first
epoch in the run history, with the spare trainer warm (goal <= 0.5 s). ``q``: a real
``linreg-tui`` in tmux, from sending ``q`` to the process gone (goal <= 0.5 s).
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


def quit_time(settle: float = 8.0) -> float | None:
    tmux = shutil.which("tmux")
    script = Path(sys.executable).with_name("linreg-tui")
    if tmux is None or not script.exists():
        return None
    sock = f"bench-{os.getpid()}"
    env = {**os.environ, "TERM": "xterm-256color"}

    def t(*a: str) -> str:
        return subprocess.run([tmux, "-L", sock, *a], capture_output=True, text=True,
                              env=env).stdout

    try:
        t("new-session", "-d", "-s", "b", "-x", "80", "-y", "24", f"exec {script} default")
        pid = int(t("display-message", "-p", "-t", "b", "#{pane_pid}").strip())
        deadline = time.monotonic() + 30
        while "Settings" not in t("capture-pane", "-p", "-t", "b") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(settle)  # a dashboard in use: its spare trainer and device probe are done
        t0 = time.perf_counter()
        t("send-keys", "-t", "b", "q")
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return time.perf_counter() - t0
            if time.perf_counter() - t0 > 10:
                return None
            time.sleep(0.005)
    finally:
        t("kill-server")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", default="default,huber-outliers,adam-fast")
    args = parser.parse_args()
    print(f"{'preset':<16}{'headless ep/s':>15}{'dashboard ep/s':>16}{'ratio':>8}"
          f"{'s→1st epoch':>13}")
    for preset in args.presets.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            h = headless(preset, Path(tmp) / "h")
            a, first = asyncio.run(attached(preset, Path(tmp) / "a"))
        print(f"{preset:<16}{h:>15,.1f}{a:>16,.1f}{a / h:>8.2f}{first:>12.3f}s", flush=True)
    q = quit_time()
    print(f"q → process exit, no run (tmux): {'n/a' if q is None else f'{q:.3f} s'}")


if __name__ == "__main__":
    main()
