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
from dataclasses import dataclass
from typing import Any

from detectors.robust import (
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    RobustSeries,
    SeriesParams,
    StepResult,
)

# Tails learn at least this often, even for slow series: a two-hour time constant would otherwise
# leave a few dozen samples in the first days, too few to know the tail.
MAX_TAIL_INTERVAL_SECONDS = 600.0
# Gaps longer than this are summarised by their last two days only: older hours add nothing the
# profile would not learn again.
MAX_GAP_SUMMARY_SECONDS = 2 * SECONDS_PER_DAY


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
    """

    tau: float
    series: SeriesParams
    floor_fraction: float = 0.05
    mean_half_life: float = 7 * SECONDS_PER_DAY


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
        return max(params.floor_fraction * mean, 1e-9)

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
