"""``inspect`` of real run directories and the ``inspect`` / ``path`` commands.

Runs are trained for real (``engine.record``) on a CSV whose target values are all different,
so a reported row can be looked up in the file; the lab's numbers are checked against what the
run itself logged and against the engine's objective.
"""

from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pytest
import torch
import yaml

import engine
from engine.cli import inspect as cli_inspect
from engine.cli import path as cli_path
from engine.cli.common import guarded
from engine.cli.main import build_parser
from engine.config import parse_config
from engine.core.errors import RunError
from engine.core.events import EpochEnded, RunFinished
from engine.lab.inspect import LoadedRun, inspect_run, run_landscape
from engine.lab.path import config_path
from engine.losses.functions import build_objective
from engine.runs.log import RunLog


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    """A finished huber + l2 run on a 300-row CSV with 6 gross outliers; its data as numpy."""
    root = tmp_path_factory.mktemp("lab")
    g = np.random.default_rng(7)
    x = g.normal(size=(300, 3))
    y = x @ np.array([2.0, -1.0, 0.5]) + 1.0 + 0.3 * g.normal(size=300)
    y[[11, 50, 123, 200, 251, 299]] += [30.0, -25.0, 40.0, 22.0, -35.0, 28.0]
    np.savetxt(
        root / "d.csv", np.column_stack([x, y]), delimiter=",", header="a,b,c,y", comments=""
    )
    cfg = parse_config(
        {
            "name": "lab-csv",
            "seed": 3,
            "data": {"source": "csv", "path": "d.csv", "target": "y", "val_fraction": 0.25},
            "loss": {"name": "huber", "delta": 0.5, "l2": 0.01},
            "optim": {"name": "sgd", "lr": 0.2},
            "train": {"epochs": 40, "device": "cpu"},
            "early_stopping": {"enabled": False},
        },
        where="test",
        base_dir=str(root),
    )
    run = engine.record(cfg, root / "runs")
    return run, x, y


def test_contributions_sum_to_the_data_loss_the_run_logged(csv_run):
    run, _, _ = csv_run
    report = inspect_run(run)
    events, _ = RunLog(run).read()
    finished = next(e for e in events if isinstance(e, RunFinished))
    w = torch.tensor(finished.weights, dtype=torch.float64)
    penalty = 0.01 * float(w @ w)
    train = report["influence"]["train"]
    assert train["loss"]["total"] == pytest.approx(finished.train_loss - penalty, rel=1e-5)
    assert report["influence"]["val"]["loss"]["total"] == pytest.approx(
        finished.val_loss - penalty, rel=1e-5
    )
    # and exactly the engine's data loss on the model's float64 predictions
    lr = LoadedRun(run)
    data_loss = build_objective(lr.config.loss).data_loss
    pred = lr.predict(lr.data.train.x)
    assert train["loss"]["total"] == pytest.approx(
        float(data_loss(pred, lr.data.train.y.double())), rel=1e-12
    )
    assert report["weights"] == pytest.approx(finished.weights)
    assert report["n"] == {"train": 225, "val": 75}
    json.dumps(report, allow_nan=False)


def test_top_rows_are_rows_of_the_source_file(csv_run):
    run, _, y = csv_run
    report = inspect_run(run, k=6)
    outliers = {11, 50, 123, 200, 251, 299}
    for split in ("train", "val"):
        inf = report["influence"][split]
        assert inf["rows_from"] == "data"
        for row in inf["top"]:
            assert row["y"] == pytest.approx(y[row["row"]], rel=1e-6)  # the file's own value
            assert row["residual"] == pytest.approx(row["y"] - row["pred"])
    train_top = {r["row"] for r in report["influence"]["train"]["top"]}
    val_top = {r["row"] for r in report["influence"]["val"]["top"]}
    in_train = outliers - val_top
    assert in_train and in_train <= train_top
    first = report["influence"]["train"]["top"][0]
    assert abs(first["robust_z"]) > 20
    # MSE puts far more of its loss on the outliers than huber(0.5) does
    train = report["influence"]["train"]
    assert train["mse"]["share_top"]["10%"] > train["loss"]["share_top"]["10%"]


def test_shape_and_histogram_of_the_run(csv_run):
    run, _, _ = csv_run
    report = inspect_run(run, bins=10, points=51)
    shape = report["shape"]
    assert shape["loss"]["name"] == "huber" and shape["compare"]["name"] == "mse"
    assert sum(shape["histogram"]["train"]["counts"]) == 225
    assert sum(shape["histogram"]["val"]["counts"]) == 75
    assert max(shape["psi"]) == pytest.approx(0.5) and min(shape["psi"]) == pytest.approx(-0.5)
    biggest = max(
        abs(r["residual"]) for s in ("train", "val") for r in report["influence"][s]["top"]
    )
    assert shape["r"][-1] == pytest.approx(biggest)
    assert inspect_run(run, compare="huber")["shape"]["compare"] is None  # the run's own


def test_run_by_id_prefix_and_a_missing_run(csv_run):
    run, _, _ = csv_run
    assert inspect_run(run.name[:15], run.parent)["run"] == run.name
    with pytest.raises(RunError, match="unknown run"):
        inspect_run("nope", run.parent)


def test_landscape_of_the_run_holds_its_logged_path(csv_run):
    run, _, _ = csv_run
    out = run_landscape(run, 0, 1, points=11)
    events, _ = RunLog(run).read()
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert out["path"]["epochs"] == [e.epoch for e in epochs]
    assert out["path"]["wi"] == [e.weights[0] for e in epochs]
    assert len(out["values"]) == 11 and len(out["values"][0]) == 11
    finished = next(e for e in events if isinstance(e, RunFinished))
    assert out["held"]["weights"] == pytest.approx(finished.weights)  # the others: held there
    assert out["path"]["final"] == finished.weights[:2]


def test_dropped_outliers_lose_the_training_row_numbers_only(tmp_path):
    cfg = engine.load_config(
        "huber-outliers",
        ["train.epochs=3", "train.device=cpu", "data.outliers=drop", "optim.batch_size=null"],
    )
    run = engine.record(cfg, tmp_path / "runs")
    report = inspect_run(run, k=3)
    assert report["influence"]["train"]["rows_from"] == "split"
    assert report["influence"]["val"]["rows_from"] == "data"


def test_a_custom_loss_run_is_shown_as_mse_with_a_note(csv_run, tmp_path):
    run, _, _ = csv_run
    copy = tmp_path / "runs" / run.name  # the same run, its config naming a user loss
    shutil.copytree(run, copy)
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["loss"].update(name="custom", callable="torch.nn:L1Loss")
    (copy / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    report = inspect_run(copy)
    assert "custom" in report["note"] and "MSE's" in report["note"]
    assert report["shape"]["loss"]["name"] == "mse" and report["shape"]["compare"] is None
    assert report["influence"]["train"]["loss"]["name"] == "mse"


def _parser() -> argparse.ArgumentParser:
    """The real command line's parser, as ``python -m engine`` builds it."""
    return build_parser(with_app=False)


def test_inspect_command_json_and_text(csv_run, capsys):
    run, _, _ = csv_run
    args = _parser().parse_args(["inspect", str(run), "--json", "--top", "4", "--bins", "8"])
    assert cli_inspect.run(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(inspect_run(run, k=4, bins=8)))
    assert cli_inspect.run(_parser().parse_args(["inspect", str(run)])) == 0
    text = capsys.readouterr().out
    top = printed["influence"]["train"]["top"][0]
    assert "loss: mean(½r² if |r|≤δ else δ(|r|-½δ)), r=y-ŷ, δ=0.5 + 0.01·Σw²" in text
    assert "top 1% of rows" in text and "train huber" in text and "val mse" in text
    assert any(line.split()[:1] == [str(top["row"])] for line in text.splitlines())


def test_inspect_command_bad_input_exits_2(csv_run, capsys):
    run, _, _ = csv_run
    args = _parser().parse_args(["inspect", "nope", "--runs-dir", str(run.parent)])
    assert guarded(lambda: cli_inspect.run(args)) == 2
    assert capsys.readouterr().err.startswith("error: unknown run 'nope'")
    args = _parser().parse_args(["inspect", str(run), "--compare", "nope"])
    assert guarded(lambda: cli_inspect.run(args)) == 2
    with pytest.raises(Exception, match="expected a whole number >= 1"):
        _parser().parse_args(["inspect", str(run), "--top", "0"])


def test_path_command_json_and_text(capsys):
    argv = ["path", "default", "--penalty", "elasticnet", "--l1-ratio", "0.4", "--lambdas", "7"]
    assert cli_path.run(_parser().parse_args([*argv, "--json"])) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = config_path(
        engine.load_config("default"), "elasticnet", l1_ratio=0.4, n_lambdas=7
    ).to_dict()
    assert printed == {"preset": "default", **json.loads(json.dumps(expected))}
    assert cli_path.run(_parser().parse_args(argv)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "default: mean((y - Xw - b)²) + λ·(0.4·Σ|w| + 0.6·Σw²)"
    rows = lines[3:10]
    assert [r.startswith("*") for r in rows] == [k == printed["best"] for k in range(7)]
    assert lines[10].startswith("* best λ = ")


def test_path_command_with_set_and_no_validation_rows(capsys):
    args = _parser().parse_args(
        [
            "path",
            "default",
            "--set",
            "data.val_fraction=0",
            "--set",
            "early_stopping.enabled=false",
            "--lambdas",
            "3",
        ]
    )
    assert cli_path.run(args) == 0
    out = capsys.readouterr().out
    assert "no validation rows: no best λ" in out and "*" not in out
    args = _parser().parse_args(["path", "default", "--penalty", "elasticnet", "--l1-ratio", "1.5"])
    assert guarded(lambda: cli_path.run(args)) == 2
    assert "--l1-ratio must be in (0, 1]" in capsys.readouterr().err
