"""Per-user usage model: small, fast, and judged on volume relative to the user's own normal.

A team can have thousands of users, so a user costs a few floats and a few microseconds per window
in which they are active (an idle user costs nothing: decay is applied lazily from timestamps).

The statistic is the user's smoothed token rate divided by their own long-run mean rate ``M``
(idle time included). Over a short horizon (runaway agents) and a longer one (agent loops), its
upper tail is tracked with the same calibrated exponential tail as every other series
(:func:`detectors.robust.learn_tail_step`), so a user whose work comes in bursts gets a higher bar
than a steady one, and the bar corresponds to a target false-alarm rate. The ratio is used on a
linear scale: a smoothed Poisson-like rate has a tail close to exponential there, while an
exponential tail on a log scale (a Pareto tail) proved far too heavy, hiding 10x loops. The daily
cycle needs no profile here: working-hour peaks are part of the distribution the tail learns, and
only volume far beyond anything the user does counts.

What *is* kept per hour is when the user works: the number of distinct days they were active in
each weekday/weekend hour. That turns a finding into ``off_hours`` when it happens in hours the
user does not work, and costs 48 small counters.

Examples
--------
>>> user = UserModel(first_seen=0.0)
>>> horizons = UserHorizons()
>>> def window(minute, tokens):
...     step = user.observe(60.0 * minute, tokens, 1, 60.0, horizons)
...     user.learn(60.0 * minute, tokens, 1, 60.0, step, horizons, in_alarm=False)
...     return step
>>> steady = [window(m, 1_000.0 + 500.0 * (m % 3)) for m in range(1, 3000)]
>>> max(step.tail_probability for step in steady[-1000:]) > 1e-3
True
>>> [window(m, 40_000.0).tail_probability < 1e-6 for m in range(3000, 3003)]
[False, False, True]
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import Any

from detectors.robust import (
    SEASONAL_BINS,
    SECONDS_PER_DAY,
    TAIL_EXCEEDANCE,
    learn_tail_step,
    seasonal_bin,
)

LN2 = math.log(2.0)
# The tails start at "twice the usual rate, give or take one usual rate" and learn the real spread.
INITIAL_TAIL_QUANTILE = 2.0
INITIAL_MEAN_EXCESS = 1.0


@dataclass(frozen=True, slots=True)
class UserHorizons:
    """Time constants and calibration of the user model.

    Parameters
    ----------
    short_tau, long_tau
        Smoothing time constants (seconds) of the two rates.
    mean_half_life
        Half-life (seconds) of the long-run mean rate ``M``.
    tail_rate
        Quantile-tracker step per tail update (the tail learns once per time constant).
    """

    short_tau: float = 300.0
    long_tau: float = 3600.0
    mean_half_life: float = 7 * SECONDS_PER_DAY
    tail_rate: float = 0.03


@dataclass(frozen=True, slots=True)
class UserStep:
    """A user's scored window: ratios to the usual rate and the tail probability."""

    short_ratio: float
    long_ratio: float
    tail_probability: float
    short_probability: float
    long_probability: float


class UserModel:
    """Two smoothed rates, the long-run mean, two calibrated tails and an activity calendar."""

    __slots__ = (
        "active_days",
        "active_windows",
        "first_seen",
        "last_active_day",
        "last_end",
        "long_excess",
        "long_q",
        "long_rate",
        "long_tail_at",
        "mean_rate",
        "short_excess",
        "short_q",
        "short_rate",
        "short_tail_at",
        "tokens_per_request",
    )

    def __init__(self, first_seen: float) -> None:
        self.first_seen = first_seen
        self.active_windows = 0
        self.last_end = math.nan
        self.short_rate = 0.0
        self.long_rate = 0.0
        self.mean_rate = math.nan
        self.short_q = INITIAL_TAIL_QUANTILE
        self.short_excess = INITIAL_MEAN_EXCESS
        self.long_q = INITIAL_TAIL_QUANTILE
        self.long_excess = INITIAL_MEAN_EXCESS
        self.short_tail_at = -math.inf
        self.long_tail_at = -math.inf
        self.tokens_per_request = math.nan
        self.active_days = bytearray(SEASONAL_BINS)
        self.last_active_day = array("H", bytes(2 * SEASONAL_BINS))

    def observe(
        self, end: float, tokens: float, requests: int, width: float, horizons: UserHorizons
    ) -> UserStep:
        """Score the user's window ending at ``end``; :meth:`learn` must follow."""
        if self.last_end != self.last_end:
            self.mean_rate = tokens
            self.last_end = end - width
        elapsed = end - self.last_end
        keep_short = math.exp(-elapsed / horizons.short_tau)
        keep_long = math.exp(-elapsed / horizons.long_tau)
        self.short_rate = (
            self.short_rate * keep_short + (1.0 - math.exp(-width / horizons.short_tau)) * tokens
        )
        self.long_rate = (
            self.long_rate * keep_long + (1.0 - math.exp(-width / horizons.long_tau)) * tokens
        )
        usual = max(self.mean_rate, 1e-9)
        short_ratio = self.short_rate / usual
        long_ratio = self.long_rate / usual
        short_p = _tail_probability(short_ratio, self.short_q, self.short_excess)
        long_p = _tail_probability(long_ratio, self.long_q, self.long_excess)
        return UserStep(short_ratio, long_ratio, min(short_p, long_p), short_p, long_p)

    def learn(
        self,
        end: float,
        tokens: float,
        requests: int,
        width: float,
        step: UserStep,
        horizons: UserHorizons,
        in_alarm: bool,
    ) -> None:
        """Learn the window :meth:`observe` scored; an alarming window teaches nothing."""
        elapsed = end - self.last_end
        self.last_end = end
        self.active_windows += 1
        if in_alarm:
            return
        # The mean decays over the idle gap (zeros) and then takes this window's amount.
        # A young user's mean is the plain average since first seen, idle windows included.
        age_in_windows = max((end - self.first_seen) / width, 1.0)
        idle = max(elapsed - width, 0.0)
        self.mean_rate *= min(
            math.exp(-LN2 * idle / horizons.mean_half_life), 1.0 - idle / (end - self.first_seen)
        )
        weight = max(1.0 - math.exp(-LN2 * width / horizons.mean_half_life), 1.0 / age_in_windows)
        self.mean_rate += weight * (tokens - self.mean_rate)
        if end - self.short_tail_at >= horizons.short_tau:
            self.short_tail_at = end
            self.short_q, self.short_excess = learn_tail_step(
                self.short_q,
                self.short_excess,
                step.short_ratio,
                horizons.tail_rate,
            )
        if end - self.long_tail_at >= horizons.long_tau:
            self.long_tail_at = end
            self.long_q, self.long_excess = learn_tail_step(
                self.long_q, self.long_excess, step.long_ratio, horizons.tail_rate
            )
        if requests > 0 and tokens > 0:
            ratio = math.log(tokens / requests)
            if self.tokens_per_request != self.tokens_per_request:
                self.tokens_per_request = ratio
            else:
                self.tokens_per_request += 0.02 * (ratio - self.tokens_per_request)
        day = int(end // SECONDS_PER_DAY) % 65_536
        b = seasonal_bin(end - width)
        if self.last_active_day[b] != day:
            self.last_active_day[b] = day
            self.active_days[b] = min(self.active_days[b] + 1, 255)

    def active_fraction(self, end: float, width: float) -> float:
        """Share of the windows since first seen in which the user was active."""
        age_in_windows = max((end - self.first_seen) / width, 1.0)
        return min(1.0, max(self.active_windows, 1) / age_in_windows)

    def works_at(self, ts: float) -> bool:
        """Whether the user has been active in this hour (weekday/weekend) on two days or more."""
        return self.active_days[seasonal_bin(ts)] >= 2

    def context_ratio(self, tokens: float, requests: int) -> float:
        """Tokens per request in this window relative to the user's usual."""
        if requests <= 0 or tokens <= 0 or self.tokens_per_request != self.tokens_per_request:
            return 1.0
        return math.exp(math.log(tokens / requests) - self.tokens_per_request)

    # ------------------------------------------------------------------------------------ state
    def to_plain(self) -> list[Any]:
        """Compact msgpack-able form."""
        return [
            self.first_seen,
            self.active_windows,
            self.last_end,
            self.short_rate,
            self.long_rate,
            self.mean_rate,
            self.short_q,
            self.short_excess,
            self.long_q,
            self.long_excess,
            self.short_tail_at,
            self.long_tail_at,
            self.tokens_per_request,
            bytes(self.active_days),
            self.last_active_day.tobytes(),
        ]

    @classmethod
    def from_plain(cls, plain: list[Any]) -> UserModel:
        """Inverse of :meth:`to_plain`."""
        user = cls(plain[0])
        user.active_windows = plain[1]
        (
            user.last_end,
            user.short_rate,
            user.long_rate,
            user.mean_rate,
            user.short_q,
            user.short_excess,
            user.long_q,
            user.long_excess,
            user.short_tail_at,
            user.long_tail_at,
            user.tokens_per_request,
        ) = plain[2:13]
        user.active_days = bytearray(plain[13])
        days = array("H")
        days.frombytes(plain[14])
        user.last_active_day = days
        return user


def _tail_probability(value: float, quantile: float, mean_excess: float) -> float:
    # The exponential tail, continued below the quantile only to keep scores monotone.
    return min(1.0, TAIL_EXCEEDANCE * math.exp(-(value - quantile) / mean_excess))
