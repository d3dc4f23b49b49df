"""The spare trainer's resident memory, measured from /proc, and the rule that decides when it
loads torch's optimizer machinery (checked against what real runs import)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.cli.trainer_process import WarmTrainer, needs_torch_optim
from engine.config.presets import load_config
from engine.core.system import fmt_bytes
from tests.tui.conftest import wait_for

ROOT = Path(__file__).resolve().parents[1]
WARM_RSS_LIMIT = 300 * 1024 * 1024
"""The bound for an idle spare (issue 21; measured here on the CPU build of torch), on its
private memory: RssAnon. Its file-backed pages (torch's shared libraries, ~95 MB of the ~245 MB
VmRSS here) are shared with every torch process and vary with the page cache: one full-suite
run saw VmRSS 321 MB for the same spare that reads 240 MB alone."""


def _rss(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def test_an_idle_spare_stays_under_its_memory_bound_until_prepared() -> None:
    """Ready: torch, the engine and a warm-up fit, under 300 MB. Prepared: torch.optim's
    machinery (dynamo, sympy) loaded too, which costs tens of MB more."""
    warm = WarmTrainer()
    try:
        wait_for(warm.ready, timeout=120, what="the spare trainer to warm up")
        pid = warm._popen.pid
        ready, private = _rss(pid), _rss(pid, "RssAnon")
        print(f"spare ready: RSS {fmt_bytes(ready)}, of it private (RssAnon) {fmt_bytes(private)}")
        assert private < WARM_RSS_LIMIT, fmt_bytes(private)
        warm.prepare()
        wait_for(lambda: _rss(pid) > ready + (30 << 20), timeout=60, what="dynamo to load")
    finally:
        warm.close()


def test_a_prepare_asked_for_during_the_warm_up_is_done_before_ready() -> None:
    """The dashboard asks at once when its settings need torch.optim: the spare does it
    before it says ready (a start right after is then as fast for huber as for mse), so the
    ready spare already holds the tens of MB an unprepared one does not."""
    rss = []
    for prepare in (False, True):
        warm = WarmTrainer()
        try:
            if prepare:
                warm.prepare()
            wait_for(warm.ready, timeout=120, what="the spare trainer to warm up")
            rss.append(_rss(warm._popen.pid))
        finally:
            warm.close()
    assert rss[1] - rss[0] > 30 << 20, [fmt_bytes(r) for r in rss]


def _loads_dynamo(preset: str) -> bool:
    """Whether a real run of ``preset`` imports torch._dynamo (in a fresh interpreter)."""
    code = textwrap.dedent(
        f"""
        import sys
        from engine import fit, load_config
        fit(load_config({preset!r}, ["train.epochs=3", "train.device=cpu",
                                     "data.n_samples=64"]))
        print("torch._dynamo" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize("preset", ["default", "adam-fast", "huber-outliers", "logistic"])
def test_needs_torch_optim_says_when_a_run_loads_dynamo(preset: str) -> None:
    cfg = load_config(preset, [])
    values = {"loss.name": cfg.loss.name, "optim.name": cfg.optim.name}
    values["model.task"] = cfg.model.task
    assert needs_torch_optim(values) == _loads_dynamo(preset)


def test_a_spare_asked_to_prepare_then_taken_before_ready_trains_the_run(tmp_path: Path) -> None:
    """Both orders arrive while the spare still imports torch: it prepares, then trains."""
    from engine.cli.trainer_process import start_trainer
    from engine.runs.store import read_status

    warm = WarmTrainer()
    warm.prepare()
    cfg = load_config(
        "huber-outliers", ["train.epochs=20", "train.device=cpu", "early_stopping.enabled=false"]
    )
    run = start_trainer(cfg, tmp_path, warm)
    assert run.popen is not None and run.popen.args[-1] == "engine.cli.trainer_process"
    assert run.popen.wait(timeout=120) == 0
    status = read_status(run.run_dir)
    assert status["state"] == "finished" and status["reason"] == "completed", status
