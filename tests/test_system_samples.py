"""The trainer's resource samples (SystemSampled): a real trainer process, its log read back,
its numbers checked against what /proc says of the same process."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from engine.cli.trainer_process import start_trainer
from engine.config.presets import load_config
from engine.core.events import EpochEnded, SystemSampled
from engine.core.system import SystemSampler, fmt_bytes, system_line
from engine.runs.log import RunLog, event_from_dict
from engine.runs.store import read_events
from tests.tui.conftest import LONG, wait_for


def _proc(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` field (kB fields in bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            value = line.split()[1:]
            return int(value[0]) * (1024 if value[1:] == ["kB"] else 1)
    raise KeyError(field)


def test_a_trainer_logs_its_cpu_and_memory_about_once_a_second(tmp_path: Path) -> None:
    trainer = start_trainer(load_config("default", LONG), tmp_path)
    try:

        def samples() -> list[SystemSampled]:
            events, _ = read_events(trainer.run_dir)
            return [e for e in events if isinstance(e, SystemSampled)]

        wait_for(lambda: len(samples()) >= 3, timeout=60, what="three samples")
        rss_now, threads_now = _proc(trainer.pid, "VmRSS"), _proc(trainer.pid, "Threads")
        got = samples()
        _, last = RunLog(trainer.run_dir).ends()
        assert isinstance(last, EpochEnded)  # a sample goes before its epoch, never last
    finally:
        trainer.stop()
        wait_for(lambda: not trainer.alive(), timeout=30, what="the trainer to end")
    latest = got[-1]
    # the same process, a moment apart: its resident memory is steady while it trains
    assert 0.7 * rss_now <= latest.rss_bytes <= 1.3 * rss_now
    assert abs(latest.threads - threads_now) <= 2
    # a process busy training uses CPU, at most every core at once
    for s in got:
        assert 5.0 <= s.cpu_percent <= 100.0 * (os.cpu_count() or 1) + 5.0, s
        assert s.gpu_util_percent is None and s.gpu_mem_bytes is None  # a CPU run
    # at most one a second, by the run's own clock
    gaps = [b.elapsed_s - a.elapsed_s for a, b in itertools.pairwise(got)]
    assert all(gap >= 0.9 for gap in gaps), gaps
    # each is taken at an epoch and written just before that epoch's line
    events, _ = read_events(trainer.run_dir)
    for i, event in enumerate(events):
        if isinstance(event, SystemSampled):
            after = events[i + 1]
            assert isinstance(after, EpochEnded) and after.epoch == event.epoch


def test_a_sample_of_this_process_matches_proc_and_round_trips_through_the_log() -> None:
    """This process sampled in-process (psutil) beside /proc, and the event read back from its
    JSON line as a reader of an events.jsonl would (older logs simply have none)."""
    sample = SystemSampler().sample(3, 1.5)
    assert sample is not None
    assert abs(sample.rss_bytes - _proc(os.getpid(), "VmRSS")) < 64 << 20
    assert sample.threads == _proc(os.getpid(), "Threads")
    assert event_from_dict(sample.to_dict()) == sample
    assert system_line(sample).startswith(f"trainer cpu {sample.cpu_percent:.0f}%  rss ")
    assert fmt_bytes(312 * 1024 * 1024) == "312 MB" and fmt_bytes(1.5 * 1024**3) == "1.5 GB"
