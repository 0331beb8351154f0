"""A robust seasonal baseline with a calibrated tail: the building block of every detector here.

A :class:`RobustSeries` follows one (already transformed, e.g. log-scale) series. It predicts each
value as ``level + profile[bin]``, where the bin is the hour of day split into weekdays and
weekends, and keeps a robust residual scale per bin. Learning is *clipped*: a residual enters the
level, the profile and the scale only up to ``clip`` scales, so an outlier or an incident moves the
baseline by a bounded amount per step instead of poisoning it.

The residual divided by the scale is a z-score whose null distribution is rarely Gaussian (counts,
bursts, heavy tails). Rather than trusting a fixed z threshold, each series tracks the 95 %
quantile of its own z-scores and the mean excess above it; above that quantile the tail is modelled
as exponential (the peaks-over-threshold view with shape zero). A target false-alarm probability
per step then converts to a threshold, and any z converts to a tail probability. The tail is
learned only from steps that are not in alarm, so an incident cannot raise its own threshold.

Examples
--------
>>> params = SeriesParams(level_half_life=3600.0, profile_memory=7 * 3600.0)
>>> series = RobustSeries.fresh(params)
>>> for minute in range(600):
...     series.learn(60.0 * minute, 1.0 + 0.1 * ((minute * 7) % 5 - 2), 60.0)
>>> result = series.score(600 * 60.0, 4.0)
>>> result.z > 10, result.tail_probability < 1e-6
(True, True)
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86_400.0
# Weekday and weekend profiles of 24 hours each: enough to learn daily and weekly cycles within a
# few days of history, where 168 hour-of-week bins would need weeks.
SEASONAL_BINS = 48
HOURS_PER_DAY = 24

TAIL_QUANTILE = 0.95
TAIL_EXCEEDANCE = 1.0 - TAIL_QUANTILE
# The 95 % quantile and the mean excess above it of a standard normal: the prior of the tail.
NORMAL_Q95 = 1.6448536269514722
NORMAL_MEAN_EXCESS_95 = 0.4178
# Steps a series learns before its z-scores inform its tail (its scale is still settling).
MIN_STEPS_FOR_TAIL = 10
# Excesses rarer than this under the current tail are not learned: they are the anomalies the tail
# is there to judge, and learning them would let a slowly building incident raise its own bar.
TAIL_GUARD_PROBABILITY = 1e-3
TAIL_GUARD_EXCESSES = math.log(TAIL_EXCEEDANCE / TAIL_GUARD_PROBABILITY)
# The mean of an exponential truncated at the guard is this fraction of the untruncated mean.
TRUNCATED_MEAN_FRACTION = 1.0 - TAIL_GUARD_EXCESSES * math.exp(-TAIL_GUARD_EXCESSES) / (
    1.0 - math.exp(-TAIL_GUARD_EXCESSES)
)
EXCESS_LEARNING_RATE = 0.05
# A bin's scale learns this many times faster than its mean (two days of memory instead of a
# week by default).
SCALE_MEMORY_FRACTION = 3.5
# Values beyond the tail guard are learned with this share of the usual weight.
OUTLIER_LEARNING_SHARE = 0.1
# Weight, in steps, of the series-wide scale in a bin's scale.
SCALE_PRIOR_STEPS = 10
# Mean absolute deviation of a normal is sigma * sqrt(2 / pi); this turns it back into sigma.
MEAN_ABS_TO_SIGMA = math.sqrt(math.pi / 2.0)
# The mean of max(X, 0) of a normal is sigma / sqrt(2 pi).
UPPER_MEAN_TO_SIGMA = math.sqrt(2.0 * math.pi)


@lru_cache(maxsize=8192)
def seasonal_bin(ts: float, day_shift: float = 0.0) -> int:
    """Hour of day (UTC), offset by 24 on Saturdays and Sundays of the series' own days.

    ``day_shift`` (seconds, whole hours) is the series' offset from UTC: it decides which day an
    hour belongs to, so that a team's weekend starts at its own midnight. The hour of the bin
    stays the UTC hour: with a fixed offset, each UTC hour is one local hour.

    Examples
    --------
    >>> seasonal_bin(0.0)  # Thursday 1970-01-01 00:00 UTC
    0
    >>> seasonal_bin(2 * 86_400.0 + 13 * 3600.0)  # Saturday 13:00
    37
    >>> seasonal_bin(2 * 86_400.0 + 1 * 3600.0)  # Saturday 01:00 UTC
    25
    >>> seasonal_bin(2 * 86_400.0 + 1 * 3600.0, -8 * 3600.0)  # still Friday 17:00 at UTC-8
    1
    """
    days = ts // SECONDS_PER_DAY
    hour = int((ts - days * SECONDS_PER_DAY) // SECONDS_PER_HOUR)
    return hour + HOURS_PER_DAY if is_weekend(ts, day_shift) else hour


def is_weekend(ts: float, day_shift: float = 0.0) -> bool:
    """Whether ``ts`` falls on a Saturday or a Sunday of days that start ``day_shift`` seconds
    after UTC's (not cached, unlike :func:`seasonal_bin`).

    Examples
    --------
    >>> is_weekend(2 * 86_400.0 + 1 * 3600.0), is_weekend(2 * 86_400.0 + 1 * 3600.0, -8 * 3600.0)
    (True, False)
    """
    return int((ts + day_shift) // SECONDS_PER_DAY + 3) % 7 >= 5  # 1970-01-01 was a Thursday


def day_type_bins(hour: int) -> tuple[int, int]:
    """The weekday bin and the weekend bin of an hour of day.

    Examples
    --------
    >>> day_type_bins(7)
    (7, 31)
    """
    return hour, hour + HOURS_PER_DAY


def other_day_type_bin(b: int) -> int:
    """The bin of the same hour of day on the other day type (weekend for a weekday bin and
    vice versa).

    Examples
    --------
    >>> other_day_type_bin(7), other_day_type_bin(31)
    (31, 7)
    """
    return (b + HOURS_PER_DAY) % SEASONAL_BINS


def normal_quantile_upper(p: float) -> float:
    """The z with upper-tail probability ``p`` under a standard normal (error below 5e-4).

    Abramowitz and Stegun 26.2.23; fast enough to call once per scored step.

    Examples
    --------
    >>> round(normal_quantile_upper(0.05), 2), round(normal_quantile_upper(1e-6), 2)
    (1.65, 4.75)
    """
    if p >= 0.5:
        return -normal_quantile_upper(1.0 - p) if p < 1.0 else -8.0
    p = max(p, 1e-300)
    t = math.sqrt(-2.0 * math.log(p))
    numerator = 2.515517 + 0.802853 * t + 0.010328 * t * t
    denominator = 1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t
    return t - numerator / denominator


def normal_upper_tail(z: float) -> float:
    """The upper-tail probability of ``z`` under a standard normal.

    >>> normal_upper_tail(0.0), round(normal_upper_tail(normal_quantile_upper(1e-3)), 4)
    (0.5, 0.001)
    """
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def student_t_upper_tail(t: float, dof: int) -> float:
    """The upper-tail probability of ``t`` under Student's t with ``dof`` (a positive integer)
    degrees of freedom, from the finite series of Abramowitz and Stegun (26.7.3, 26.7.4).

    >>> round(student_t_upper_tail(2.228, 10), 4), student_t_upper_tail(0.0, 3)
    (0.025, 0.5)
    >>> student_t_upper_tail(4.0, 5) > normal_upper_tail(4.0)
    True
    """
    if dof < 1:
        raise ValueError(f"dof must be a positive integer, got {dof}")
    theta = math.atan2(abs(t), math.sqrt(dof))
    cos2 = math.cos(theta) ** 2
    if dof % 2:
        term = series = 1.0
        for k in range(1, (dof - 1) // 2):
            term *= cos2 * (2 * k) / (2 * k + 1)
            series += term
        inside = theta + (math.sin(theta) * math.cos(theta) * series if dof > 1 else 0.0)
        inside *= 2.0 / math.pi
    else:
        term = series = 1.0
        for k in range(1, dof // 2):
            term *= cos2 * (2 * k - 1) / (2 * k)
            series += term
        inside = math.sin(theta) * series
    upper = 0.5 * max(0.0, 1.0 - inside)
    return upper if t >= 0.0 else 1.0 - upper


def decay_weight(elapsed: float, half_life: float) -> float:
    """Weight of a new observation in an exponentially weighted mean after ``elapsed``."""
    if half_life <= 0.0:
        return 1.0
    return 1.0 - math.exp(-math.log(2.0) * max(elapsed, 0.0) / half_life)


def learn_tail_step(
    quantile: float,
    mean_excess: float,
    z: float,
    rate: float,
    *,
    relative: bool = False,
    lowest_quantile: float = 0.5,
    guarded: bool = True,
) -> tuple[float, float]:
    """One step of the tail learner: a Robbins-Monro step of the 95 % quantile and a guarded,
    truncation-corrected exponentially weighted mean of the excesses above it.

    ``guarded=False`` learns every excess, for a tail known to be too light (its guard is
    crossed far more often than it should be).

    ``relative`` makes the quantile's steps proportional to the quantile itself, for positive
    statistics of unknown scale (ratios): the tracker then reaches 12 from 2 in a few dozen
    steps instead of hundreds.

    Examples
    --------
    >>> q, m = NORMAL_Q95, NORMAL_MEAN_EXCESS_95
    >>> learn_tail_step(q, m, 50.0, 0.01)[1] == m  # far beyond the guard: not learned
    True
    """
    step = rate * quantile if relative else rate
    if z > quantile:
        excess = z - quantile
        quantile += step * TAIL_QUANTILE
        if not guarded:
            mean_excess += EXCESS_LEARNING_RATE * (excess - mean_excess)
        elif excess <= TAIL_GUARD_EXCESSES * mean_excess:
            mean_excess += EXCESS_LEARNING_RATE * (excess / TRUNCATED_MEAN_FRACTION - mean_excess)
    else:
        quantile -= step * TAIL_EXCEEDANCE
    return max(quantile, lowest_quantile), max(mean_excess, 0.05)


def exponential_tail_probability(value: float, quantile: float, mean_excess: float) -> float:
    """Tail probability of ``value`` under an exponential tail above a 95 % quantile, continued
    below the quantile only to keep scores monotone (capped at 1).

    Examples
    --------
    >>> round(exponential_tail_probability(1.0, 1.0, 0.5), 3)  # at the quantile
    0.05
    >>> exponential_tail_probability(0.0, 2.0, 0.5)  # far below the quantile
    1.0
    """
    return min(1.0, TAIL_EXCEEDANCE * math.exp(-(value - quantile) / mean_excess))


def calibrated_score(tail_probability: float, target_probability: float) -> float:
    """Map a tail probability to [0, 1]: 0.5 exactly at the target, towards 1 as it shrinks.

    The map is ``s² / (s² + b²)`` with surprise ``s = -log p`` and budget ``b = -log target``:
    monotone in ``p``, so rankings are those of the tail probabilities.

    Examples
    --------
    >>> calibrated_score(1e-4, 1e-4), calibrated_score(1.0, 1e-4) == 0.0
    (0.5, True)
    """
    surprise = -math.log(max(tail_probability, 1e-300))
    budget = -math.log(target_probability)
    if surprise <= 0.0:
        return 0.0
    return surprise * surprise / (surprise * surprise + budget * budget)


@dataclass(frozen=True, slots=True)
class SeriesParams:
    """How a :class:`RobustSeries` learns.

    Parameters
    ----------
    level_half_life
        Seconds after which the level has forgotten half of what it knew: short enough to follow
        organic growth, long enough that a slow ramp of a day or two stays visible.
    profile_memory
        Seconds of a seasonal bin's own time (the bin covers one hour a day) that its estimate
        averages over; a week of per-minute steps is ``7 * 3600``.
    scale_floor
        Smallest residual scale, in the units of the series, so that a perfectly flat history does
        not turn the first wiggle into an infinite z.
    clip
        Residuals enter learning only up to this many scales (Huber-style robustness).
    tail_rate
        Step of the stochastic-approximation tracker of the 95 % quantile of z.
    upper_scale
        Estimate the scale from residuals above the expectation only (the upper
        semi-deviation): for detectors of excess, a holiday or an outage (a drop) then does not
        widen the band that excesses are judged against.
    day_shift
        Offset from UTC (seconds, whole hours) of the days the weekday/weekend profiles follow
        (see :func:`seasonal_bin`).
    """

    level_half_life: float
    profile_memory: float
    scale_floor: float = 0.05
    clip: float = 2.5
    tail_rate: float = 0.01
    upper_scale: bool = False
    day_shift: float = 0.0


@dataclass(frozen=True, slots=True)
class StepResult:
    """What a :class:`RobustSeries` made of one value, scored before it learned the value."""

    expected: float
    scale: float
    z: float
    tail_probability: float


class RobustSeries:
    """Level, 48-bin seasonal profile, per-bin robust scale and tail of one series."""

    __slots__ = (
        "bin_scale",
        "count",
        "level",
        "params",
        "profile",
        "profile_count",
        "scale",
        "tail_excess",
        "tail_q",
    )

    def __init__(self, params: SeriesParams) -> None:
        self.params = params
        self.level = math.nan
        self.scale = params.scale_floor
        self.profile = array("d", bytes(8 * SEASONAL_BINS))
        self.bin_scale = array("d", bytes(8 * SEASONAL_BINS))
        self.profile_count = array("H", bytes(2 * SEASONAL_BINS))
        self.tail_q = NORMAL_Q95
        self.tail_excess = NORMAL_MEAN_EXCESS_95
        self.count = 0

    @classmethod
    def fresh(cls, params: SeriesParams) -> RobustSeries:
        """A series that has seen nothing."""
        return cls(params)

    # ----------------------------------------------------------------------------------- scoring
    def reference_bin(self, b: int) -> int:
        """The bin whose estimates stand in for bin ``b``.

        A seen bin stands for itself. An unseen bin borrows the same hour of the other day type (a
        first weekend looks like weekdays, which is safe: weekends are quieter and drops never
        alert), else the previous hour, so a young series does not jump at every hour boundary.
        """
        counts = self.profile_count
        if counts[b]:
            return b
        other = other_day_type_bin(b)
        if counts[other]:
            return other
        previous = b - 1 if b % HOURS_PER_DAY else b + HOURS_PER_DAY - 1
        return previous if counts[previous] else b

    def neighbour(self, ts: float, b: int) -> tuple[int, float]:
        """The adjacent hour of ``ts`` (same day type) and its weight in a linear interpolation.

        Hour bins are centred on the half hour; interpolating between them follows a morning
        ramp within the hour instead of treating it as noise around a step.
        """
        position = (ts % SECONDS_PER_HOUR) / SECONDS_PER_HOUR - 0.5
        hour = b % HOURS_PER_DAY
        other = (hour + (1 if position >= 0.0 else -1)) % HOURS_PER_DAY + (b - hour)
        other = self.reference_bin(other)
        if not self.profile_count[other]:
            return b, 0.0
        return other, abs(position)

    def expected_at(self, ts: float) -> tuple[float, float]:
        """Expected value and residual scale at ``ts``."""
        b = self.reference_bin(seasonal_bin(ts, self.params.day_shift))
        seen = self.profile_count[b]
        if not seen:
            return self.level, max(self.scale, self.params.scale_floor)
        other, share = self.neighbour(ts, b)
        # Shrink a young bin's scale towards the series-wide one: a few points say little.
        bin_scale = self.bin_scale[b]
        global_scale = self.scale
        blended = (
            seen * bin_scale * bin_scale + SCALE_PRIOR_STEPS * global_scale * global_scale
        ) / (seen + SCALE_PRIOR_STEPS)
        # Comparisons in the order ``max`` makes them, without its call on this hot path.
        scale = math.sqrt(blended)
        half_global = 0.5 * global_scale
        if half_global > scale:
            scale = half_global
        floor = self.params.scale_floor
        if floor > scale:
            scale = floor
        offset = (1.0 - share) * self.profile[b] + share * self.profile[other]
        return self.level + offset, scale

    def tail_probability(self, z: float) -> float:
        """Probability of a z at least this large under the series' own null tail."""
        if z <= self.tail_q:
            # Below the tracked quantile: interpolate on the normal scale, enough for ranking.
            reference = z * NORMAL_Q95 / max(self.tail_q, 1e-6)
            return normal_upper_tail(reference)
        return TAIL_EXCEEDANCE * math.exp(-(z - self.tail_q) / max(self.tail_excess, 1e-3))

    def threshold(self, target_probability: float) -> float:
        """The z whose tail probability is ``target_probability``."""
        return self.tail_q + self.tail_excess * math.log(TAIL_EXCEEDANCE / target_probability)

    def score(self, ts: float, value: float) -> StepResult:
        """Score ``value`` at ``ts`` against what was learned so far, without learning it."""
        if self.count == 0:
            return StepResult(value, self.params.scale_floor, 0.0, 1.0)
        expected, scale = self.expected_at(ts)
        z = (value - expected) / scale
        return StepResult(expected, scale, z, self.tail_probability(z))

    # ---------------------------------------------------------------------------------- learning
    def learn(
        self,
        ts: float,
        value: float,
        elapsed: float,
        *,
        learn_tail: bool = True,
        weight: float = 1.0,
    ) -> None:
        """Learn ``value`` observed at ``ts``, ``elapsed`` seconds after the previous one.

        ``weight`` counts how many observations this one stands for (a summary of a gap);
        ``learn_tail`` is off while the series is in alarm so an incident cannot hide itself.
        """
        params = self.params
        b = seasonal_bin(ts, self.params.day_shift)
        if self.count == 0:
            self.level = value
            self.profile_count[b] = 1
            self.count = 1
            return
        expected, scale = self.expected_at(ts)
        residual = value - expected
        # A young series does not know its scale yet: clipping would only slow it down.
        limit = params.clip * scale if self.count >= MIN_STEPS_FOR_TAIL else math.inf
        clipped = limit if residual > limit else (-limit if residual < -limit else residual)
        seen = self.profile_count[b]
        # A bin in its first hour of values started from another hour's estimate: its residuals
        # are that guess's error, not news. The bin learns them whole (no clip, no guard); the
        # level, shared by every hour, learns them as before.
        judged = seen * elapsed >= SECONDS_PER_HOUR
        bin_residual = clipped if judged else residual
        # Early on a plain running mean: a young series must not keep its first guess for a
        # half-life.
        # The max/min below are spelled as comparisons in the order the builtins make them: same
        # results, without a builtin call each on the detector's hottest path.
        level_weight = decay_weight(elapsed * weight, params.level_half_life)
        running_mean_weight = weight / (self.count + weight)
        if running_mean_weight > level_weight:
            level_weight = running_mean_weight
        young_bin_weight = weight / (seen + weight)
        memory_share = elapsed * weight / params.profile_memory
        profile_weight = young_bin_weight
        bounded_share = memory_share if memory_share < 1.0 else 1.0
        if bounded_share > profile_weight:
            profile_weight = bounded_share
        # Scales forget faster than means: a noisy first day must not set the bar for a week.
        scale_share = SCALE_MEMORY_FRACTION * elapsed * weight / params.profile_memory
        scale_weight = young_bin_weight
        bounded_share = scale_share if scale_share < 1.0 else 1.0
        if bounded_share > scale_weight:
            scale_weight = bounded_share
        if self.count >= MIN_STEPS_FOR_TAIL and abs(residual) > scale * self.threshold(
            TAIL_GUARD_PROBABILITY
        ):
            # Beyond the guard: most likely an anomaly. It still nudges the baseline (a lasting
            # change must eventually be learned) but a tenth as much as a normal value.
            level_weight *= OUTLIER_LEARNING_SHARE
            scale_weight *= OUTLIER_LEARNING_SHARE
            if judged:
                profile_weight *= OUTLIER_LEARNING_SHARE
        if seen == 0:
            # Start the bin from what the borrowed bin predicted, not from zero.
            reference = self.reference_bin(b)
            if reference != b:
                self.profile[b] = self.profile[reference]
                self.bin_scale[b] = self.bin_scale[reference]
            else:
                self.bin_scale[b] = self.scale
        self.level += level_weight * clipped
        seasonal_part = bin_residual - level_weight * clipped
        other, share = self.neighbour(ts, b) if seen else (b, 0.0)
        self.profile[b] += profile_weight * (1.0 - share) * seasonal_part
        if share > 0.0:
            other_seen = self.profile_count[other]
            other_weight = max(
                weight / (other_seen + weight),
                min(1.0, elapsed * weight / params.profile_memory),
            )
            self.profile[other] += other_weight * share * seasonal_part
        # Winsorised after conversion to a sigma, so that a run of large residuals can pull the
        # scale up by at most ``clip`` times itself, never geometrically.
        if params.upper_scale:
            deviation = min(max(residual, 0.0) * UPPER_MEAN_TO_SIGMA, limit)
        else:
            deviation = min(abs(residual) * MEAN_ABS_TO_SIGMA, limit)
        self.bin_scale[b] += scale_weight * (deviation - self.bin_scale[b])
        self.scale += level_weight * (deviation - self.scale)
        self.profile_count[b] = min(seen + max(1, round(weight)), 65_000)
        self.count += 1
        if learn_tail and self.count > MIN_STEPS_FOR_TAIL:
            self.tail_q, self.tail_excess = learn_tail_step(
                self.tail_q, self.tail_excess, residual / scale, params.tail_rate
            )

    def forget_hours(self, hours: Iterable[int]) -> None:
        """Forget what the bins of these hours of day (weekday and weekend) learned: they
        relearn from their next value as if never seen."""
        for hour in hours:
            for b in day_type_bins(hour):
                self.profile[b] = 0.0
                self.bin_scale[b] = self.scale
                self.profile_count[b] = 0

    def shift_level(self, delta: float) -> None:
        """Accept a change point: move the level by ``delta`` (the new regime's mean offset)."""
        self.level += delta

    # ---------------------------------------------------------------------------------- state
    def to_plain(self) -> list[Any]:
        """A compact msgpack-able form (arrays as raw bytes, exact so a restore changes nothing)."""
        return [
            self.level,
            self.scale,
            self.tail_q,
            self.tail_excess,
            self.count,
            self.profile.tobytes(),
            self.bin_scale.tobytes(),
            self.profile_count.tobytes(),
        ]

    @classmethod
    def from_plain(cls, params: SeriesParams, plain: list[Any]) -> RobustSeries:
        """Inverse of :meth:`to_plain`."""
        series = cls(params)
        series.level, series.scale, series.tail_q, series.tail_excess, series.count = plain[:5]
        series.profile = array("d", plain[5])
        series.bin_scale = array("d", plain[6])
        counts = array("H")
        counts.frombytes(plain[7])
        series.profile_count = counts
        return series


class TailTracker:
    """The exponential upper tail of a score: its 95 % quantile and mean excess above it.

    Examples
    --------
    >>> tracker = TailTracker()
    >>> round(tracker.threshold(1e-4), 2)  # an exponential tail on the normal prior
    4.24
    """

    __slots__ = ("excess", "quantile", "rate")

    def __init__(self, rate: float = 0.01) -> None:
        self.rate = rate
        self.quantile = NORMAL_Q95
        self.excess = NORMAL_MEAN_EXCESS_95

    def probability(self, z: float) -> float:
        """Tail probability of ``z``."""
        if z <= self.quantile:
            reference = z * NORMAL_Q95 / max(self.quantile, 1e-6)
            return normal_upper_tail(reference)
        return TAIL_EXCEEDANCE * math.exp(-(z - self.quantile) / max(self.excess, 1e-3))

    def threshold(self, target_probability: float) -> float:
        """The z whose tail probability is ``target_probability``."""
        return self.quantile + self.excess * math.log(TAIL_EXCEEDANCE / target_probability)

    def learn(self, z: float) -> None:
        """Move the quantile and the mean excess towards ``z``'s evidence."""
        self.quantile, self.excess = learn_tail_step(self.quantile, self.excess, z, self.rate)
