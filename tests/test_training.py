"""Training against exact answers: least squares, ridge, divergence, early stopping, restore."""

from __future__ import annotations

import pytest
import torch

import engine
from engine.core.control import Control
from engine.core.events import EpochEnded, RunFinished, RunStarted
from engine.data.dataset import load_dataset
from engine.training.trainer import run_training
from tests.conftest import make_config

SMALL = {"source": "synthetic", "n_samples": 400, "n_features": 4, "noise": 0.3}


def lstsq_mse(cfg) -> tuple[float, torch.Tensor]:
    """Exact least-squares MSE on the run's training split, with an intercept column."""
    tr = load_dataset(cfg).train
    x = torch.cat([tr.x.double(), torch.ones(len(tr), 1, dtype=torch.float64)], dim=1)
    sol = torch.linalg.lstsq(x, tr.y.double().unsqueeze(1)).solution.squeeze(1)
    return float(torch.mean((tr.y.double() - x @ sol) ** 2)), sol


def test_full_batch_mse_reaches_the_lstsq_optimum():
    cfg = make_config(
        data=SMALL,
        optim={"name": "sgd", "lr": 0.3},
        train={"epochs": 400},
        early_stopping={"enabled": False},
    )
    fin = engine.fit(cfg).finished
    best, sol = lstsq_mse(cfg)
    reached = fin.metrics["train"]["mse"]
    assert (reached - best) / best < 1e-4
    assert fin.weights == pytest.approx(sol[:-1].tolist(), abs=1e-3)
    assert fin.bias == pytest.approx(float(sol[-1]), abs=1e-3)


def test_mse_plus_l2_reaches_closed_form_ridge():
    from sklearn.linear_model import Ridge

    l2 = 0.1
    cfg = make_config(
        data=SMALL,
        loss={"name": "mse", "l2": l2},
        optim={"lr": 0.3},
        train={"epochs": 400},
        early_stopping={"enabled": False},
    )
    fin = engine.fit(cfg).finished
    tr = load_dataset(cfg).train
    # mean((y-ŷ)²) + l2·Σw²  ==  (1/n)·(‖y-ŷ‖² + n·l2·Σw²): sklearn Ridge with alpha = n·l2.
    ref = Ridge(alpha=len(tr) * l2).fit(tr.x.double().numpy(), tr.y.double().numpy())
    assert fin.weights == pytest.approx(ref.coef_.tolist(), abs=1e-4)
    assert fin.bias == pytest.approx(float(ref.intercept_), abs=1e-4)


def test_model_without_bias_learns_no_intercept():
    cfg = make_config(
        data=SMALL,
        model={"bias": False},
        optim={"lr": 0.3},
        train={"epochs": 300},
        early_stopping={"enabled": False},
    )
    res = engine.fit(cfg)
    assert res.finished.bias is None
    tr = load_dataset(cfg).train
    sol = torch.linalg.lstsq(tr.x.double(), tr.y.double().unsqueeze(1)).solution.squeeze(1)
    assert res.finished.weights == pytest.approx(sol.tolist(), abs=1e-3)


def test_same_seed_same_losses():
    cfg = make_config(
        data=SMALL,
        optim={"name": "adam", "lr": 0.05, "batch_size": 32},
        train={"epochs": 5},
        early_stopping={"enabled": False},
    )
    a = [e.train_loss for e in engine.fit(cfg).epochs]
    b = [e.train_loss for e in engine.fit(cfg).epochs]
    assert a == b
    other = make_config(
        seed=1,
        data=SMALL,
        optim={"name": "adam", "lr": 0.05, "batch_size": 32},
        train={"epochs": 5},
        early_stopping={"enabled": False},
    )
    assert [e.train_loss for e in engine.fit(other).epochs] != a


def test_huge_lr_diverges_with_epoch_and_value_and_restores_best():
    cfg = make_config(data=SMALL, optim={"lr": 50.0}, train={"epochs": 500})
    res = engine.fit(cfg)
    fin = res.finished
    assert fin.reason == "diverged"
    assert fin.epochs_run == len(res.epochs) < 500
    assert f"diverged at epoch {fin.epochs_run}:" in fin.message
    assert "loss became" in fin.message and ("inf" in fin.message or "nan" in fin.message)
    assert fin.restored_epoch == fin.best_epoch == 1
    assert fin.weights == res.epochs[0].weights


def test_early_stopping_stops_and_restores_the_best_epoch():
    cfg = make_config(
        data=SMALL,
        optim={"lr": 0.1},
        train={"epochs": 2000},
        early_stopping={"patience": 5, "min_delta": 1e-3},
    )
    res = engine.fit(cfg)
    fin, epochs = res.finished, res.epochs
    assert fin.reason == "early_stopped"
    assert epochs[-1].wait == 5 and fin.epochs_run == fin.best_epoch + 5
    assert fin.weights == epochs[fin.best_epoch - 1].weights
    assert fin.restored_epoch == fin.best_epoch
    assert "no val_loss improvement > 0.001 for 5 epochs" in fin.message
    # every improvement really beat the best so far by min_delta
    best = float("inf")
    for e in epochs:
        assert e.improved == (e.val_loss < best - 1e-3)
        best = e.val_loss if e.improved else best


def test_restore_best_when_the_run_completes():
    # monitor train_loss with a large min_delta: the best epoch is early, the run runs out.
    cfg = make_config(
        data=SMALL,
        optim={"lr": 0.05},
        train={"epochs": 30},
        early_stopping={"patience": 100, "min_delta": 0.5},
    )
    res = engine.fit(cfg)
    fin = res.finished
    assert fin.reason == "completed" and fin.epochs_run == 30
    assert fin.best_epoch < 30 and fin.restored_epoch == fin.best_epoch
    assert fin.weights == res.epochs[fin.best_epoch - 1].weights


def test_restore_best_when_cancelled_and_not_when_disabled():
    control = Control()
    events: list = []

    def emit(ev):
        events.append(ev)
        if isinstance(ev, EpochEnded) and ev.epoch == 25:
            control.stop()

    cfg = make_config(
        data=SMALL,
        optim={"lr": 0.05},
        train={"epochs": 100},
        early_stopping={"patience": 100, "min_delta": 0.5},
    )
    fin = run_training(cfg, emit, control)
    assert fin.reason == "cancelled" and fin.epochs_run == 25
    assert fin.message.startswith("stopped by you at epoch 25")
    assert fin.restored_epoch == fin.best_epoch < 25
    assert fin.weights == events[fin.best_epoch].weights  # events[0] is RunStarted

    cfg = make_config(
        data=SMALL,
        optim={"lr": 0.05},
        train={"epochs": 30},
        early_stopping={"patience": 100, "min_delta": 0.5, "restore_best": False},
    )
    res = engine.fit(cfg)
    assert res.finished.restored_epoch is None
    assert res.finished.weights == res.epochs[-1].weights


def test_events_are_json_ready():
    import json

    cfg = make_config(data=SMALL, train={"epochs": 3}, early_stopping={"enabled": False})
    res = engine.fit(cfg)
    kinds = [json.loads(json.dumps(e.to_dict()))["type"] for e in res.events]
    assert kinds == ["RunStarted", "EpochEnded", "EpochEnded", "EpochEnded", "RunFinished"]
    started = res.started
    assert isinstance(started, RunStarted) and started.config["optim"]["lr"] == 0.05
    assert started.true_weights is not None and len(started.true_weights) == 4
    assert (started.n_train, started.n_val, started.n_test) == (320, 80, 0)
    assert isinstance(res.finished, RunFinished)


def test_minibatch_epoch_visits_every_row_once():
    # train_loss is the row-weighted mean of the batch losses: with lr tiny the weights barely
    # move, so it must equal the full-data loss at the initial weights.
    cfg = make_config(
        data=SMALL,
        optim={"lr": 1e-9, "batch_size": 7},
        train={"epochs": 1},
        early_stopping={"enabled": False},
    )
    res = engine.fit(cfg)
    full = make_config(
        data=SMALL, optim={"lr": 1e-9}, train={"epochs": 1}, early_stopping={"enabled": False}
    )
    assert res.epochs[0].train_loss == pytest.approx(
        engine.fit(full).epochs[0].train_loss, rel=1e-5
    )


class StopAfter(Control):
    """A control that asks to stop at its ``n``-th per-batch check (mid-epoch)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.calls, self.n = 0, n

    @property
    def busy(self) -> bool:
        self.calls += 1
        if self.calls == self.n:
            self.stop()
        return super().busy


def test_stop_in_the_middle_of_an_epoch_still_restores_the_best_weights():
    # 400 train rows, batch 40: 10 steps an epoch; the 35th check is inside epoch 4.
    cfg = make_config(
        data={"n_samples": 500},
        optim={"lr": 0.01, "batch_size": 40},
        train={"epochs": 50},
        early_stopping={"patience": 50, "min_delta": 0.0},
    )
    events: list = []
    fin = run_training(cfg, events.append, StopAfter(35))
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert fin.reason == "cancelled" and fin.epochs_run == 3 == len(epochs)
    assert fin.best_epoch == 3 and fin.restored_epoch == 3
    assert fin.weights == epochs[2].weights  # not the half-trained epoch 4 weights


def test_full_batch_train_loss_monitor_restores_the_weights_it_measured():
    # Full batch: train_loss of epoch k is measured at the weights epoch k started from, so
    # restoring "epoch k" must put those weights back and reproduce best_monitor.
    cfg = make_config(
        data={"n_samples": 400, "n_features": 4, "val_fraction": 0.0},
        optim={"lr": 1.2},
        train={"epochs": 200},
        early_stopping={"monitor": "train_loss", "patience": 20},
    )
    fin = engine.fit(cfg).finished
    assert fin.reason in ("diverged", "early_stopped") and fin.restored_epoch is not None
    assert fin.metrics["train"]["mse"] == pytest.approx(fin.best_monitor, rel=1e-5)


def test_validation_may_be_off_when_early_stopping_is():
    cfg = make_config(
        data={"n_samples": 100, "val_fraction": 0.0},
        train={"epochs": 3},
        early_stopping={"enabled": False},
    )
    res = engine.fit(cfg)
    assert [e.val_loss for e in res.epochs] == [None, None, None]
    assert res.finished.reason == "completed" and "val" not in res.finished.metrics


def test_polynomial_true_weights_are_zero_for_the_powers(capsys):
    from engine.cli.main import main

    assert main(["train", "--set", "data.poly_degree=2", "--set", "train.epochs=3"]) == 0
    out = capsys.readouterr().out
    assert "x1^2" in out
    cfg = make_config(data={"poly_degree": 3}, train={"epochs": 1})
    started = engine.fit(cfg).started
    assert started.true_weights[3:] == [0.0] * 6 and len(started.feature_names) == 9
