"""The benchmark script keeps working (it is run for speed by hand; here only that it runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_quick_mode_prints_both_ratios():
    proc = subprocess.run([sys.executable, "benchmarks/bench_engine.py", "--quick",
                           "--repeats", "1"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ratio tutorial/engine") == 2
    assert proc.stdout.count("ratio plain/engine") == 2
