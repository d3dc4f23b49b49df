"""Early stopping on scripted loss sequences (Keras/Lightning semantics)."""

from __future__ import annotations

import math

from engine.early_stopping import EarlyStopping


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
