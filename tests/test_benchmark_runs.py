"""The benchmark script keeps working (it is run for speed by hand; here only that it runs and
prints every case with its anchor and ratio)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # ~15 s: it times every case against its anchor, however quick the mode
def test_benchmark_quick_mode_prints_every_case_with_its_anchor():
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench_engine.py", "--quick", "--repeats", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "torch " in out and " cores" in out  # the build and the machine are named
    for anchor in (
        "tutorial loop (DataLoader)",
        "hand-gradient tensor loop",
        "sklearn SGDRegressor",
        "one read of X (memcpy)",
        "python -c 'import torch'",
    ):
        assert anchor in out
    assert out.count("| ratio ") == 6
    for case in ("blocked pass", "sufficient stats", "autograd path", "train default"):
        assert case in out
    assert out.count(" MB   | data") == 2  # peak RSS of both engine cases
