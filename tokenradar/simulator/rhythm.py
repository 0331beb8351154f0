"""Daily and weekly activity profiles, in a team's local time.

A profile is an array of shape ``(7, 1440)``: the activity relative to the working-day peak for
each weekday (Monday first) and minute of the local day. People follow the office profile (quiet
nights, a lunch dip, a Monday-morning ramp, a lighter Friday, quiet weekends); a few night owls
follow a shifted one; each batch job has a profile that is 1 during its nightly run and 0 else.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from tokenradar.simulator.config import Variation

MINUTES_PER_DAY: Final[int] = 1440
DAYS_PER_WEEK: Final[int] = 7
EPOCH_WEEKDAY: Final[int] = 3
"""1970-01-01 was a Thursday (Monday is 0)."""

FloatArray = npt.NDArray[np.float64]


def office_profile(variation: Variation) -> FloatArray:
    """The weekly profile of people working office hours."""
    night = variation.night_level
    hours = np.array([0.0, 6.5, 8.0, 9.5, 11.5, 12.5, 13.5, 16.5, 18.0, 19.5, 22.0, 24.0])
    levels = np.array(
        [night, night, 0.35, 1.0, 1.0, 1.0 - variation.lunch_dip, 1.0, 0.95, 0.5, 0.2, 0.08, night]
    )
    minute_hours = np.arange(MINUTES_PER_DAY) / 60.0
    day = np.maximum(np.interp(minute_hours, hours, levels), night)
    # People catch up on Monday morning after the weekend.
    monday_bump = 1.0 + variation.monday_boost * np.exp(-0.5 * ((minute_hours - 10.5) / 1.2) ** 2)
    weekend = np.maximum(day * variation.weekend_level, night * 0.7)
    return np.stack(
        [
            day * monday_bump,
            day,
            day,
            day,
            np.maximum(day * variation.friday_level, night),
            weekend,
            weekend,
        ]
    )


def night_owl_profile(variation: Variation) -> FloatArray:
    """The weekly profile of people who work from the late afternoon into the night."""
    office = office_profile(variation)
    # Ten hours later than the office, and weekends are less of a break for them.
    shifted = np.roll(office, 10 * 60, axis=1)
    shifted[5:] = np.maximum(shifted[1] * max(variation.weekend_level, 0.4), variation.night_level)
    return shifted


def batch_profile(local_start_minute: int, length_minutes: int) -> FloatArray:
    """1 during a nightly job's run (every day, weekends included), 0 otherwise."""
    minutes = (local_start_minute + np.arange(length_minutes)) % MINUTES_PER_DAY
    day = np.zeros(MINUTES_PER_DAY)
    day[minutes] = 1.0
    return np.tile(day, (DAYS_PER_WEEK, 1))


def local_weekday_and_minute(
    epoch_minutes: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Weekday (Monday 0) and minute of the day of local epoch minutes."""
    days, minute_of_day = np.divmod(epoch_minutes, MINUTES_PER_DAY)
    return (days + EPOCH_WEEKDAY) % DAYS_PER_WEEK, minute_of_day
