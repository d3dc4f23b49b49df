"""The suite's tiers: ``e2e`` by folder, ``slow`` by measurement (hooked in by ``conftest.py``).

- ``e2e``: every test under ``tests/e2e`` (a real terminal through tmux, real processes).
- ``slow``: every test listed in ``tests/slow_tests.json``, the tests measured over a threshold
  (setup + call + teardown) by ``pytest --record-slow SECONDS``, plus any test marked
  ``@pytest.mark.slow`` by hand. A list written by measuring, not by hand: most slow tests start
  a real ``python -m engine`` process (``import torch`` alone is over a second of CPU) or train
  a real run under the dashboard, and a hand-kept list falls behind as tests change.

``pytest -m "not e2e and not slow"`` is the quick tier; ``pytest`` runs everything. Record again
after tests were added or sped up::

    pytest -n 0 -m "not e2e" --record-slow 1.5

(``-n 0``: one test at a time, so a test's time is its own, not its share of a loaded machine;
under pytest-xdist only the controlling process records, from every worker's reports.)

Only the tests that ran and passed are re-measured: a quicker one leaves the list, a slower one
joins; the others keep their entry (a stale name marks nothing).
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
E2E = HERE / "e2e"
SLOW_FILE = HERE / "slow_tests.json"


def add_options(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-slow",
        type=float,
        default=None,
        metavar="SECONDS",
        help="after the run, list in tests/slow_tests.json the tests that took "
        "SECONDS or more (they are then marked slow)",
    )


def read_slow(path: Path = SLOW_FILE) -> dict[str, float]:
    """``node id -> seconds`` of the tests measured slow (empty when there is no list)."""
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text())["tests"])


def mark(items: list[pytest.Item], slow: dict[str, float] | None = None, e2e: Path = E2E) -> None:
    """Mark ``e2e`` the tests under ``e2e`` and ``slow`` the tests in the list."""
    slow = read_slow() if slow is None else slow
    for item in items:
        if e2e in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)
        elif item.nodeid in slow:
            item.add_marker(pytest.mark.slow)


class SlowRecorder:
    """Sums each test's phases; at the end rewrites the slow list from what ran and passed."""

    def __init__(self, threshold: float, path: Path = SLOW_FILE) -> None:
        self.threshold = threshold
        self.path = path
        self.seconds: dict[str, float] = defaultdict(float)
        self.failed: set[str] = set()
        self.load_at_start = os.getloadavg()[0]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid] += report.duration
        if report.failed or report.skipped:
            self.failed.add(report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        slow = read_slow(self.path)
        for nodeid, seconds in self.seconds.items():
            if nodeid in self.failed:
                continue  # a failure's time says nothing (a timeout, an early error)
            if seconds >= self.threshold:
                slow[nodeid] = round(seconds, 2)
            else:
                slow.pop(nodeid, None)
        data = {
            "about": f"tests over {self.threshold:g} s (setup + call + teardown), marked "
            "slow by tests/tiers.py; rewrite with: pytest -n 0 -m 'not e2e' "
            f"--record-slow {self.threshold:g}",
            "recorded": f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, load "
            f"average {self.load_at_start:.1f} at the start, "
            f"{os.getloadavg()[0]:.1f} at the end",
            "tests": dict(sorted(slow.items())),
        }
        self.path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def configure(config: pytest.Config, path: Path = SLOW_FILE) -> None:
    """Register the recorder when ``--record-slow`` is given."""
    threshold = config.getoption("--record-slow")
    if threshold is not None and not hasattr(config, "workerinput"):  # not an xdist worker
        config.pluginmanager.register(SlowRecorder(threshold, path), "slow-recorder")
