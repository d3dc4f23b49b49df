"""The report model: which coefficient columns and metrics a run has, decided once.

Real short runs check the columns against the numbers the events carry; builders cover the
cases a real run reaches only slowly or not at all (no optimum, before the first epoch).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import engine
from engine.core.report import (
    COLUMN_KEYS,
    METRIC_KEYS,
    REPORT_KEYS,
    coefficient_table,
    data_summary,
    latest,
    metric_table,
)
from tests.builders import epoch, finished, optimum, started

QUICK = ["train.epochs=5", "data.n_samples=200", "train.device=cpu"]


def fit(preset: str, *overrides: str) -> engine.FitResult:
    return engine.fit(engine.load_config(preset, [*QUICK, *overrides]))


def keys(table) -> list[str]:
    return [c.key for c in table.columns]


@pytest.fixture(scope="module")
def synthetic() -> engine.FitResult:
    """The default preset: synthetic data with true weights, standardised features."""
    return fit("default")


def test_synthetic_standardised_run_has_every_column(synthetic):
    s, fin = synthetic.started, synthetic.finished
    table = coefficient_table(s, fin)
    assert keys(table) == list(COLUMN_KEYS)
    assert table.standardised and not table.same_units and table.optimum_kind == "exact"
    assert [r.name for r in table.rows] == [*s.feature_names, "bias"]
    x1, bias = table.rows[0], table.rows[-1]
    expected = {
        "learned": (fin.weights[0], fin.bias),
        "optimum": (s.optimum["weights"][0], s.optimum["bias"]),
        "learned_raw": (fin.weights_original[0], fin.bias_original),
        "optimum_raw": (s.optimum["weights_original"][0], s.optimum["bias_original"]),
        "true": (s.true_weights[0], s.true_bias),
    }
    assert {c.key: (c.cell(x1), c.cell(bias)) for c in table.columns} == expected
    # the stats lines compare learned and true weights, both in raw units
    assert [c.key for c in table.comparison()] == ["learned_raw", "true"]


def test_csv_data_has_no_true_column():
    res = fit("diabetes")
    table = coefficient_table(res.started, res.finished)
    assert keys(table) == ["learned", "optimum", "learned_raw", "optimum_raw"]
    assert [c.key for c in table.comparison()] == ["learned_raw", "optimum_raw"]


def test_unstandardised_run_has_one_set_of_units():
    res = fit("default", "data.standardize=false")
    table = coefficient_table(res.started, res.finished)
    assert keys(table) == ["learned", "optimum", "true"]
    assert not table.standardised and table.same_units
    assert table.narrowings() == [table]
    assert [c.key for c in table.comparison()] == ["learned", "true"]


def test_standardised_target_alone_still_gives_raw_columns_and_raw_y_metrics(synthetic):
    res = fit("default", "data.standardize=false", "data.standardize_target=true")
    table = coefficient_table(res.started, res.finished)
    assert keys(table) == list(COLUMN_KEYS) and table.standardised
    assert table.column("learned_raw").weights == res.finished.weights_original
    assert metric_table(res.started, res.finished).raw_y
    assert not metric_table(synthetic.started, synthetic.finished).raw_y


def test_model_without_bias_has_no_bias_row():
    res = fit("default", "model.bias=false")
    rows = coefficient_table(res.started, res.finished).rows
    assert [r.index for r in rows] == [0, 1, 2]
    # before the first epoch the config says so
    assert "bias" not in [r.name for r in coefficient_table(res.started, None).rows]


def test_without_an_optimum_there_are_no_optimum_columns():
    s = started(
        ["a", "b"], true_weights=[1.0, 2.0], true_bias=0.5, x_mean=[0.0, 0.0], x_std=[1.0, 1.0]
    )
    table = coefficient_table(
        s, epoch(weights=[0.9, 1.9], weights_original=[1.1, 2.1], bias_original=0.4)
    )
    assert keys(table) == ["learned", "learned_raw", "true"] and table.optimum_kind is None
    assert [keys(t) for t in table.narrowings()] == [
        ["learned", "learned_raw", "true"],
        ["learned_raw", "true"],
        ["learned_raw", "true"],
    ]


def test_narrowings_drop_standardised_columns_then_the_raw_optimum():
    s = started(
        optimum=optimum([1.0], 0.0, weights_original=[2.0], bias_original=1.0),
        true_weights=[2.1],
        true_bias=0.9,
        x_mean=[0.5],
        x_std=[2.0],
    )
    table = coefficient_table(s, epoch(weights_original=[1.8], bias_original=0.8))
    assert [keys(t) for t in table.narrowings()] == [
        list(COLUMN_KEYS),
        ["learned_raw", "optimum_raw", "true"],
        ["learned_raw", "true"],
    ]


def test_truth_shorter_than_the_features_leaves_empty_cells():
    """With data.poly_degree > 1 the truth may cover only the raw columns."""
    s = started(["x1", "x1^2"], true_weights=[3.0], true_bias=0.5)
    table = coefficient_table(s, epoch(weights=[0.9, 1.9], bias=0.1))
    truth = table.column("true")
    assert [truth.cell(r) for r in table.rows] == [3.0, None, 0.5]


def test_learned_in_standardised_units_is_compared_with_the_optimum_not_the_truth():
    """Standardised features but no raw-unit weights in the event: the truth is not comparable."""
    s = started(
        optimum=optimum([1.5], 0.2), true_weights=[3.0], true_bias=0.5, x_mean=[0.5], x_std=[2.0]
    )
    table = coefficient_table(s, epoch(weights=[1.4]))
    assert [c.key for c in table.comparison()] == ["learned", "optimum"]


def test_before_the_first_epoch_columns_exist_without_learned_values():
    s = started(["a", "b"], optimum=optimum([1.0, 2.0]))
    table = coefficient_table(s, None)
    assert keys(table) == ["learned", "optimum"]
    assert table.column("learned").weights is None and table.comparison() == []
    assert [(r.name, r.index) for r in table.rows] == [("a", 0), ("b", 1), ("bias", None)]


def test_without_a_start_event_features_are_numbered():
    table = coefficient_table(None, finished(weights=[1.0, 2.0], bias=None))
    assert [r.name for r in table.rows] == ["x1", "x2"] and keys(table) == ["learned"]


def test_latest_prefers_the_finished_event():
    last, fin = epoch(4), finished()
    assert latest(last, fin) is fin and latest(last, None) is last and latest(None, None) is None


def test_metric_splits_per_epoch_and_at_the_end(synthetic):
    s = synthetic.started
    per_epoch = metric_table(s, synthetic.epochs[-1])
    assert per_epoch.splits == ("train", "val") and per_epoch.keys == METRIC_KEYS
    assert per_epoch.value("val", "mse") == synthetic.epochs[-1].metrics["val"]["mse"]
    res = fit("default", "data.test_fraction=0.2")
    final = metric_table(res.started, res.finished)
    assert final.splits == ("train", "val", "test") and final.keys == REPORT_KEYS
    assert final.rows()[2] == ("test", [res.finished.metrics["test"][k] for k in REPORT_KEYS])


def test_the_median_error_is_a_column_only_once_the_run_has_finished(synthetic):
    """Epochs carry no medae (a median per epoch is not cheap): no column of dashes while a
    run trains; the finished run's table has it, beside mae."""
    assert "medae" not in metric_table(synthetic.started, synthetic.epochs[-1]).keys
    final = metric_table(synthetic.started, synthetic.finished)
    assert final.keys == ("mse", "rmse", "mae", "medae", "r2")
    assert final.value("val", "medae") == synthetic.finished.metrics["val"]["medae"]
    old_log = finished(metrics={"train": {"mse": 1.0, "rmse": 1.0, "mae": 1.0, "r2": 0.5}})
    assert metric_table(None, old_log).keys == METRIC_KEYS  # a log from before medae


def test_the_coefficient_error_comes_from_the_event_shown(synthetic):
    """Synthetic data knows its truth: both the last epoch and the finished run carry the
    error; a run on data without a truth (and an old log) has none."""
    s, last, fin = synthetic.started, synthetic.epochs[-1], synthetic.finished
    assert metric_table(s, last).coef_rmse == last.coef_rmse is not None
    assert metric_table(s, fin).coef_rmse == fin.coef_rmse is not None
    assert metric_table(started(), finished()).coef_rmse is None
    diabetes = fit("diabetes")
    assert diabetes.finished.coef_rmse is None
    assert metric_table(diabetes.started, diabetes.finished).coef_rmse is None


def test_metric_table_without_metrics_is_empty_and_keeps_report_order():
    assert not metric_table(None, None) and not metric_table(started(), epoch())
    mixed = finished(metrics={"test": {"mse": 3.0}, "train": {"mse": 1.0}})
    table = metric_table(None, mixed)
    assert table.splits == ("train", "test")
    assert table.value("test", "r2") is None and table.value("val", "mse") is None


def test_data_summary_names_the_split_sizes(synthetic):
    assert data_summary(synthetic.started) == "160 train / 40 val / 0 test rows, 3 features"


def test_the_report_model_loads_without_torch_or_textual():
    """The dashboard paints before torch loads, and the CLI summary needs no terminal UI."""
    code = (
        "import sys, engine.core.report\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'textual')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout.strip()
    assert out == "[]"
