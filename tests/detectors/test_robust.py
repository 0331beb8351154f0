from __future__ import annotations

import math

from detectors.robust import RobustSeries, SeriesParams

from .streams import DAY, MONDAY

HOUR = 3600.0
QUIET, BUSY = math.log(5.0), math.log(60.0)


def _working_day(hour: float) -> float:
    return BUSY if 8.0 <= hour < 18.0 else QUIET


def _learn_days(series: RobustSeries, days: int) -> None:
    """Per-minute values of ``days`` weekdays from Monday 00:00: quiet nights, busy days."""
    for minute in range(days * 24 * 60):
        ts = MONDAY + 60.0 * minute
        series.learn(ts, _working_day((minute % 1440) / 60.0), 60.0)


def _series() -> RobustSeries:
    return RobustSeries(SeriesParams(3600.0, 7 * HOUR, tail_rate=0.03, upper_scale=True))


def test_a_bin_first_seen_learns_its_hour_whole() -> None:
    """The first morning of a series first seen at night: its bins start from the night's
    estimate, and their first hour's residuals are that guess's error, not anomalies. By the
    next morning the profile knows the working day and its evening (bins that learned their
    first hour at a tenth, as outliers, were still far below the morning and far above the
    evening)."""
    series = _series()
    _learn_days(series, 1)
    for hour in (7.5, 8.5, 9.5, 12.5, 17.5, 18.5):
        expected, scale = series.expected_at(MONDAY + DAY + hour * HOUR)
        truth = _working_day(hour)
        # Within 40 % of the hour's true level (the shared level moved during the first
        # day); bins that learned their first hour as outliers were up to 8 times off.
        assert abs(expected - truth) < math.log(1.4), (hour, expected, truth)
        assert scale < 0.2, (hour, scale)


def test_a_known_bin_still_learns_little_from_a_spike() -> None:
    """Past its first hour a bin judges its values: a spike twenty times its level moves its
    expectation by a few percent, not by the spike."""
    series = _series()
    _learn_days(series, 3)
    at = MONDAY + 3 * DAY + 10.5 * HOUR
    before, _ = series.expected_at(at + 60.0)
    series.learn(at, BUSY + math.log(20.0), 60.0)
    after, _ = series.expected_at(at + 60.0)
    assert after - before < 0.05
