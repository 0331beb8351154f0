from __future__ import annotations

import math
from collections.abc import Callable

from detectors import UsageDetector, UsageDetectorSettings
from detectors.rates import MIN_DAY_OVER_DAY_SAMPLES, DayOverDay

from .streams import DAY, MONDAY, team_windows

HOUR = 3600.0


def _days_at_ten(values: list[float]) -> DayOverDay:
    """A day-over-day tracker that saw ``values`` at 10:00 on consecutive weekdays."""
    dod = DayOverDay()
    for day, value in enumerate(values):
        ts = MONDAY + day * DAY + 10.5 * HOUR
        dod.observe(ts, value)
        dod.observe(ts + HOUR, 0.0)  # the next hour closes the one at 10:00
    return dod


def test_cusum_reference_is_the_larger_of_two_days_and_the_median_of_three() -> None:
    wednesday_ten = MONDAY + 2 * DAY + 10.5 * HOUR
    assert math.isnan(_days_at_ten([1.0]).cusum_reference(wednesday_ten))
    # Two days: a quiet day (a holiday) does not lower the reference.
    assert _days_at_ten([1.0, 0.2]).cusum_reference(wednesday_ten) == 1.0
    assert _days_at_ten([0.2, 1.0]).cusum_reference(wednesday_ten) == 1.0
    # Three days: one holiday or one busy day does not move it.
    assert _days_at_ten([1.0, 0.2, 1.1]).cusum_reference(MONDAY + 3 * DAY + 10.5 * HOUR) == 1.0
    assert _days_at_ten([1.0, 3.0, 1.1]).cusum_reference(MONDAY + 3 * DAY + 10.5 * HOUR) == 1.1


def test_day_over_day_tail_probability_needs_a_reference_and_a_tail() -> None:
    dod = DayOverDay()
    assert math.isnan(dod.tail_probability(MONDAY, 1.0))
    for hour in range(24 * 5):
        ts = MONDAY + hour * HOUR + 1800.0
        value = 1.0 + 0.05 * (hour % 3)
        dod.observe(ts, value)
        dod.learn_tail(ts, value)
    assert dod.samples > MIN_DAY_OVER_DAY_SAMPLES
    now = MONDAY + 7 * DAY + 10.5 * HOUR
    assert dod.tail_probability(now, 1.05) > 0.05
    assert dod.tail_probability(now, 2.5) < 1e-6


def test_a_high_cusum_alone_raises_no_slow_ramp_while_the_team_is_at_its_usual_rate() -> None:
    """The CUSUM holds its value through quiet hours and decays slowly after an excess ends;
    a team at about the rate of earlier days (every user a fifth up, as on any busy day) is not
    ramping, however high the CUSUM still is."""
    detector = UsageDetector("search", UsageDetectorSettings(warmup_seconds=2 * DAY))
    friday = MONDAY + 4 * DAY
    ramps = []

    def busy_friday(user: str, ts: float) -> float:
        return 1.2 if ts >= friday else 1.0

    for window in team_windows(days=5, users=12, seed=8, boost=busy_friday):
        if window.start >= friday:
            # As if an excess earlier in the week had left the evidence at 30 thresholds' worth.
            detector.ramp.cusum = 30.0 * detector._ramp_threshold
        ramps += [f for f in detector.update(window) if f.kind == "slow_ramp"]
    assert ramps == []


def test_the_cusum_counts_from_the_third_day() -> None:
    """A ramp that starts on the third day of a team's life is judged against the first two
    days, not only once a reference of three days holds it already."""
    dod = DayOverDay()
    for hour in range(3 * 24):
        day, hour_of_day = divmod(hour, 24)
        # Log rates: Monday 0, Tuesday 0.1, Wednesday 0.05 until noon and 1.5 from then on.
        value = (0.0, 0.1, 0.05 if hour_of_day < 12 else 1.5)[day]
        ts = MONDAY + hour * HOUR + 1800.0
        dod.cusum_step(ts, value, busy_level=-1.0)
        dod.observe(ts, value)
        dod.learn_tail(ts, value, busy_level=-1.0)
    assert dod.samples >= MIN_DAY_OVER_DAY_SAMPLES
    assert dod.cusum > 10.0


def test_days_off_are_not_remembered() -> None:
    """Two public holidays in a row (Thursday and Friday) leave Monday's reference at the
    working days' level, instead of making them two of the three days it is the median of."""
    dod = _days_at_ten([1.0, 1.0, 1.1, -1.0, -1.0])
    next_monday_ten = MONDAY + 7 * DAY + 10.5 * HOUR
    assert dod.reference(next_monday_ten) == 1.0
    assert dod.cusum_reference(next_monday_ten) == 1.0


def _hours(dod: DayOverDay, day: int, value: Callable[[int], float]) -> None:
    """Feed ``dod`` one weekday of hourly values, every hour busy."""
    for hour_of_day in range(24):
        ts = MONDAY + day * DAY + hour_of_day * HOUR + 1800.0
        v = value(hour_of_day)
        dod.cusum_step(ts, v, busy_level=-10.0)
        dod.observe(ts, v)
        dod.learn_tail(ts, v, busy_level=-10.0)


def test_a_holiday_neither_resets_the_ramp_evidence_nor_widens_the_scale() -> None:
    """A ramp that starts on a Thursday and a holiday on the Friday: the evidence gathered on
    Thursday is still there after the holiday, and the holiday did not widen the scale the next
    working day is judged in."""
    dod = DayOverDay()
    for day in range(3):
        _hours(dod, day, lambda h, day=day: 1.0 + 0.1 * ((h + day) % 3 - 1))
    _hours(dod, 3, lambda h: 1.0 + 0.1 * ((h + 3) % 3 - 1) + (0.8 if h >= 14 else 0.0))
    evidence, scale = dod.cusum, dod.scale
    assert evidence > 10.0
    _hours(dod, 4, lambda h: -1.5)  # Friday: everyone off
    assert dod.cusum == evidence
    assert dod.scale == scale
