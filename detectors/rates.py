"""Smoothed usage rates of a team or a user, scored against their own seasonal baseline.

A :class:`RateSeries` turns the per-window volumes of one entity (tokens or dollars per window)
into an exponentially smoothed rate with time constant ``tau`` and scores ``log(rate + floor)``
with a :class:`~detectors.robust.RobustSeries`. Windows in which the entity sent nothing are not
delivered; they are zeros, and the series accounts for them from the timestamps: the rate decays
across the gap and the baseline learns one summary observation per hour of the gap, so the profile
knows the hours in which the entity is usually idle.

The floor is a small fraction of the entity's long-run mean rate: it keeps idle periods from
turning into minus infinity and makes the score scale-free (a team of five and a team of five
hundred are judged on relative change).

Examples
--------
>>> params = RateParams(tau=600.0, series=SeriesParams(86_400.0, 7 * 3600.0))
>>> series = RateSeries()
>>> for minute in range(3000):
...     _ = series.observe(60.0 * (minute + 1), 1000.0, 60.0, params)
>>> before = series.observe(60.0 * 3001, 1000.0, 60.0, params)
>>> [round(series.observe(60.0 * (3002 + m), 30_000.0, 60.0, params).z) > 5 for m in range(3)]
[True, True, True]
"""

from __future__ import annotations

import math
import statistics
from array import array
from dataclasses import dataclass
from typing import Any

from detectors.robust import (
    HOURS_PER_DAY,
    MEAN_ABS_TO_SIGMA,
    SEASONAL_BINS,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    RobustSeries,
    SeriesParams,
    StepResult,
    TailTracker,
    is_weekend,
    normal_upper_tail,
    seasonal_bin,
)

# Hourly day-over-day differences seen before the statistic is standardised and scored.
MIN_DAY_OVER_DAY_SAMPLES = 12
# Days of the same hour a day-over-day reference is the median of.
DAYS_REMEMBERED = 3
# Reference value of the day-over-day CUSUM: it accumulates standardised excesses beyond this
# many typical day-to-day differences (the drift that tunes it to shifts of twice this size: a
# ramp to 3-5x is several typical day-to-day differences).
CUSUM_DRIFT = 1.0
# Busy hours of one day share that day's mood (a busy day lifts them all), so they are not
# independent steps: the CUSUM's in-control run length is counted as if a day's busy hours
# were about one step, i.e. its threshold is set for this many times the hourly run length.
BUSY_HOURS_PER_DAY = 10.0
# Standardised differences enter the CUSUM only up to this size: one extraordinary hour should
# not make a ramp on its own.
CUSUM_CLIP = 4.0
# An hour below a third of the same hour on earlier days is a day off (a public holiday, an
# outage): it says nothing about a ramp and nothing about the day-to-day noise of working days.
LOG_OFF_DAY_RATIO = math.log(3.0)
# Tails learn at least this often, even for slow series: a two-hour time constant would otherwise
# leave a few dozen samples in the first days, too few to know the tail.
MAX_TAIL_INTERVAL_SECONDS = 600.0
# Gaps longer than this are summarised by their last two days only: older hours add nothing the
# profile would not learn again.
MAX_GAP_SUMMARY_SECONDS = 2 * SECONDS_PER_DAY
# Working days whose same hour a young weekend hour is bounded by, and how far back they are
# looked for (a week: a working day is then at most a weekend and a holiday away).
CEILING_DAYS = 3
CEILING_LOOKBACK_DAYS = 7
CEILING_RING_HOURS = HOURS_PER_DAY * (CEILING_LOOKBACK_DAYS + 1)
# The hours of a local day after its working hours (9 to 17, see the team's local days): 17:00
# to midnight, judged together as the day closes.
EVENING_HOURS = 7
# Working hours whose deviations from their references give a team's overdispersion (four days),
# and how many are needed before it is used (a day).
DISPERSION_HOURS = 96
MIN_DISPERSION_HOURS = 24
# The day-off verdict's busy hours are judged against the day's mean hour with this many of its
# busiest hours lowered to the next one: a nightly job's hour or two cannot dominate the mean.
WINSORISED_HOURS = 2
# The median of a chi-square with one degree of freedom: the median of squared normal deviates
# divided by it estimates their variance.
CHI2_1_MEDIAN = 0.4549364


@dataclass(frozen=True, slots=True)
class RateParams:
    """Smoothing and baseline of a family of rate series.

    Parameters
    ----------
    tau
        Time constant (seconds) of the exponential smoothing of the rate.
    series
        How the baseline of ``log(rate + floor)`` learns.
    floor_fraction
        The floor as a fraction of the long-run mean rate.
    mean_half_life
        Half-life (seconds) of the long-run mean rate.
    count_floor
        A lower bound of the floor (per window): the rate of a few events within ``tau``. The
        logarithm of a rate counted from a handful of events is mostly Poisson noise.
    """

    tau: float
    series: SeriesParams
    floor_fraction: float = 0.05
    mean_half_life: float = 7 * SECONDS_PER_DAY
    count_floor: float = 0.0


class RateSeries:
    """A smoothed rate, its long-run mean and the robust baseline of its logarithm."""

    __slots__ = ("baseline", "last_end", "last_tail_end", "mean_rate", "rate")

    def __init__(self, baseline: RobustSeries | None = None) -> None:
        self.rate = 0.0
        self.mean_rate = math.nan
        self.last_end = math.nan
        # Smoothed values a few windows apart are nearly the same value: the tail learns from one
        # step per time constant (at most ten minutes apart), so an episode does not count
        # tau / width times.
        self.last_tail_end = -math.inf
        self.baseline = baseline

    def floor(self, params: RateParams) -> float:
        """The additive floor of the log transform."""
        mean = self.mean_rate if self.mean_rate == self.mean_rate else 0.0
        return max(params.floor_fraction * mean, params.count_floor, 1e-9)

    def transformed(self, params: RateParams) -> float:
        """``log(rate + floor)`` now."""
        return math.log(self.rate + self.floor(params))

    def rate_from(self, y: float, params: RateParams) -> float:
        """Back from the log scale to a rate per window."""
        return max(0.0, math.exp(y) - self.floor(params))

    def observe(self, end: float, amount: float, width: float, params: RateParams) -> StepResult:
        """Score the window ending at ``end`` with ``amount``, then learn it and any gap before."""
        baseline = self.baseline
        if baseline is None:
            baseline = self.baseline = RobustSeries(params.series)
        keep = math.exp(-width / params.tau)
        if self.last_end != self.last_end:  # first window ever
            self.rate = amount
            self.mean_rate = amount
            self.last_end = end
            baseline.learn(end, self.transformed(params), width)
            return StepResult(self.transformed(params), baseline.scale, 0.0, 1.0)
        gap = end - width - self.last_end
        if gap >= width:
            self._learn_gap(end - width, gap, width, params)
        self.rate = self.rate * keep + (1.0 - keep) * amount
        y = self.transformed(params)
        result = baseline.score(end, y)
        self._learn_mean(amount, width, params)
        self.last_end = end
        return result

    def learn_current(self, end: float, width: float, params: RateParams, in_alarm: bool) -> None:
        """Learn the value :meth:`observe` just scored (split so the caller can decide alarms)."""
        assert self.baseline is not None
        learn_tail = not in_alarm and end - self.last_tail_end >= min(
            params.tau, MAX_TAIL_INTERVAL_SECONDS
        )
        if learn_tail:
            self.last_tail_end = end
        self.baseline.learn(end, self.transformed(params), width, learn_tail=learn_tail)

    def _learn_mean(self, amount: float, width: float, params: RateParams) -> None:
        weight = 1.0 - math.exp(-math.log(2.0) * width / params.mean_half_life)
        self.mean_rate += weight * (amount - self.mean_rate)

    def _learn_gap(self, gap_end: float, gap: float, width: float, params: RateParams) -> None:
        """Idle windows between the last observation and ``gap_end``: decay and summarise."""
        assert self.baseline is not None
        start = self.last_end
        if gap > MAX_GAP_SUMMARY_SECONDS:
            self.rate = 0.0
            start = gap_end - MAX_GAP_SUMMARY_SECONDS
        mean_keep = math.exp(-math.log(2.0) * gap / params.mean_half_life)
        self.mean_rate *= mean_keep
        cursor = start
        while cursor < gap_end - 1e-9:
            next_hour = (math.floor(cursor / SECONDS_PER_HOUR) + 1) * SECONDS_PER_HOUR
            segment_end = min(gap_end, next_hour)
            segment = segment_end - cursor
            windows = segment / width
            # The rate at the middle of the idle segment stands for the whole segment.
            self.rate *= math.exp(-0.5 * segment / params.tau)
            self.baseline.learn(
                cursor + 0.5 * segment,
                self.transformed(params),
                width,
                weight=windows,
                learn_tail=False,
            )
            self.rate *= math.exp(-0.5 * segment / params.tau)
            cursor = segment_end
        self.last_end = gap_end

    # ------------------------------------------------------------------------------------ state
    def to_plain(self) -> list[Any]:
        """Compact msgpack-able form."""
        baseline = None if self.baseline is None else self.baseline.to_plain()
        return [self.rate, self.mean_rate, self.last_end, self.last_tail_end, baseline]

    @classmethod
    def from_plain(cls, params: RateParams, plain: list[Any]) -> RateSeries:
        """Inverse of :meth:`to_plain`."""
        series = cls()
        series.rate, series.mean_rate, series.last_end, series.last_tail_end = plain[:4]
        if plain[4] is not None:
            series.baseline = RobustSeries.from_plain(params.series, plain[4])
        return series


class DayOverDay:
    """Today's value at this hour against the median of the last few days at the same hour.

    A slow ramp (3-5x over a day or two) is learned by any adaptive baseline as it happens; a
    reference made of *earlier days* is not. The median of the last ``DAYS_REMEMBERED`` days at the
    same weekday/weekend hour keeps one holiday or one busy day from moving the reference. The
    difference (on a log scale) gets its own calibrated tail, learned once an hour.

    An hour below a third of its reference is a day off (a public holiday, an outage). A drop is
    not a spike, and a day off says nothing about working days: it is not remembered, it teaches
    neither the scale nor the tail, and the CUSUM holds its value through it, so that a ramp on
    either side of a holiday is judged as if the holiday had not been.

    Examples
    --------
    >>> dod = DayOverDay()
    >>> for hour in range(24 * 5):
    ...     value = 1.0 + 0.05 * (hour % 3)
    ...     dod.observe(3600.0 * hour + 1800.0, value)
    ...     dod.learn_tail(3600.0 * hour + 1800.0, value)
    >>> dod.statistic(3600.0 * 120 + 1800.0, 1.0) < 2.0
    True
    >>> dod.statistic(3600.0 * 120 + 1800.0, 2.5) > 10.0
    True
    """

    __slots__ = (
        "current_hour",
        "cusum",
        "cusum_at",
        "day_shift",
        "history",
        "hour_value",
        "last_tail",
        "samples",
        "scale",
        "slots",
        "tail",
    )

    def __init__(self) -> None:
        self.history = array("d", [math.nan] * (SEASONAL_BINS * DAYS_REMEMBERED))
        self.slots = bytearray(SEASONAL_BINS)
        self.current_hour = math.nan
        self.hour_value = math.nan
        self.tail = TailTracker(rate=0.05)
        self.last_tail = -math.inf
        # Typical size of the day-over-day difference (mean absolute value, as a sigma): the
        # statistic is standardised by it, so that the tail works in z units.
        self.scale = math.nan
        self.samples = 0
        # One-sided CUSUM of the standardised difference in busy hours, and when it last moved.
        self.cusum = 0.0
        self.cusum_at = -math.inf
        # Offset from UTC (seconds) of the days the weekday/weekend hours follow; the owner sets
        # it (it is the team's, not part of this state).
        self.day_shift = 0.0

    def _remembered(self, ts: float) -> list[float]:
        """The remembered days' values at the hour of ``ts``, in ascending order."""
        b = seasonal_bin(ts, self.day_shift)
        return sorted(
            v for v in self.history[b * DAYS_REMEMBERED : (b + 1) * DAYS_REMEMBERED] if v == v
        )

    def reference(self, ts: float, min_days: int = 2) -> float:
        """Median of the remembered days at the hour of ``ts`` (NaN until ``min_days`` are
        known)."""
        values = self._remembered(ts)
        if len(values) < min_days:
            return math.nan
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else 0.5 * (values[middle - 1] + values[middle])

    def cusum_reference(self, ts: float) -> float:
        """The CUSUM's reference at the hour of ``ts``: the median of three remembered days, or
        the larger of two (NaN with fewer).

        Either way one holiday or one quiet day cannot lower it; two days already give one on
        the third day of a team's life, where a ramp that starts then would otherwise only be
        judged against a reference that contains it.
        """
        values = self._remembered(ts)
        return values[1] if len(values) >= 2 else math.nan

    def statistic(self, ts: float, value: float) -> float:
        """``value`` minus the reference at ``ts``, in units of its typical size (0 while there
        is no reference or no scale yet)."""
        reference = self.reference(ts)
        if reference != reference or self.samples < MIN_DAY_OVER_DAY_SAMPLES:
            return 0.0
        return (value - reference) / max(self.scale, 1e-3)

    def tail_probability(self, ts: float, value: float) -> float:
        """Tail probability of :meth:`statistic` under the learned tail of day-over-day
        differences (NaN while there is no reference or no tail yet: no evidence either way)."""
        reference = self.reference(ts)
        if self.samples <= MIN_DAY_OVER_DAY_SAMPLES or reference != reference:
            return math.nan
        return self.tail.probability((value - reference) / max(self.scale, 1e-3))

    def observe(self, ts: float, value: float) -> None:
        """Record ``value`` (a log rate) as the latest of its hour; hours close as time moves."""
        hour = math.floor(ts / SECONDS_PER_HOUR) * SECONDS_PER_HOUR
        if (
            hour != self.current_hour
            and self.current_hour == self.current_hour
            and not _day_off(self.hour_value, self.reference(self.current_hour))
        ):
            b = seasonal_bin(self.current_hour, self.day_shift)
            slot = self.slots[b]
            self.history[b * DAYS_REMEMBERED + slot] = self.hour_value
            self.slots[b] = (slot + 1) % DAYS_REMEMBERED
        self.current_hour = hour
        self.hour_value = value

    def cusum_step(self, ts: float, value: float, busy_level: float) -> float:
        """Advance the CUSUM once an hour, in busy hours only, and return it.

        Busy hours are those whose reference is at least ``busy_level`` (the log of the team's
        average rate): in quiet hours a small team's rate is a handful of requests and its
        day-over-day difference is noise. Outside them the CUSUM holds its value.
        """
        if ts - self.cusum_at < SECONDS_PER_HOUR:
            return self.cusum
        reference = self.cusum_reference(ts)
        if reference != reference or self.samples < MIN_DAY_OVER_DAY_SAMPLES:
            return self.cusum
        if reference < busy_level:
            return self.cusum
        if _day_off(value, reference):
            return self.cusum
        self.cusum_at = ts
        z = (value - reference) / max(self.scale, 1e-3)
        z = min(CUSUM_CLIP, max(-CUSUM_CLIP, z))
        self.cusum = max(0.0, self.cusum + z - CUSUM_DRIFT)
        return self.cusum

    def busy(self, ts: float, busy_level: float) -> bool:
        """Whether the hour of ``ts`` is a busy one: its reference is at least ``busy_level``."""
        reference = self.cusum_reference(ts)
        return reference == reference and reference >= busy_level

    def learn_tail(self, ts: float, value: float, busy_level: float = -math.inf) -> None:
        """Teach the scale and the tail one value an hour (values within an hour are nearly the
        same), from busy hours only (see :meth:`cusum_step`)."""
        if ts - self.last_tail < SECONDS_PER_HOUR:
            return
        reference = self.reference(ts)
        if reference != reference or reference < busy_level or _day_off(value, reference):
            return
        difference = value - reference
        self.last_tail = ts
        size = abs(difference) * MEAN_ABS_TO_SIGMA
        if self.samples == 0:
            self.scale = size
        else:
            weight = max(1.0 / (self.samples + 1), 0.02)
            self.scale += weight * (min(size, 3.0 * self.scale) - self.scale)
        self.samples += 1
        if self.samples > MIN_DAY_OVER_DAY_SAMPLES:
            self.tail.learn(difference / max(self.scale, 1e-3))

    def to_plain(self) -> list[Any]:
        """Compact msgpack-able form."""
        return [
            self.history.tobytes(),
            bytes(self.slots),
            self.current_hour,
            self.hour_value,
            self.tail.quantile,
            self.tail.excess,
            self.last_tail,
            self.scale,
            self.samples,
            self.cusum,
            self.cusum_at,
        ]

    @classmethod
    def from_plain(cls, plain: list[Any]) -> DayOverDay:
        """Inverse of :meth:`to_plain`."""
        dod = cls()
        dod.history = array("d", plain[0])
        dod.slots = bytearray(plain[1])
        dod.current_hour, dod.hour_value = plain[2], plain[3]
        dod.tail.quantile, dod.tail.excess, dod.last_tail = plain[4], plain[5], plain[6]
        dod.scale, dod.samples = plain[7], plain[8]
        if len(plain) > 9:
            dod.cusum, dod.cusum_at = plain[9], plain[10]
        return dod


class WorkingDayCeiling:
    """A team's weekend hours, before it has weekends of its own, against its working days;
    and a day off's busy hours against the day's own level (see ``_day_off_verdict``).

    A team's first weekend has no history of its own: its weekend hours are not yet warm, and a
    slow ramp that starts on a Friday climbs through them unjudged, then is the level the team's
    baselines first learn for a weekend. What is known is a bound: an hour of a weekend is not
    busier than the same hour of a working day. People work less at weekends, and jobs that run
    every night run on working nights too.

    Each closed hour's two-hour request count ``O`` at a weekend hour is compared with ``C``, the
    highest two-hour count at the same hour on the last ``CEILING_DAYS`` working days (at least
    two, looking back a week; the highest, so that a public holiday among them does not lower
    it), as ``z = log(O / C) / sqrt(1/O + 1/C + S2)``: Poisson terms for the two counts, and
    ``S2`` the team's overdispersion. ``S2`` is read off the team's own working hours: the
    median over the last ``DISPERSION_HOURS`` of them of ``log(O / C_median)^2 - 1/O - 1/C_median``
    (``C_median`` the median of the same references), divided by the median of a chi-square with
    one degree of freedom. Counts carry half an event, so that empty hours are defined. An hour
    below a third of its reference by more than its counting noise (``LOG_OFF_DAY_RATIO``, as
    for the day-over-day tracker) is a day off's and is left out: a holiday's hours, at a tenth
    of their usual, can be a third of a young team's hours, and they would lift ``S2`` many
    times over (from 0.006 to 0.27 by the holiday's noon, traced on a team's fourth day) and
    blind every verdict that divides by it, the day off's own first. Until
    ``MIN_DISPERSION_HOURS`` working hours have two earlier working days, the hours of the
    team's second working day, each against the first's, make up the number: the team's third
    day (a holiday, a surge on it) is judged with an ``S2`` instead of not at all, and from the
    fourth day on those hours are no longer used (one day against one other varies more than a
    day against the median of three).

    The state is the last eight days' hourly request counts (a ring over UTC hours: the same clock
    hour on earlier days does not depend on the team's offset, only which days were working days
    does), the ring of deviations and the second working day's.

    Examples
    --------
    A team's working week (5 January 1970 was a Monday), then a Saturday night at three times
    its working nights:

    >>> import random
    >>> rng = random.Random(1)
    >>> ceiling = WorkingDayCeiling()
    >>> for hour in range(4 * 24, 9 * 24):
    ...     ceiling.count(3600.0 * hour, rng.gauss(100.0, 10.0))
    >>> for hour in range(9 * 24, 9 * 24 + 6):
    ...     ceiling.count(3600.0 * hour, 300.0)
    >>> ceiling.count(3600.0 * (9 * 24 + 6), 0.0)  # 06:00 closes 05:00
    >>> ceiling.closed_z > 4.0
    True
    >>> ceiling.count(3600.0 * (9 * 24 + 8), 0.0)  # 08:00 closes two quiet hours
    >>> ceiling.closed_z < 0.0
    True
    """

    __slots__ = (
        "closed_evening",
        "closed_off",
        "closed_weekend_day",
        "closed_z",
        "counts",
        "deviations",
        "early_deviations",
        "first_hour",
        "hour",
        "next_deviation",
        "next_early",
    )

    def __init__(self) -> None:
        self.counts = array("f", bytes(4 * CEILING_RING_HOURS))
        # The UTC hour (hours since the epoch) being counted, and the first one the team had.
        self.hour = -1
        self.first_hour = -1
        self.deviations = array("f", [math.nan] * DISPERSION_HOURS)
        self.next_deviation = 0
        # Deviations of working hours with one earlier working day, the team's second: its
        # overdispersion on its third day, until the hours with two or more are enough.
        self.early_deviations = array("f", [math.nan] * MIN_DISPERSION_HOURS)
        self.next_early = 0
        # ``z`` of the hour before ``hour`` if it was a weekend hour with a ceiling, else NaN.
        self.closed_z = math.nan
        # Tail probability and expected two-hour count of the hour before ``hour`` if it was a
        # busy working hour of a day off (see ``_day_off_verdict``), else NaN.
        self.closed_off = (math.nan, math.nan)
        # Tail probability, count, ceiling and last hour of a working day's evening if the hour
        # before ``hour`` closed one (see ``_evening_verdict``), else NaN.
        self.closed_evening = (math.nan, math.nan, math.nan, math.nan)
        # Requests counted and usual, and hours, of a weekend day's busy hours up to the hour
        # before ``hour`` if it was one of them (see ``_weekend_day``), else NaN.
        self.closed_weekend_day = (math.nan, math.nan, math.nan)

    def count(
        self,
        ts: float,
        requests: float,
        day_shift: float = 0.0,
        learn: bool = True,
        judge: bool = True,
        judge_off: bool = False,
        judge_evening: bool = False,
        weekend_day: bool = False,
    ) -> None:
        """Add a window's ``requests`` (the window starts at ``ts``).

        When an hour closes, a weekend hour's ``z`` is computed (``closed_z``) if ``judge`` (the
        owner will read it), a working hour's against its day's level (``closed_off``) if
        ``judge_off`` and the day is a day off, a working day's evening as its last hour closes
        (``closed_evening``) if ``judge_evening``, a weekend day's busy hours so far
        (``closed_weekend_day``) if ``weekend_day``, and a working hour's deviation from its
        references is learned, unless ``learn`` is false (the team is in alarm). Hours without a
        window are hours without requests."""
        hour = int(ts // SECONDS_PER_HOUR)
        if self.hour < 0:
            self.hour = self.first_hour = hour
        if hour > self.hour:
            closed_day = _local_day(self.hour, day_shift) if judge_evening else math.nan
            if learn and not is_weekend(self.hour * SECONDS_PER_HOUR, day_shift):
                self._learn_deviation(self.hour, day_shift)
            for missing in range(max(self.hour + 1, hour - CEILING_RING_HOURS + 1), hour + 1):
                self.counts[missing % CEILING_RING_HOURS] = 0.0
            self.hour = hour
            self.closed_z = math.nan
            self.closed_off = (math.nan, math.nan)
            self.closed_evening = (math.nan, math.nan, math.nan, math.nan)
            self.closed_weekend_day = (math.nan, math.nan, math.nan)
            if is_weekend((hour - 1) * SECONDS_PER_HOUR, day_shift):
                if judge:
                    self.closed_z = self._weekend_z(hour - 1, day_shift)
                if weekend_day:
                    self.closed_weekend_day = self._weekend_day(hour - 1, day_shift)
            elif judge_off:
                self.closed_off = self._day_off_verdict(hour - 1, day_shift)
            if judge_evening and _local_day(hour, day_shift) > closed_day:
                # The last hour of the local day the previous count was in (hours without
                # requests may lie between it and this one).
                last = int(((closed_day + 1) * SECONDS_PER_DAY - day_shift) // SECONDS_PER_HOUR) - 1
                if not is_weekend(last * SECONDS_PER_HOUR, day_shift):
                    self.closed_evening = self._evening_verdict(last, day_shift)
        if hour == self.hour:
            self.counts[hour % CEILING_RING_HOURS] += requests

    def _evening_verdict(self, hour: int, day_shift: float) -> tuple[float, float, float, float]:
        """Tail probability, count, ceiling and last hour of the evening of a working day whose
        last hour is ``hour`` (NaNs without two earlier working days' evenings or without
        ``S2``).

        A slow ramp that starts in the morning has climbed by the evening, and the evening's
        hours are quiet ones to the day-over-day CUSUM, which steps in busy hours only. Taken
        together they are one count: ``O``, the requests of the ``EVENING_HOURS`` before
        midnight, against ``C``, the highest of the same hours on the last ``CEILING_DAYS``
        working days (the highest, as for a weekend: a holiday among them cannot lower it), as
        ``z = log(O / C) / sqrt(1/O + 1/C + S2)`` with the team's overdispersion. One verdict
        per working day.
        """
        nothing = (math.nan, math.nan, math.nan, math.nan)
        s2 = self.overdispersion()
        if s2 != s2:
            return nothing
        evenings = self._references(hour, day_shift, EVENING_HOURS)
        if len(evenings) < 2 or hour - EVENING_HOURS + 1 < self.first_hour:
            return nothing
        count, ceiling = self._hours_sum(hour, EVENING_HOURS), max(evenings)
        z = _log_ratio_z(count + 0.5, ceiling + 0.5, ceiling + 0.5, s2)
        p = normal_upper_tail(z) if z > 0.0 else 1.0
        return (p, count, ceiling, float(hour))

    def still_above(self, hour: int, day_shift: float) -> bool:
        """Whether the two hours ending at ``hour`` were above the highest of the same hours on
        recent working days (False without two of them)."""
        references = self._references(hour, day_shift)
        return len(references) >= 2 and self._hours_sum(hour, 2) > max(references)

    def _hours_sum(self, hour: int, span: int) -> float:
        """Requests of the ``span`` hours ending at ``hour``."""
        return float(sum(self.counts[(hour - k) % CEILING_RING_HOURS] for k in range(span)))

    def _references(self, hour: int, day_shift: float, span: int = 2) -> list[float]:
        """``span``-hour counts ending at ``hour`` on the last working days with all their
        hours seen."""
        earlier = (hour - HOURS_PER_DAY * k for k in range(1, CEILING_LOOKBACK_DAYS + 1))
        return [
            self._hours_sum(h, span)
            for h in earlier
            if h - span + 1 >= self.first_hour and not is_weekend(h * SECONDS_PER_HOUR, day_shift)
        ][:CEILING_DAYS]

    def _day_off_verdict(self, hour: int, day_shift: float) -> tuple[float, float]:
        """Tail probability and expected count of a working ``hour``'s two-hour count on a day
        off; (NaN, NaN) unless the day is a day off and both hours are busy ones.

        Each hour of the local day has a usual count, the median of the same hour on recent
        working days; busy hours are those at or above the day's mean hour, the mean taken with
        the two busiest hours lowered to the third (winsorised): a nightly job that sends more in
        an hour or two than the team's people in a day would otherwise lift the mean above
        every working hour, and the day off would never be judged. The busy hours just
        before the two judged, back to the last hour that is not busy, give the day's level
        ``L = T / R`` (``T`` counted, ``R`` usual): the working day so far, not a nightly job's
        hours earlier, which may or may not have run. The day is a day off when ``L`` is below
        a third (``LOG_OFF_DAY_RATIO``) by more than one standard error,
        ``sqrt(1/T + 1/R + S2)``. The two hours are then expected at ``E = L``
        times their usual count ``U``: a surge on a holiday is judged against the holiday, not
        against a working day it never reaches. The probability is the larger of two tails, each
        covering what the other leaves out: ``z = log(O / E) / sqrt(1/O + 1/T + S2)`` (the
        team's overdispersion), and the exact one of ``O`` given ``O + T``, binomial with
        ``U / (U + R)`` (small counts). Only busy hours are judged: at night the people a
        holiday keeps away are few, and what runs then (nightly jobs, colleagues elsewhere)
        does not take the holiday.
        """
        nothing = (math.nan, math.nan)
        s2 = self.overdispersion()
        if s2 != s2 or hour - 1 < self.first_hour:
            return nothing
        known = self._usual_day(hour, day_shift)
        if known is None:
            return nothing
        usual, mean = known
        if hour - 1 not in usual or min(usual[hour], usual[hour - 1]) < mean:
            return nothing
        counted = reference = 0.0
        earlier = hour - 2
        while earlier >= self.first_hour and usual.get(earlier, -1.0) >= mean:
            counted += self.counts[earlier % CEILING_RING_HOURS]
            reference += usual[earlier]
            earlier -= 1
        if reference <= 0.0:
            return nothing
        today, usual_today = counted + 0.5, reference + 0.5
        level = math.log(today / usual_today)
        if level + math.sqrt(1.0 / today + 1.0 / usual_today + s2) >= -LOG_OFF_DAY_RATIO:
            return nothing
        count = self._hours_sum(hour, 2)
        usual_now = usual[hour] + usual[hour - 1]
        expected = math.exp(level) * (usual_now + 0.5)
        observed = count + 0.5
        z = _log_ratio_z(observed, expected, today, s2)
        if z <= 0.0:
            return (1.0, expected)
        exact = binomial_upper_tail(
            round(count), round(count + counted), usual_now / (usual_now + reference)
        )
        return (max(exact, normal_upper_tail(z)), expected)

    def _usual_day(self, hour: int, day_shift: float) -> tuple[dict[int, float], float] | None:
        """The usual count of every hour of the local day of ``hour`` (the median of the same
        hour on recent working days) and the day's mean hour, the two busiest hours lowered to
        the third (None unless every hour has two references)."""
        day = _local_day(hour, day_shift)
        usual: dict[int, float] = {}
        for h in range(hour - HOURS_PER_DAY, hour + HOURS_PER_DAY):
            if _local_day(h, day_shift) == day:
                same_hours = self._references(h, day_shift, span=1)
                if len(same_hours) < 2:
                    return None
                usual[h] = statistics.median(same_hours)
        ranked = sorted(usual.values())
        cap = ranked[-WINSORISED_HOURS - 1]
        return usual, sum(min(u, cap) for u in ranked) / len(ranked)

    def _weekend_day(self, hour: int, day_shift: float) -> tuple[float, float, float]:
        """A weekend day's working hours so far against the same hours of recent working days:
        requests counted, requests usual, and how many hours, from the first of the day's
        working hours to ``hour`` (NaNs unless ``hour`` is one of them and not the first, or
        without references).

        The working hours are the day's longest run of busy hours, those whose usual count is
        at least the day's mean hour (as for a day off): a nightly job's hours are busy too,
        and it runs on weekends as on working days, but its run is shorter than a working day.
        """
        nothing = (math.nan, math.nan, math.nan)
        known = self._usual_day(hour, day_shift)
        if known is None:
            return nothing
        usual, mean = known
        first = length = 0
        run_start = -1
        for h in sorted(usual):
            if usual[h] < mean:
                run_start = -1
                continue
            if run_start < 0:
                run_start = h
            if h - run_start + 1 >= length:
                first, length = run_start, h - run_start + 1
        if not length or not first < hour < first + length or first < self.first_hour:
            return nothing
        span = range(first, hour + 1)
        counted = sum(self.counts[h % CEILING_RING_HOURS] for h in span)
        return float(counted), sum(usual[h] for h in span), float(len(span))

    def _learn_deviation(self, hour: int, day_shift: float) -> None:
        references = self._references(hour, day_shift)
        if not references:
            return
        observed = self._hours_sum(hour, 2) + 0.5
        reference = statistics.median(references) + 0.5
        log_ratio = math.log(observed / reference)
        if log_ratio + math.sqrt(1.0 / observed + 1.0 / reference) < -LOG_OFF_DAY_RATIO:
            # Below a third of its usual beyond counting noise: a day off (a holiday, an
            # outage), not the spread of the team's working days.
            return
        deviation = log_ratio**2 - 1.0 / observed - 1.0 / reference
        if len(references) < 2:
            # One working day against another: only until the hours against two or more are
            # enough (see ``overdispersion``).
            self.early_deviations[self.next_early] = deviation
            self.next_early = (self.next_early + 1) % MIN_DISPERSION_HOURS
            return
        self.deviations[self.next_deviation] = deviation
        self.next_deviation = (self.next_deviation + 1) % DISPERSION_HOURS

    def overdispersion(self) -> float:
        """The team's ``S2``: from the working hours judged against two or more earlier working
        days once there are ``MIN_DISPERSION_HOURS`` of them, until then with the hours judged
        against one (NaN while all of them are fewer)."""
        known = [d for d in self.deviations if d == d]
        if len(known) < MIN_DISPERSION_HOURS:
            known += [d for d in self.early_deviations if d == d]
            if len(known) < MIN_DISPERSION_HOURS:
                return math.nan
        return max(0.0, statistics.median(known)) / CHI2_1_MEDIAN

    def _weekend_z(self, hour: int, day_shift: float) -> float:
        """``z`` of a weekend ``hour`` (NaN while there are fewer than two working days or too
        few working hours to know ``S2``)."""
        if hour - 1 < self.first_hour:
            return math.nan
        references = self._references(hour, day_shift)
        s2 = self.overdispersion()
        if len(references) < 2 or s2 != s2:
            return math.nan
        observed = self._hours_sum(hour, 2) + 0.5
        ceiling = max(references) + 0.5
        return _log_ratio_z(observed, ceiling, ceiling, s2)

    def closed_counts(self, day_shift: float) -> tuple[float, float]:
        """The last closed hour's two-hour request count and its working-day ceiling (NaN
        without references)."""
        hour = self.hour - 1
        references = self._references(hour, day_shift)
        return self._hours_sum(hour, 2), max(references) if references else math.nan

    def to_plain(self) -> list[Any]:
        """Compact msgpack-able form."""
        return [
            self.counts.tobytes(),
            self.hour,
            self.first_hour,
            self.deviations.tobytes(),
            self.next_deviation,
            self.closed_z,
            list(self.closed_off),
            list(self.closed_evening),
            self.early_deviations.tobytes(),
            self.next_early,
            list(self.closed_weekend_day),
        ]

    @classmethod
    def from_plain(cls, plain: list[Any]) -> WorkingDayCeiling:
        """Inverse of :meth:`to_plain`."""
        ceiling = cls()
        ceiling.counts = array("f", plain[0])
        ceiling.hour, ceiling.first_hour = plain[1], plain[2]
        ceiling.deviations = array("f", plain[3])
        ceiling.next_deviation, ceiling.closed_z = plain[4], plain[5]
        if len(plain) > 6:
            ceiling.closed_off = (plain[6][0], plain[6][1])
        if len(plain) > 7:
            ceiling.closed_evening = (plain[7][0], plain[7][1], plain[7][2], plain[7][3])
        if len(plain) > 9:
            ceiling.early_deviations = array("f", plain[8])
            ceiling.next_early = plain[9]
        if len(plain) > 10:
            ceiling.closed_weekend_day = (plain[10][0], plain[10][1], plain[10][2])
        return ceiling


def _log_ratio_z(observed: float, expected: float, known: float, s2: float) -> float:
    """``log(observed / expected)`` in standard errors: Poisson terms for the observed count and
    for the count ``known`` the expectation was read from, and the overdispersion ``s2``."""
    return math.log(observed / expected) / math.sqrt(1.0 / observed + 1.0 / known + s2)


def _local_day(hour: int, day_shift: float) -> float:
    """The local day (days since the epoch) of UTC ``hour`` (hours since the epoch)."""
    return (hour * SECONDS_PER_HOUR + day_shift) // SECONDS_PER_DAY


def binomial_upper_tail(successes: int, trials: int, probability: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, probability), summed from ``successes`` up in
    log space (no underflow at thousands of trials); 1 at or below the mean.

    Examples
    --------
    >>> round(binomial_upper_tail(6, 7, 0.5), 4)  # 8 of 128
    0.0625
    >>> binomial_upper_tail(3000, 5000, 0.5) < 1e-40
    True
    """
    if successes > trials:
        return 0.0
    if successes <= trials * probability or probability <= 0.0:
        return 1.0
    if probability >= 1.0:
        return 1.0
    log_term = (
        math.lgamma(trials + 1)
        - math.lgamma(successes + 1)
        - math.lgamma(trials - successes + 1)
        + successes * math.log(probability)
        + (trials - successes) * math.log1p(-probability)
    )
    term, total, odds = math.exp(log_term), 0.0, probability / (1.0 - probability)
    for count in range(successes, trials + 1):
        total += term
        if term <= 1e-12 * total:
            break
        term *= (trials - count) / (count + 1) * odds
    return min(1.0, total)


def _day_off(value: float, reference: float) -> bool:
    """Whether a log rate ``value`` is below a third of its ``reference`` (False without one)."""
    return value < reference - LOG_OFF_DAY_RATIO


def cusum_threshold(average_run_length: float, drift: float = CUSUM_DRIFT) -> float:
    """The CUSUM threshold whose in-control average run length is ``average_run_length`` steps.

    Siegmund's approximation for standardised normal increments,
    ``ARL = (exp(2kb) - 2kb - 1) / (2k^2)`` with ``b = h + 1.166``, solved for ``h``.

    Examples
    --------
    >>> round(cusum_threshold(930.0, drift=0.5), 1)  # the textbook k = 0.5, h = 5
    5.0
    """
    low, high = 0.0, 100.0
    for _ in range(100):
        middle = 0.5 * (low + high)
        b = middle + 1.166
        arl = (math.exp(2 * drift * b) - 2 * drift * b - 1) / (2 * drift * drift)
        if arl < average_run_length:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)
