"""Early stopping and the divergence check on scripted sequences (Keras/Lightning semantics).

Early stopping owns the best weights: which ones they are, and whether the end of a run must put
them back (the trainer only supplies the function that loads them into the model).
"""

from __future__ import annotations

import math

from engine.training.early_stopping import DivergenceCheck, EarlyStopping
from tests.conftest import make_config


def feed(stopper: EarlyStopping, values: list[float]) -> int | None:
    """Feed values from epoch 1; return the epoch at which it asks to stop (None if never)."""
    for epoch, v in enumerate(values, start=1):
        stopper.update(epoch, v)
        if stopper.should_stop:
            return epoch
    return None


def test_stops_after_patience_epochs_without_improvement():
    s = EarlyStopping(patience=3)
    assert feed(s, [5, 4, 3, 3.5, 3.2, 3.1, 1]) == 6
    assert (s.best, s.best_epoch, s.wait) == (3, 3, 3)


def test_min_delta_requires_a_real_improvement():
    s = EarlyStopping(patience=2, min_delta=0.1)
    # 0.95 and 0.91 are not < 1.0 - 0.1; 0.85 is.
    assert feed(s, [1.0, 0.95, 0.85, 0.8, 0.76]) == 5
    assert s.best_epoch == 3


def test_nan_is_never_an_improvement():
    s = EarlyStopping(patience=2)
    assert feed(s, [math.nan, 1.0, math.nan, math.nan]) == 4
    assert (s.best, s.best_epoch) == (1.0, 2)


def test_improvement_resets_wait():
    s = EarlyStopping(patience=2)
    assert feed(s, [3, 3, 2, 2, 1, 1]) is None
    assert s.wait == 1


def test_disabled_tracks_best_but_never_stops():
    s = EarlyStopping(patience=1, enabled=False)
    assert feed(s, [1, 2, 3, 4]) is None
    assert (s.best_epoch, s.wait) == (1, 3)


def w(k: float) -> tuple[list[float], float]:
    """Distinct parameters for epoch ``k``."""
    return [k, -k], k / 10


def feed_params(stopper: EarlyStopping, values: list[float]) -> None:
    """Epoch k ends at ``w(k)``; the run starts from ``w(0)``."""
    stopper.remember(w(0))
    for epoch, v in enumerate(values, start=1):
        stopper.update(epoch, v, w(epoch))


def restored(stopper: EarlyStopping) -> tuple[int | None, list]:
    loads: list = []
    return stopper.restore(loads.append), loads


def test_remembers_the_best_epochs_weights_and_restores_them():
    s = EarlyStopping(patience=2, restore_best=True)
    feed_params(s, [3.0, 1.0, 2.0, 2.5])
    assert s.should_stop and s.best_params == w(2)
    assert restored(s) == (2, [w(2)])


def test_nothing_to_restore_when_the_model_already_holds_the_best_weights():
    s = EarlyStopping(patience=5, restore_best=True)
    feed_params(s, [3.0, 2.0, 1.0])
    assert s.best_params == w(3) and restored(s) == (None, [])


def test_a_stop_in_the_middle_of_an_epoch_restores_even_the_last_epochs_weights():
    s = EarlyStopping(patience=5, restore_best=True)
    feed_params(s, [3.0, 2.0])
    s.interrupted(partial=False)  # stopped between epochs: the model holds epoch 2's weights
    assert restored(s) == (None, [])
    s.interrupted(partial=True)  # some steps of epoch 3 ran: the weights moved
    assert restored(s) == (2, [w(2)])


def test_value_measured_at_the_epoch_start_keeps_the_start_weights():
    """Full batch, monitoring train_loss: epoch k's loss belongs to the weights it started from."""
    s = EarlyStopping(patience=2, restore_best=True, monitors_start=True)
    feed_params(s, [1.0, 2.0, 3.0])
    assert s.best_epoch == 1 and s.best_params == w(0)  # the weights training started from
    assert restored(s) == (1, [w(0)])
    s = EarlyStopping(patience=5, restore_best=True, monitors_start=True)
    feed_params(s, [3.0, 2.0, 1.0])
    assert s.best_params == w(2) and restored(s) == (3, [w(2)])  # the last epoch's start


def test_restores_nothing_unless_asked_or_before_any_epoch():
    s = EarlyStopping(patience=1)  # restore_best defaults to off, as in Keras
    feed_params(s, [1.0, 2.0])
    assert s.best_params == w(1) and restored(s) == (None, [])
    s = EarlyStopping(patience=1, restore_best=True)
    s.remember(w(0))
    s.interrupted(partial=True)
    assert restored(s) == (None, [])


def test_from_config_restores_only_when_early_stopping_is_on():
    es = make_config(early_stopping={"patience": 7, "min_delta": 0.01}).early_stopping
    s = EarlyStopping.from_config(es)
    assert (s.patience, s.min_delta, s.enabled, s.restore_best, s.monitor) == (
        7,
        0.01,
        True,
        es.restore_best,
        "val_loss",
    )
    off = make_config(early_stopping={"enabled": False, "restore_best": True}).early_stopping
    s = EarlyStopping.from_config(off, monitors_start=True)
    assert not s.restore_best and s.monitors_start
    feed_params(s, [1.0, 2.0, 3.0])
    assert not s.should_stop and restored(s) == (None, [])


def test_divergence_names_the_first_non_finite_loss():
    d = DivergenceCheck()
    assert not d.update([("train", 1.0), ("validation", None)], [1.0, 2.0])
    assert not d.should_stop and d.detail is None
    assert d.update([("train", 1.0), ("validation", math.inf)], [1.0])
    assert d.should_stop and d.detail == "validation loss became inf"
    d = DivergenceCheck()
    assert d.update([("train", math.nan), ("validation", math.inf)], [1.0])
    assert d.detail == "train loss became nan"


def test_divergence_catches_non_finite_weights_with_finite_losses():
    d = DivergenceCheck()
    assert d.update([("train", 1.0)], [1.0, math.nan])
    assert d.detail == "weights became non-finite"
