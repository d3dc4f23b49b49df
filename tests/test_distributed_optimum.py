"""The exact MSE optimum of a data-parallel run from all-reduced sums, with no gather.

The algebra first, in this process: :func:`engine.training.dist_optimum.sums_optimum` with a
one-rank "all-reduce" (the identity) against :func:`engine.training.optimum.optimum_info` on the
same rows. Then real ranks (``python -m engine train --nproc 2``, gloo on loopback, helpers of
:mod:`tests.test_distributed`), rank-local rows, against ``engine.fit`` in this process: the
optimum in ``RunStarted`` and the gap in ``RunFinished`` are the single process's to 1e-6, and
the method says the sums path was taken; huber (an L-BFGS reference that reads the rows) still
gathers them.
"""

from __future__ import annotations

from typing import Any

import pytest
from torch import Tensor

from engine.config import parse_config
from engine.data.dataset import load_dataset
from engine.losses.functions import build_objective
from engine.training.dist_optimum import sums_optimum, takes_sums
from engine.training.distributed import Dist
from engine.training.optimum import optimum_info
from engine.training.run import fit
from tests.test_distributed import events, finished, merged, train

CASES = [
    ({"name": "mse"}, True, True),
    ({"name": "mse", "l2": 0.3}, False, True),
    ({"name": "mse", "l1": 0.05, "l2": 0.1}, True, False),
    ({"name": "mse", "l1": 0.02}, False, False),
]
"""``(loss, model.bias, data.standardize)``: least squares, ridge, elastic net and lasso."""


def case(loss: dict[str, Any], bias: bool, standardize: bool) -> dict[str, Any]:
    return merged(loss=loss, model={"bias": bias}, data={"standardize": standardize})


def identity(t: Tensor) -> Tensor:
    """The all-reduce of a single rank."""
    return t


def assert_same_optimum(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got["kind"] == want["kind"] == "exact"
    for key in ("loss", "weights", "bias"):
        assert got[key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), key


@pytest.mark.parametrize(("loss", "bias", "standardize"), CASES)
def test_the_sums_give_the_single_process_optimum(
    loss: dict[str, Any], bias: bool, standardize: bool
) -> None:
    """One rank whose reduce is the identity: the same solver, weights, bias and objective
    value (computed from the sums, not the rows) as the single process on the same data."""
    cfg = parse_config(case(loss, bias, standardize), where="test")
    ds = load_dataset(cfg)
    objective = build_objective(cfg.loss, cfg.base_dir)
    assert takes_sums(ds, cfg)
    summed = sums_optimum(ds, cfg, objective, Dist(0, 1), reduce=identity)
    assert summed is not None
    got, cond = summed
    want, want_cond = optimum_info(ds, cfg, objective)
    assert got is not None and want is not None
    assert_same_optimum(got, want)
    assert got["method"] == f"{want['method']} (sums over 1 ranks)"
    assert cond == pytest.approx(want_cond, rel=1e-6)
    assert (got["bias"] is None) == (not bias)


def test_a_rank_other_than_zero_gets_only_the_condition_number() -> None:
    cfg = parse_config(case({"name": "mse"}, True, True), where="test")
    ds = load_dataset(cfg)
    summed = sums_optimum(
        ds, cfg, build_objective(cfg.loss, cfg.base_dir), Dist(1, 2), reduce=identity
    )
    assert summed is not None and summed[0] is None and summed[1] > 1


def test_other_losses_and_rank_deficient_data_are_not_the_sums_path() -> None:
    """Huber is not exact; a duplicated column has an infinite condition number (the single
    process solves from the rows then): every rank returns None and gathers instead."""
    huber = parse_config(case({"name": "huber"}, True, True), where="test")
    assert not takes_sums(load_dataset(huber), huber)
    cfg = parse_config(case({"name": "mse"}, True, False), where="test")
    ds = load_dataset(cfg)
    ds.train.x[:, 1] = ds.train.x[:, 0]
    assert takes_sums(ds, cfg)
    objective = build_objective(cfg.loss, cfg.base_dir)
    assert sums_optimum(ds, cfg, objective, Dist(0, 1), reduce=identity) is None


@pytest.mark.slow
@pytest.mark.parametrize(("loss", "bias", "standardize"), CASES)
def test_two_ranks_find_the_optimum_from_sums(
    tmp_path: Any, loss: dict[str, Any], bias: bool, standardize: bool
) -> None:
    cfg = case(loss, bias, standardize)
    run_dir = train(tmp_path, cfg)
    one = fit(parse_config(cfg, where="test"))
    got, want = events(run_dir)[0]["optimum"], one.started.optimum
    assert want is not None
    assert_same_optimum(got, want)
    for key in ("weights_original", "bias_original"):
        assert got[key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), key
    assert got["method"] == f"{want['method']} (sums over 2 ranks)"
    # the gap is a small difference of two losses: equal to 1e-6 of the loss (float32 training)
    fin, scale = finished(run_dir), abs(one.finished.train_loss)
    assert fin["gap"] == pytest.approx(one.finished.gap, abs=1e-6 * scale)


@pytest.mark.slow
def test_huber_still_gathers_the_rows_for_its_reference(tmp_path: Any) -> None:
    cfg = case({"name": "huber", "l2": 0.01}, True, True)
    run_dir = train(tmp_path, cfg)
    got = events(run_dir)[0]["optimum"]
    want = fit(parse_config(cfg, where="test")).started.optimum
    assert want is not None and got["method"] == want["method"] == "L-BFGS (float64, full batch)"
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-6)
