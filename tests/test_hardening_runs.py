"""Failures that once reported success or crashed (issue "Hardening"), against real processes and
exact answers: ``cv`` hiding divergence, the "exact" optimum when p ≫ n, an eigen-solver failure,
csv-only keys with synthetic data, and a stop during the optimum.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.config import ConfigError, apply_overrides, parse_config
from engine.data.dataset import load_dataset
from engine.losses.functions import build_objective
from engine.training.optimum import condition_number, optimum_info
from tests import warm_process

ROOT = Path(__file__).resolve().parents[1]


def engine(*argv: str, tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LINREG_TUI_RUNS_DIR": str(tmp / "runs")}
    return warm_process.run(
        [sys.executable, "-m", "engine", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=180,
    )


def test_cv_exits_1_and_marks_the_folds_that_diverged(tmp_path):
    proc = engine(
        "cv", "--folds", "3", "--set", "optim.lr=1e6", "--set", "train.epochs=5", tmp=tmp_path
    )
    assert proc.returncode == 1, proc.stderr
    rows = [ln for ln in proc.stdout.splitlines() if ln[:1].isdigit()]
    assert len(rows) == 3 and all(ln.endswith("  diverged") for ln in rows), proc.stdout
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: 3 of 3 folds diverged (1, 2, 3)")
    assert "lower lr (was 1e+06)" in err[0]


def test_cv_json_names_the_divergence_and_exits_1(tmp_path):
    proc = engine(
        "cv",
        "--folds",
        "2",
        "--set",
        "optim.lr=1e6",
        "--set",
        "train.epochs=5",
        "--json",
        tmp=tmp_path,
    )
    assert proc.returncode == 1
    assert proc.stdout.count('"reason": "diverged"') == 2


def test_cv_that_converges_still_exits_0_without_marks(tmp_path):
    proc = engine("cv", "--folds", "2", "--set", "train.epochs=5", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "diverged" not in proc.stdout and proc.stderr == ""


@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_the_exact_optimum_with_more_features_than_rows_is_the_minimum_norm_solution(l2):
    cfg = parse_config(
        {
            "data": {"n_samples": 100, "n_features": 2000},
            "loss": {"l2": l2},
            "early_stopping": {"enabled": False},
        }
    )
    ds = load_dataset(cfg)
    opt, cond = optimum_info(ds, cfg, build_objective(cfg.loss))
    x, y = ds.train.x.double().numpy(), ds.train.y.double().numpy()
    xc, yc = x - x.mean(0), y - y.mean()
    n = len(y)
    if l2:  # ridge: (XcᵀXc/n + l2·I) w = Xcᵀyc/n, solved in its dual form by numpy
        ref = xc.T @ np.linalg.solve(xc @ xc.T / n + l2 * np.eye(n), yc / n)
    else:
        ref = np.linalg.lstsq(xc, yc, rcond=None)[0]
    w = np.array(opt["weights"])
    assert opt["kind"] == "exact" and math.isinf(cond)
    assert np.linalg.norm(w) == pytest.approx(np.linalg.norm(ref), rel=1e-8)
    assert np.abs(w - ref).max() < 1e-8 * max(1.0, np.abs(ref).max())
    assert opt["bias"] == pytest.approx(float(y.mean() - x.mean(0) @ ref), abs=1e-8)


def test_a_duplicated_column_gets_the_minimum_norm_least_squares_solution():
    cfg = parse_config(
        {
            "data": {"n_samples": 200, "n_features": 3, "standardize": False},
            "early_stopping": {"enabled": False},
        }
    )
    ds = load_dataset(cfg)
    ds.train.x = torch.cat([ds.train.x, ds.train.x[:, :1]], 1)  # column 0 twice: singular Gram
    opt, cond = optimum_info(ds, cfg, build_objective(cfg.loss))
    x, y = ds.train.x.double().numpy(), ds.train.y.double().numpy()
    ref = np.linalg.lstsq(x - x.mean(0), y - y.mean(), rcond=None)[0]
    assert cond > 1e6
    assert np.allclose(opt["weights"], ref, atol=1e-6)
    assert opt["weights"][0] == pytest.approx(opt["weights"][3], abs=1e-6)  # split evenly


def test_an_eigen_solver_failure_is_an_infinite_condition_number_not_an_error():
    g = torch.tensor([[float("nan"), 1.0], [1.0, 1.0]], dtype=torch.float64)
    assert condition_number(g) == math.inf


@pytest.mark.timing
def test_a_stop_during_the_optimum_is_honoured_within_a_second():
    cfg = parse_config(
        {
            "data": {"n_samples": 400, "n_features": 1500},
            "loss": {"l1": 0.01},
            "early_stopping": {"enabled": False},
        }
    )
    ds = load_dataset(cfg)
    objective = build_objective(cfg.loss)
    flag = threading.Event()
    threading.Timer(0.5, flag.set).start()
    start = time.monotonic()
    opt, _ = optimum_info(ds, cfg, objective, stop=flag.is_set)
    assert flag.is_set() and opt is None
    assert time.monotonic() - start < 0.5 + 1.5


@pytest.mark.parametrize("override", ["data.features=[a, b]", "data.target=y", "data.path=x.csv"])
def test_csv_only_keys_are_refused_with_synthetic_data(override):
    with pytest.raises(ConfigError) as err:
        parse_config(apply_overrides({}, [override]), where="--set")
    key = override.partition("=")[0]
    assert err.value.key == key
    assert f"{key} applies only to data.source csv (data.source is synthetic)" in str(err.value)


def test_csv_only_keys_with_synthetic_data_exit_2_in_one_line(tmp_path):
    proc = engine("train", "--set", "data.features=[a,b]", "--no-save", tmp=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "data.features applies only to data.source csv" in lines[0]
