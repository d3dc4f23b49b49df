"""The dashboard as a client of runs, measured: training speed with the dashboard attached vs
headless, ``s`` to the first epoch on a warm dashboard, key-to-screen latency during a run, and
``q`` to process exit.

Run: ``.venv/bin/python benchmarks/bench_dashboard.py [--presets default,huber-outliers,adam-fast]``

Throughput: the same preset (train.device=cpu) trained by ``linreg-tui train`` (headless) and
from the dashboard (Textual's headless driver, keys by Pilot, the run in its trainer process),
each writing its run directory; epochs/s from each run's RunFinished (epochs_run / elapsed_s),
the median of ``--repeats`` pairs taking turns. Goal: attached / headless >= 0.9. ``s`` to
first epoch: from the start action to the first epoch in the run history, with the spare
trainer warm (goal <= 0.5 s). Keys: a real
``linreg-tui`` on a pseudo-terminal (``benchmarks/pty_dashboard.py``) during a 100,000-epoch
run, each key timed from writing it to the terminal until its text arrives in the output (goal
for ``l``: p95 <= 50 ms); side by side, in rounds taking turns: the dashboard as shipped, with
Textual's and Python's defaults (60 frames/s, 5 ms GIL switch interval), and with the run
paused (no trainer load: the floor). ``q``: from writing ``q`` to an idle dashboard to its
process ended (goal <= 0.5 s).

Long runs: ``linreg-tui watch`` of a finished run of 100, 100,000 and 1,000,000 epochs, from
starting the process on a pseudo-terminal until its top bar says "finished" (the run's end is on
screen), and attach (what ``a`` and an opened run do: follow the run directory, in process, from
the call until the history holds the run's end and the screen is drawn), each the median of
``--long-repeats``, with its ratio to the 100-epoch run (goal: 100,000 epochs <= 2x). The runs
are written by ``tests/long_run.py``: the engine's own ``RunWriter`` fed closed-form epochs at
full speed (no training), so each directory is what a trainer writes (thinned
``events.jsonl``, ``curve.bin``, status, model file); a 1M-epoch run takes a few minutes to
write. ``--long-only`` runs just this part.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pty_dashboard import PtyDashboard  # noqa: E402
from engine.core.events import RunFinished  # noqa: E402
from engine.runs.store import list_runs, read_events  # noqa: E402

CPU = ["train.device=cpu"]


def _speed(run_dir: Path) -> float:
    events, _ = read_events(run_dir)
    fin = next(e for e in events if isinstance(e, RunFinished))
    return fin.epochs_run / fin.elapsed_s


def headless(preset: str, runs: Path) -> float:
    env = {**os.environ, "LINREG_TUI_RUNS_DIR": str(runs)}
    subprocess.run(
        [sys.executable, "-m", "engine", "train", preset, "--set", *CPU],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return _speed(list_runs(runs)[0].path)


async def attached(preset: str, runs: Path) -> tuple[float, float]:
    """(epochs/s of a run started in the dashboard, seconds from start to its first epoch)."""
    from tui.app import make_app

    app = make_app(preset, CPU, runs_root=runs, warm_trainer=True)
    session = app.session
    async with app.run_test(size=(80, 24)) as pilot:
        deadline = time.monotonic() + 60
        while (session.warm is None or not session.warm.ready()) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        t0 = time.perf_counter()
        app.action_start()
        while not session.history.epochs:
            await asyncio.sleep(0.005)
        first = time.perf_counter() - t0
        while session.history.finished is None:
            await asyncio.sleep(0.05)
        run_dir = session.follower.run_dir if session.follower else list_runs(runs)[0].path
    return _speed(run_dir), first


LONG_RUN = [
    "default",
    "--set",
    "train.epochs=100000",
    "--set",
    "train.device=cpu",
    "--set",
    "early_stopping.enabled=false",
]
DEFAULTS = "import tui.cli; tui.cli.KEYS_FPS = '60'; tui.cli.SWITCH_INTERVAL_S = 0.005"
"""Textual's frame rate and Python's GIL hand-over as they are without the dashboard's tuning."""
KEY_CONFIGS = {
    "as shipped": {},
    "Textual/Python defaults": {"prelude": DEFAULTS},
    "as shipped, run paused": {"paused": True},
}


def key_round(
    runs: Path, presses: int, *, prelude: str = "", paused: bool = False
) -> dict[str, list[float]]:
    """One dashboard during a 100,000-epoch run: ``l`` (log-y: its note in the top bar) pressed
    ``presses`` times, then the help screen opened and closed with ``?`` a few times."""
    from tui.screens import KEYS_HELP

    term = PtyDashboard(LONG_RUN, runs, prelude=prelude)
    out: dict[str, list[float]] = {"l (log-y)": [], "? opens help": [], "? closes help": []}
    try:
        term.wait_for(b"Settings")
        time.sleep(3)  # the spare trainer is up
        since = term.mark()
        term.press(b"s")
        term.wait_for(b"running", since)
        if paused:
            since = term.mark()
            term.press(b"p")
            term.wait_for(b"paused", since)
        time.sleep(1)
        for i in range(presses):
            out["l (log-y)"].append(term.key_latency(b"l", b"log-y off" if i % 2 else b"log-y on"))
            time.sleep(0.05)
        for _ in range(3):
            out["? opens help"].append(term.key_latency(b"?", KEYS_HELP[0][1].encode()))
            time.sleep(0.05)
            out["? closes help"].append(term.key_latency(b"?", b"Settings"))
            time.sleep(0.05)
        since = term.mark()
        term.press(b"x")  # a run outlives its dashboard: stop it, or it trains on in the next round
        term.wait_for(b"stopped by you", since, timeout=10)
        return out
    finally:
        term.close()
        for run in list_runs(runs):  # a round that failed leaves no trainer behind
            if run.state == "running":
                with contextlib.suppress(OSError, TypeError, KeyError):
                    os.kill(run.status["pid"], signal.SIGKILL)


def key_latencies(runs: Path, rounds: int, presses: int) -> dict[str, dict[str, list[float]]]:
    """Each configuration's key times, in rounds that take turns (the machine's load drifts)."""
    times: dict[str, dict[str, list[float]]] = {name: {} for name in KEY_CONFIGS}
    for r in range(rounds):
        for name, how in KEY_CONFIGS.items():
            got = key_round(runs / f"{r}-{len(times[name])}-{name[:4]}", presses, **how)
            for what, values in got.items():
                times[name].setdefault(what, []).extend(values)
    return times


def quit_time(runs: Path, settle: float = 8.0) -> float | None:
    """From writing ``q`` to an idle dashboard to its process ended."""
    term = PtyDashboard(["default"], runs)
    try:
        term.wait_for(b"Settings")
        time.sleep(settle)  # a dashboard in use: its spare trainer and device probe are done
        t0 = term.press(b"q")
        try:
            term.proc.wait(10)
        except subprocess.TimeoutExpired:
            return None
        return time.perf_counter() - t0
    finally:
        term.close()


LONG_RUNS = (100, 100_000, 1_000_000)


def watch_time(run: Path) -> float:
    """From starting ``linreg-tui watch RUN`` on a pseudo-terminal to "finished" on screen."""
    t0 = time.perf_counter()
    term = PtyDashboard(["watch", str(run)], run.parent)
    try:
        return term.wait_for(b"finished", timeout=120) - t0
    finally:
        term.close()


async def attach_time(run: Path) -> float:
    """From following ``run`` (as ``a`` does) until its end is in the history and drawn."""
    from tui.app import make_app

    app = make_app("default", runs_root=run.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)  # the first frame and the device probe are done
        t0 = time.perf_counter()
        app.session.follow_run(run, attach=True)
        app._follow()
        while app.session.history.finished is None:
            await asyncio.sleep(0.005)
        await app.painter.redraw_now()
        return time.perf_counter() - t0


def long_runs(repeats: int, sizes: tuple[int, ...] = LONG_RUNS) -> None:
    """The watch and attach rows, each size beside the 100-epoch run."""
    from tests.long_run import write_long_run

    with tempfile.TemporaryDirectory() as tmp:
        print(
            f"{'epochs':>10}{'log MB':>9}{'write s':>9}{'watch s':>9}{'ratio':>7}"
            f"{'attach s':>10}{'ratio':>7}",
            flush=True,
        )
        base: tuple[float, float] | None = None
        warm = write_long_run(Path(tmp) / "warm-up", 10)
        watch_time(warm)  # not counted: the first start reads every module from disk
        asyncio.run(attach_time(warm))
        for n in sizes:
            t0 = time.perf_counter()
            run = write_long_run(Path(tmp) / str(n), n)
            wrote = time.perf_counter() - t0
            watches, attaches = [], []
            for _ in range(repeats):  # taking turns: the machine's load drifts
                watches.append(watch_time(run))
                attaches.append(asyncio.run(attach_time(run)))
            w, a = median(watches), median(attaches)
            base = base or (w, a)
            size = (run / "events.jsonl").stat().st_size / 1e6
            print(
                f"{n:>10,}{size:>9.1f}{wrote:>9.1f}{w:>9.3f}{w / base[0]:>7.2f}"
                f"{a:>10.3f}{a / base[1]:>7.2f}",
                flush=True,
            )


def p95(values: list[float]) -> float:
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, round(0.95 * (len(ranked) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--presets",
        default="default,huber-outliers,adam-fast",
        help="presets for the throughput rows ('' for none)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="headless/dashboard pairs per preset, medians shown (default 3)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="dashboards per key configuration, taking turns (default 4)",
    )
    parser.add_argument("--presses", type=int, default=40, help="l presses per dashboard")
    parser.add_argument(
        "--long-repeats", type=int, default=3, help="watch/attach times per long run (median)"
    )
    parser.add_argument(
        "--long-sizes",
        default=",".join(map(str, LONG_RUNS)),
        help="epochs of the finished runs watched and attached (the first is the baseline)",
    )
    parser.add_argument("--long-only", action="store_true", help="only the long-run rows")
    args = parser.parse_args()
    sizes = tuple(int(n) for n in args.long_sizes.split(","))
    if args.long_only:
        long_runs(args.long_repeats, sizes)
        return
    print(
        f"{'preset':<16}{'headless ep/s':>15}{'dashboard ep/s':>16}{'ratio':>8}{'s→1st epoch':>13}"
    )
    for preset in filter(None, args.presets.split(",")):
        hs, atts, firsts = [], [], []
        for _ in range(args.repeats):  # taking turns: the machine's load drifts
            with tempfile.TemporaryDirectory() as tmp:
                hs.append(headless(preset, Path(tmp) / "h"))
                a, first = asyncio.run(attached(preset, Path(tmp) / "a"))
                atts.append(a)
                firsts.append(first)
        h, a, first = median(hs), median(atts), median(firsts)
        print(
            f"{preset:<16}{h:>15,.1f}{a:>16,.1f}{a / h:>8.2f}{first:>12.3f}s   "
            f"(ratios of the {args.repeats} pairs: "
            f"{', '.join(f'{x / y:.2f}' for x, y in zip(atts, hs))})",
            flush=True,
        )
    long_runs(args.long_repeats, sizes)
    if args.rounds < 1:
        return
    with tempfile.TemporaryDirectory() as tmp:
        times = key_latencies(Path(tmp), args.rounds, args.presses)
        print(
            f"key → its text in the terminal's output during a run (pseudo-terminal 80x24, "
            f"{args.rounds} rounds taking turns, {os.cpu_count()} cores):"
        )
        for name, whats in times.items():
            print(f"  {name}")
            for what, values in whats.items():
                print(
                    f"    {what:<14} {len(values):>4} presses  median "
                    f"{sorted(values)[len(values) // 2] * 1e3:5.1f} ms  "
                    f"p95 {p95(values) * 1e3:5.1f} ms  max {max(values) * 1e3:5.1f} ms"
                )
        shipped = p95(times["as shipped"]["l (log-y)"])
        default = p95(times["Textual/Python defaults"]["l (log-y)"])
        print(f"  l p95, defaults / as shipped: {default / shipped:.2f}")
        q = quit_time(Path(tmp) / "q")
    print(f"q → process exit, no run: {'n/a' if q is None else f'{q:.3f} s'}")


if __name__ == "__main__":
    main()
