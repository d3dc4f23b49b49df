"""The plot helpers: constant-size downsampling, debiased EMA, a log scale that survives 0."""

from __future__ import annotations

import math

from tui.series import DebiasedEMA, Downsampler, fmt_num, log_ticks, to_log10


def test_downsampler_stays_bounded_and_keeps_the_spike() -> None:
    ds = Downsampler(cap=64)
    for x in range(1, 100_001):
        ds.append(x, 1e6 if x == 77_777 else 1.0 / x)
    assert len(ds) <= 128
    pts = ds.points(200)
    assert len(pts) <= 200
    assert (77_777, 1e6) in pts, "the max of its bucket must survive downsampling"
    assert (1, 1.0) in pts and min(y for _, y in pts) == 1.0 / 100_000
    assert [x for x, _ in pts] == sorted(x for x, _ in pts)


def test_downsampler_small_series_is_exact() -> None:
    ds = Downsampler()
    for x in range(1, 11):
        ds.append(x, float(x))
    assert ds.points(100) == [(float(x), float(x)) for x in range(1, 11)]


def test_debiased_ema_starts_at_the_first_value() -> None:
    ema = DebiasedEMA(0.9)
    assert ema.update(5.0) == 5.0
    assert math.isclose(ema.update(5.0), 5.0)
    value = ema.update(15.0)
    assert 5.0 < value < 15.0


def test_log10_clips_zero_and_negative_to_the_floor() -> None:
    pts, clipped = to_log10([(1, 10.0), (2, 0.0), (3, -2.0)], floor=1e-3)
    assert clipped
    assert pts == [(1, 1.0), (2, -3.0), (3, -3.0)]
    assert to_log10([(1, 0.5)], 1e-3)[1] is False


def test_log_ticks_label_data_units() -> None:
    ticks, labels = log_ticks(-3.0, 1.0)
    assert labels[0] == "0.001" and labels[-1] == "10"
    assert len(ticks) == len(labels) >= 2
    assert log_ticks(float("nan"), 1.0) == ([], [])


def test_fmt_num() -> None:
    assert fmt_num(None) == "—"
    assert fmt_num(float("inf")) == "inf"
    assert fmt_num(1.23456e-5) == "1.235e-5"
