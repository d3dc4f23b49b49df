"""The tiers for real, in an inner pytest session: ``--record-slow`` lists the tests that took
longer than its threshold, the list marks them ``slow`` (so the quick tier leaves them out),
and a test that became quick leaves the list when measured again."""

from __future__ import annotations

import json

import pytest

from tests import tiers

pytest_plugins = ["pytester"]

CONFTEST = """
from pathlib import Path

from tests import tiers

HERE = Path(__file__).parent


def pytest_addoption(parser):
    tiers.add_options(parser)


def pytest_configure(config):
    tiers.configure(config, HERE / "slow.json")


def pytest_collection_modifyitems(items):
    tiers.mark(items, tiers.read_slow(HERE / "slow.json"), e2e=HERE / "e2e")
"""

TESTS = """
import time


def test_quick():
    pass


def test_sleepy():
    time.sleep({sleep})  # the duration is what the tiers measure


def test_failing_and_slow():
    time.sleep(0.3)  # slow, but a failure's time is never recorded
    assert False
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "markers =\n    slow: measured slow\n    e2e: end to end\n"
    )
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_things=TESTS.format(sleep=0.3))
    pytester.mkdir("e2e")
    (pytester.path / "e2e" / "test_terminal.py").write_text("def test_in_a_terminal():\n    pass\n")
    return pytester


def run(project: pytest.Pytester, *args: str) -> pytest.HookRecorder:
    """An inner session in this process, without the snapshot plugin (its temporary folder is
    one per process) and Hypothesis' (re-imported by every inner session: 2 s each)."""
    return project.inline_run("-p", "no:textual-snapshot", "-p", "no:hypothesispytest", *args)


def passed(reprec: pytest.HookRecorder) -> list[str]:
    return sorted(
        r.nodeid
        for r in reprec.getreports("pytest_runtest_logreport")
        if r.when == "call" and r.passed
    )


def test_recording_lists_the_slow_tests_that_passed(project: pytest.Pytester) -> None:
    run(project, "--record-slow", "0.2").assertoutcome(passed=3, failed=1)
    data = json.loads((project.path / "slow.json").read_text())
    assert list(data["tests"]) == ["test_things.py::test_sleepy"]
    assert 0.2 <= data["tests"]["test_things.py::test_sleepy"] < 5
    assert "--record-slow 0.2" in data["about"]


def test_the_quick_tier_leaves_out_e2e_and_the_listed_tests(project: pytest.Pytester) -> None:
    run(project, "--record-slow", "0.2")
    quick = run(project, "-m", "not e2e and not slow")
    assert passed(quick) == ["test_things.py::test_quick"]
    assert passed(run(project, "-m", "e2e")) == ["e2e/test_terminal.py::test_in_a_terminal"]
    assert len(passed(run(project))) == 3  # everything, the failing test aside


def test_a_test_that_became_quick_leaves_the_list(project: pytest.Pytester) -> None:
    run(project, "--record-slow", "0.2")
    project.makepyfile(test_things=TESTS.format(sleep=0))
    run(project, "--record-slow", "0.2", "-k", "sleepy")
    assert tiers.read_slow(project.path / "slow.json") == {}
