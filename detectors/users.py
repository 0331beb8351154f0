"""Per-user usage model: small, fast, and judged on volume relative to the user's own normal.

A team can have thousands of users, so a user costs a few dozen floats and a few microseconds per
window in which they are active (an idle user costs nothing: decay is applied lazily from
timestamps).

Two quantities are followed, each as its smoothed rate divided by the user's own long-run mean
rate (idle time included), over a short horizon (runaway agents) and a longer one (agent loops):

* **requests** — counts are close to Poisson, so the ratio's upper tail is close to exponential and
  is modelled as such on a linear scale: a loop at 10x the user's normal volume stands out fast;
* **tokens** — request sizes are heavy-tailed (one huge context is normal), so the tail is modelled
  as exponential on ``log(1 + ratio)``, i.e. a Pareto tail: only volume far beyond anything the user
  does counts, which is what a runaway agent with huge contexts produces.

Each of the four statistics has its own calibrated tail (:func:`detectors.robust.learn_tail_step`:
a tracked 95 % quantile and the mean excess above it), so a bursty user gets a higher bar than a
steady one, and the bar corresponds to a target false-alarm rate. The daily cycle needs no profile
here: working-hour peaks are part of the distribution the tails learn. A long-horizon statistic
only counts while its short-horizon twin is above its own 95 % quantile: the smoothed rate of an
incident that has just ended stays high for an hour, and that is not a reason to keep alarming.

A third, the **size of the user's requests**, is followed for runaway agents at a busy user's
usual pace: the log tokens per request of their recent active windows over their usual, judged
once two windows in a row had a runaway agent's contexts, against a tail pooled over the team
(:meth:`UserModel.context_statistic`).

What *is* kept per hour is when the user works: the number of distinct days they were active in
each weekday/weekend hour. That turns a finding into ``off_hours`` when it happens in hours the
user does not work, and costs 48 small counters.

Examples
--------
>>> user = UserModel(first_seen=0.0)
>>> horizons = UserHorizons()
>>> def window(minute, tokens, requests):
...     step = user.observe(60.0 * minute, tokens, requests, 60.0, horizons)
...     user.learn(60.0 * minute, tokens, requests, 60.0, step, horizons, in_alarm=False)
...     return step
>>> steady = [window(m, 1_000.0 + 500.0 * (m % 3), 1 + m % 2) for m in range(1, 3000)]
>>> max(step.tail_probability for step in steady[-1000:]) > 1e-3
True
>>> [window(m, 40_000.0, 30).tail_probability < 1e-5 for m in range(3000, 3004)]
[False, False, True, True]
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import Any

from detectors.robust import (
    HOURS_PER_DAY,
    NORMAL_MEAN_EXCESS_95,
    SEASONAL_BINS,
    SECONDS_PER_DAY,
    TAIL_EXCEEDANCE,
    exponential_tail_probability,
    learn_tail_step,
    other_day_type_bin,
    seasonal_bin,
)

LN2 = math.log(2.0)
# Priors of the tails. Requests (linear ratio): "twice the usual rate, give or take one usual
# rate". Tokens (log(1 + ratio)): "three times the usual, with a normal-like spread above".
REQUESTS_PRIOR = (2.0, 1.0)
# A user alarms only once their tail rests on this many active five-minute periods (about 5 of
# them beyond the 95 % quantile): a newcomer's first busy days are what the tail is learned from.
MIN_TAIL_SAMPLES = 100
# Tails start learning once the mean rate they divide by covers a day (and the hour profile
# has begun): ratios to a younger mean are noise whose excesses would take weeks to forget.
TAIL_LEARNING_AGE = SECONDS_PER_DAY
# An hour's profile counts once it has been seen on this many days.
PROFILE_MIN_DAYS = 2
# Slowest learning rate of a profile hour: about the last five days of that hour.
PROFILE_WEIGHT = 0.2
TOKENS_PRIOR = (math.log(3.0), NORMAL_MEAN_EXCESS_95)
# Completed days whose request totals a user's day volume is compared with.
DAYS_OF_TOTALS = 7
# The context size (tokens per request) of the short horizon is judged only when that horizon
# holds at least this many requests: the mean size of a handful of requests says little.
CONTEXT_MIN_REQUESTS = 5.0
# Active windows in a row with a runaway agent's contexts before the context size is judged.
CONTEXT_MIN_STREAK = 2
# A user's usual cost per token moves this share of the way to each active window's smoothed
# cost per token (the log of the ratio of their smoothed cost and tokens), so its memory is about
# a hundred active windows (half a busy user's day, a sparse user's week); each step is clipped
# at ``USUAL_PRICE_STEP`` log units (a factor of e), so an hour on a model ten times the price
# moves it by at most 0.6 log units, and is not learned at all while the team's cost alarm is on.
USUAL_PRICE_RATE = 0.01
USUAL_PRICE_STEP = 1.0


class DayVolume:
    """A user's requests over the last 24 hours against the most they sent in a day before.

    An agent loop that runs day and night for a day or more is within a user's range at the
    scale of minutes and hours (a busy user's mornings reach the loop's rate, and the user's own
    rates and tails learn the loop within hours), but not at the scale of a day: it sends several
    times what the user has ever sent in a whole day. The trailing 24 hours are kept as hourly
    counts, and the completed local days as a ring of totals. The statistic is
    ``log((last 24 h + 1) / (busiest earlier day + 1))``; its tail is learned across the team's
    users (see ``UsageDetector``), so it is calibrated by peers, not by the user's own history,
    which a loop would teach within a day. It learns each user's value once a day, as the day
    closes (:attr:`closing`), not every hour: hourly values share most of their 24 hours.

    Examples
    --------
    >>> volume = DayVolume()
    >>> for hour in range(24 * 3):  # three days of 10 requests an hour
    ...     volume.count(3600.0 * hour, 10.0, 0.0)
    >>> round(volume.excess(), 2)  # the last 24 hours are exactly the busiest day
    0.0
    >>> for hour in range(72, 78):  # six hours of a loop at 100 requests an hour
    ...     volume.count(3600.0 * hour, 100.0, 0.0)
    >>> round(volume.excess(), 2)  # log(780 / 240), with one added to each
    1.18
    """

    __slots__ = (
        "closing", "day", "day_total", "days_done", "hour", "hours", "totals", "trailing",
    )  # fmt: skip

    def __init__(self) -> None:
        self.hours = array("d", bytes(8 * 24))
        self.hour = -1
        self.trailing = 0.0
        self.totals = array("d", bytes(8 * DAYS_OF_TOTALS))
        self.day = -1
        self.day_total = 0.0
        self.days_done = 0
        # The excess just before the last call closed a day (NaN when it closed none).
        self.closing = math.nan

    def count(self, ts: float, requests: float, day_shift: float) -> None:
        """Add ``requests`` sent at ``ts``. When this closes a local day, :attr:`closing` holds
        the excess just before it (the last 24 hours up to this call's hour, against the earlier
        days), else NaN. A user's day closes at their first window of the next local day."""
        hour = int(ts // 3600.0)
        if self.hour < 0:
            self.hour = hour
        elif hour > self.hour:
            hours = self.hours
            if hour - self.hour >= 24:
                for i in range(24):
                    hours[i] = 0.0
            else:
                for h in range(self.hour + 1, hour + 1):
                    hours[h % 24] = 0.0
            self.trailing = sum(hours)
            self.hour = hour
        day = int((ts + day_shift) // SECONDS_PER_DAY)
        self.closing = math.nan
        if self.day < 0:
            self.day = day
        elif day > self.day:
            self.closing = self.excess()
            totals = self.totals
            for d in range(self.day, min(day, self.day + DAYS_OF_TOTALS)):
                totals[d % DAYS_OF_TOTALS] = self.day_total if d == self.day else 0.0
            self.days_done = min(self.days_done + day - self.day, 255)
            self.day = day
            self.day_total = 0.0
        if requests:
            self.hours[hour % 24] += requests
            self.trailing += requests
            self.day_total += requests

    def excess(self) -> float:
        """``log`` of the last 24 hours' requests over the busiest earlier day's (both + 1);
        NaN until two days are complete."""
        if self.days_done < 2:
            return math.nan
        return math.log((self.trailing + 1.0) / (max(self.totals) + 1.0))

    def requests_in(self, hour: int, span: int = 1) -> float:
        """Requests counted in the ``span`` hours ending at ``hour`` (hours since the epoch),
        of the last 24 counted.

        >>> volume = DayVolume()
        >>> volume.count(3600.0 * 10, 4.0, 0.0)
        >>> volume.count(3600.0 * 12, 2.0, 0.0)
        >>> volume.requests_in(10), volume.requests_in(11), volume.requests_in(13)
        (4.0, 0.0, 0.0)
        >>> volume.requests_in(12, 3), volume.requests_in(12, 2)
        (6.0, 2.0)
        """
        return float(
            sum(
                self.hours[h % 24]
                for h in range(max(hour - span + 1, self.hour - 23), min(hour, self.hour) + 1)
            )
        )

    def excess_without(self, part: DayVolume) -> float:
        """:meth:`excess` of this volume (a team's) without ``part`` (one of its users, counted
        up to the same hour): how far the rest of the team is beyond its busiest earlier day."""
        if self.days_done < 2:
            return math.nan
        busiest = max(t - p for t, p in zip(self.totals, part.totals, strict=True))
        return math.log((self.trailing - part.trailing + 1.0) / (max(busiest, 0.0) + 1.0))

    def to_plain(self) -> list[Any]:
        return [
            self.hours.tobytes(), self.hour, self.trailing, self.totals.tobytes(), self.day,
            self.day_total, self.days_done,
        ]  # fmt: skip

    @classmethod
    def from_plain(cls, plain: list[Any]) -> DayVolume:
        volume = cls()
        hours, volume.hour, volume.trailing, totals, volume.day, volume.day_total = plain[:6]
        volume.days_done = plain[6]
        volume.hours = array("d", hours)
        volume.totals = array("d", totals)
        return volume


def poisson_upper_tail(count: float, mean: float) -> float:
    """``P(N >= count)`` for a Poisson ``N`` of the given ``mean``, with ``count`` continuous:
    the regularised lower incomplete gamma function ``P(count, mean)``, by its series (1 when
    the count is not above its mean by one or more: no evidence either way).

    A user's smoothed request rate over their usual is a ratio, and a ratio of small counts
    says little: one request where a twentieth of one is usual is twenty times the usual, and
    as likely as one in twenty. This is how unlikely the count itself is.

    Examples
    --------
    >>> round(poisson_upper_tail(1.0, 0.05), 4)  # one request where 0.05 are usual
    0.0488
    >>> poisson_upper_tail(5.0, 0.225) < 1e-5  # five where a quarter of one is usual
    True
    >>> poisson_upper_tail(0.0, 3.0)
    1.0
    """
    if count <= 0.0:
        return 1.0
    if mean <= 0.0:
        return 0.0
    if mean >= count + 1.0:
        return 1.0  # at or below the mean: no evidence, and the series would converge slowly
    term = 1.0 / count
    total = term
    k = 1.0
    # The terms fall off like exp(-k^2 / 2 count) at worst (a mean just below the count).
    limit = 50.0 + 10.0 * math.sqrt(count)
    while term > total * 1e-10 and k < limit:
        term *= mean / (count + k)
        total += term
        k += 1.0
    log_p = count * math.log(mean) - mean - math.lgamma(count) + math.log(total)
    return min(1.0, math.exp(log_p))


@dataclass(frozen=True, slots=True)
class UserHorizons:
    """Time constants and calibration of the user model.

    Parameters
    ----------
    short_tau, long_tau
        Smoothing time constants (seconds) of the two rates.
    mean_half_life
        Half-life (seconds) of the long-run mean rate.
    tail_rate
        Quantile-tracker step per tail update (the tail learns once per time constant).
    day_shift
        Offset from UTC (seconds, whole hours) of the days the weekday/weekend hours follow
        (the team's, see ``seasonal_bin``).
    log_context_ratio
        Log of the tokens per request, over the user's usual, of a runaway agent's window.
    """

    short_tau: float = 300.0
    long_tau: float = 3600.0
    mean_half_life: float = 7 * SECONDS_PER_DAY
    tail_rate: float = 0.05
    day_shift: float = 0.0
    log_context_ratio: float = math.log(4.0)


@dataclass(frozen=True, slots=True)
class UserStep:
    """A user's scored window: token ratios to the usual rate and tail probabilities."""

    short_ratio: float
    long_ratio: float
    tail_probability: float
    requests_probability: float
    tokens_probability: float
    idle: float
    # The short horizon's context size against the user's usual (``context_statistic``).
    context: float = math.nan


class RatioTracker:
    """One quantity of one user: mean rate, two smoothed rates and their calibrated tails.

    ``log_scale`` selects the Pareto-like tail on ``log(1 + ratio)`` (heavy-tailed quantities)
    instead of the exponential tail on the ratio itself.
    """

    __slots__ = (
        "hour_long_peak",
        "hour_peak",
        "hour_start",
        "hour_tainted",
        "log_scale",
        "long_excess",
        "long_profile",
        "long_q",
        "long_rate",
        "long_tail_at",
        "mean_rate",
        "profile",
        "profile_count",
        "short_excess",
        "short_q",
        "short_rate",
        "short_tail_at",
        "tail_samples",
        "usual_long",
        "usual_now",
    )

    def __init__(self, log_scale: bool) -> None:
        self.log_scale = log_scale
        prior_q, prior_excess = TOKENS_PRIOR if log_scale else REQUESTS_PRIOR
        self.mean_rate = math.nan
        self.short_rate = 0.0
        self.long_rate = 0.0
        self.short_q = self.long_q = prior_q
        self.short_excess = self.long_excess = prior_excess
        self.short_tail_at = self.long_tail_at = -math.inf
        self.tail_samples = 0
        # Typical peak of the short rate per weekday/weekend hour: what is usual *at this hour*
        # (a nightly batch job's run, a busy morning) is not an anomaly. Peaks rather than hourly
        # averages, so that a job filling a third of an hour is not diluted into a third of its
        # rate. Learned from closed, clean hours.
        self.profile = array("d", bytes(8 * SEASONAL_BINS))
        self.profile_count = bytearray(SEASONAL_BINS)
        # The same for the long rate: an hour's typical long rate is far below the peak of its
        # short rate for a bursty user, so the long horizon has a reference of its own (a loop
        # at ten times a sparse user's volume is within their five-minute bursts, but not
        # within any hour they have had).
        self.long_profile = array("d", bytes(8 * SEASONAL_BINS))
        self.hour_start = math.nan
        self.hour_peak = 0.0
        self.hour_long_peak = 0.0
        self.hour_tainted = False
        self.usual_now = math.nan
        self.usual_long = math.nan

    def usual_rates(self, ts: float, day_shift: float) -> tuple[float, float]:
        """The rates to compare the short and the long rate with at ``ts``: the long-run mean,
        or this hour's typical peak of the short (and of the long) rate where that is higher.

        ``day_shift`` (here and in the other hour lookups) is the team's offset from UTC, which
        decides the weekday/weekend side of an hour: it has no default, so no lookup can fall
        back to UTC days by omission."""
        b = seasonal_bin(ts, day_shift)
        short = long = self.mean_rate
        # Comparisons in the order ``max`` makes them (same results, no builtin call per user).
        if self.profile_count[b] >= PROFILE_MIN_DAYS:
            peak = self.profile[b]
            if peak > short:
                short = peak
            peak = self.long_profile[b]
            if peak > long:
                long = peak
        return (1e-9 if short < 1e-9 else short), (1e-9 if long < 1e-9 else long)

    def hour_known(self, ts: float, day_shift: float) -> bool:
        """Whether the usual rate of this hour (weekday/weekend) rests on two days or more."""
        return self.profile_count[seasonal_bin(ts, day_shift)] >= PROFILE_MIN_DAYS

    def other_day_type_peak(self, ts: float, day_shift: float) -> float:
        """The typical peak of this hour on the other day type (weekend for a weekday and vice
        versa), or 0 when that hour is not known either."""
        other = other_day_type_bin(seasonal_bin(ts, day_shift))
        return self.profile[other] if self.profile_count[other] >= PROFILE_MIN_DAYS else 0.0

    def close_hours(self, until: float, long_tau: float, day_shift: float) -> None:
        """Fold the hours that ended before ``until`` into the profiles. In idle hours the short
        rate is taken as zero and the long rate as decaying from the last active hour's peak."""
        if self.hour_start != self.hour_start:
            self.hour_start = math.floor(until / 3600.0) * 3600.0
            return
        current = math.floor(until / 3600.0) * 3600.0
        hour = self.hour_start
        steps = 0
        long_rate = self.hour_long_peak
        hour_decay = math.exp(-3600.0 / long_tau)
        while hour < current and steps < SEASONAL_BINS:
            if not self.hour_tainted or hour != self.hour_start:
                rate = self.hour_peak if hour == self.hour_start else 0.0
                b = seasonal_bin(hour, day_shift)
                seen = self.profile_count[b]
                weight = max(1.0 / (seen + 1), PROFILE_WEIGHT)
                self.profile[b] += weight * (rate - self.profile[b])
                self.long_profile[b] += weight * (long_rate - self.long_profile[b])
                self.profile_count[b] = min(seen + 1, 255)
            hour += 3600.0
            steps += 1
            long_rate *= hour_decay
        if current != self.hour_start:
            self.hour_start = current
            self.hour_peak = 0.0
            self.hour_long_peak = 0.0
            self.hour_tainted = False

    def statistic(self, ratio: float) -> float:
        """The scale the tail is modelled on."""
        return math.log1p(ratio) if self.log_scale else ratio

    def advance(
        self, end: float, amount: float, elapsed: float, width: float, horizons: UserHorizons
    ) -> None:
        """Decay the smoothed rates over ``elapsed`` seconds and add this window's amount."""
        if self.mean_rate != self.mean_rate:
            self.mean_rate = amount
        self.close_hours(end - width, horizons.long_tau, horizons.day_shift)
        self.usual_now, self.usual_long = self.usual_rates(end - width, horizons.day_shift)
        self.short_rate = (
            self.short_rate * math.exp(-elapsed / horizons.short_tau)
            + (1.0 - math.exp(-width / horizons.short_tau)) * amount
        )
        self.long_rate = (
            self.long_rate * math.exp(-elapsed / horizons.long_tau)
            + (1.0 - math.exp(-width / horizons.long_tau)) * amount
        )

    def ratios(self) -> tuple[float, float]:
        """Short and long smoothed rates relative to their usual rates (set by :meth:`advance`)."""
        return self.short_rate / self.usual_now, self.long_rate / self.usual_long

    def probability(self) -> float:
        """Tail probability now: the short horizon, or the long one while the current rate is
        still high (above the short horizon's 95 % quantile, or above the level the long rate
        itself reaches one time in twenty): once an incident is over, the long rate stays up for
        an hour, and that is not news."""
        short_ratio, long_ratio = self.ratios()
        short_p = exponential_tail_probability(
            self.statistic(short_ratio), self.short_q, self.short_excess
        )
        if (
            short_p >= TAIL_EXCEEDANCE
            and self.statistic(self.short_rate / self.usual_long) < self.long_q
        ):
            return short_p
        long_p = exponential_tail_probability(
            self.statistic(long_ratio), self.long_q, self.long_excess
        )
        return min(short_p, long_p)

    def count_probability(self, width: float, horizons: UserHorizons) -> float:
        """How unlikely the requests counted by the two horizons are (the smaller of their
        Poisson tail probabilities), at the usual rates: the count behind :meth:`ratios`."""
        short_windows = horizons.short_tau / width
        long_windows = horizons.long_tau / width
        return min(
            poisson_upper_tail(self.short_rate * short_windows, self.usual_now * short_windows),
            poisson_upper_tail(self.long_rate * long_windows, self.usual_long * long_windows),
        )

    def taint_hour(self) -> None:
        """An alarming window: its hour will not enter the profile."""
        self.hour_tainted = True

    def learn(
        self,
        end: float,
        amount: float,
        idle: float,
        age: float,
        width: float,
        horizons: UserHorizons,
    ) -> None:
        """Learn the window: the mean (idle time counts as zeros) and, now and then, the tails."""
        # max/min spelled as comparisons in the builtins' order: same results, fewer calls.
        if self.short_rate > self.hour_peak:
            self.hour_peak = self.short_rate
        if self.long_rate > self.hour_long_peak:
            self.hour_long_peak = self.long_rate
        decay = math.exp(-LN2 * idle / horizons.mean_half_life)
        idle_share_kept = 1.0 - idle / age
        if idle_share_kept < decay:
            decay = idle_share_kept
        self.mean_rate *= decay
        weight = 1.0 - math.exp(-LN2 * width / horizons.mean_half_life)
        running_mean_weight = width / age
        if running_mean_weight > weight:
            weight = running_mean_weight
        self.mean_rate += weight * (amount - self.mean_rate)
        if age < TAIL_LEARNING_AGE:
            # Ratios to a mean of a few hours are noise; learning tails from them would leave
            # excesses that take weeks to forget.
            return
        short_ratio, long_ratio = self.ratios()
        relative = not self.log_scale
        lowest = 0.5 if self.log_scale else 1.0
        if end - self.short_tail_at >= horizons.short_tau:
            self.short_tail_at = end
            self.tail_samples = min(self.tail_samples + 1, 1_000_000)
            self.short_q, self.short_excess = learn_tail_step(
                self.short_q,
                self.short_excess,
                self.statistic(short_ratio),
                horizons.tail_rate,
                relative=relative,
                lowest_quantile=lowest,
            )
        if end - self.long_tail_at >= horizons.long_tau:
            self.long_tail_at = end
            self.long_q, self.long_excess = learn_tail_step(
                self.long_q,
                self.long_excess,
                self.statistic(long_ratio),
                horizons.tail_rate,
                relative=relative,
                lowest_quantile=lowest,
            )

    def to_plain(self) -> list[Any]:
        """Compact msgpack-able form."""
        return [
            self.mean_rate,
            self.short_rate,
            self.long_rate,
            self.short_q,
            self.short_excess,
            self.long_q,
            self.long_excess,
            self.short_tail_at,
            self.long_tail_at,
            self.hour_start,
            self.hour_peak,
            self.hour_tainted,
            self.usual_now,
            self.tail_samples,
            self.profile.tobytes(),
            bytes(self.profile_count),
            self.long_profile.tobytes(),
            self.hour_long_peak,
            self.usual_long,
        ]

    @classmethod
    def from_plain(cls, log_scale: bool, plain: list[Any]) -> RatioTracker:
        """Inverse of :meth:`to_plain`."""
        tracker = cls(log_scale)
        (
            tracker.mean_rate,
            tracker.short_rate,
            tracker.long_rate,
            tracker.short_q,
            tracker.short_excess,
            tracker.long_q,
            tracker.long_excess,
            tracker.short_tail_at,
            tracker.long_tail_at,
            tracker.hour_start,
            tracker.hour_peak,
            tracker.hour_tainted,
            tracker.usual_now,
            tracker.tail_samples,
        ) = plain[:14]
        tracker.profile = array("d", plain[14])
        tracker.profile_count = bytearray(plain[15])
        if len(plain) > 16:
            tracker.long_profile = array("d", plain[16])
            tracker.hour_long_peak, tracker.usual_long = plain[17], plain[18]
        else:
            # Written before the long profile existed: the long horizon keeps the reference it
            # had (the short rate's peaks) until the hours are learned again.
            tracker.long_profile = array("d", plain[14])
            tracker.hour_long_peak, tracker.usual_long = tracker.hour_peak, tracker.usual_now
        return tracker


class UserModel:
    """Requests and tokens of one user, with an activity calendar."""

    __slots__ = (
        "active_days",
        "active_windows",
        "context_short",
        "context_streak",
        "context_tail_at",
        "day_volume",
        "elevated_at",
        "first_seen",
        "last_active_day",
        "last_end",
        "last_working_day",
        "requests",
        "spend",
        "spend_fast",
        "tokens",
        "tokens_per_request",
        "working_days",
    )

    def __init__(self, first_seen: float) -> None:
        self.first_seen = first_seen
        self.active_windows = 0
        self.last_end = math.nan
        self.requests = RatioTracker(log_scale=False)
        self.tokens = RatioTracker(log_scale=True)
        self.tokens_per_request = math.nan
        # Log tokens per request of the user's recent active windows over their usual, smoothed
        # over about the short horizon's number of windows; how many active windows in a row
        # had a runaway agent's contexts (see ``context_statistic``); and when the team's tail of
        # the statistic last learned this user's.
        self.context_short = 0.0
        self.context_streak = 0
        self.context_tail_at = -math.inf
        # Cost and tokens smoothed over the team's cost horizon, when they were last brought up
        # to date, and the user's usual log cost per token of those rates (see
        # ``follow_spend``). A common decay leaves the ratio of the two rates unchanged.
        self.spend = [0.0, 0.0, math.nan, math.nan]
        # The same two rates over the team's fast cost horizon (``cost_fast_tau``), brought up
        # to date at the same time.
        self.spend_fast = [0.0, 0.0]
        self.active_days = bytearray(SEASONAL_BINS)
        self.last_active_day = array("H", bytes(2 * SEASONAL_BINS))
        self.day_volume = DayVolume()
        # End of the last window in which the user's request ratio was beyond its 95 %
        # quantile (set by the team, which counts such users).
        self.elevated_at = -math.inf
        # How many weekdays (of the team's days) the user has been active on, and the last one:
        # a person who joins on a Saturday has only a weekend behind them on their first Monday.
        self.working_days = 0
        self.last_working_day = -1

    def observe(
        self, end: float, tokens: float, requests: int, width: float, horizons: UserHorizons
    ) -> UserStep:
        """Score the user's window ending at ``end``; :meth:`learn` must follow.

        An absent user in alarm is observed with zero tokens and requests, so that the alarm
        follows their decaying rates rather than stopping (and restarting) with their gaps.
        """
        if self.last_end != self.last_end:
            self.last_end = end - width
        elapsed = end - self.last_end
        idle = max(elapsed - width, 0.0)
        self.requests.advance(end, float(requests), elapsed, width, horizons)
        self.tokens.advance(end, tokens, elapsed, width, horizons)
        self.last_end = end
        if requests > 0:
            # The window's tokens per request over the usual, and whether they are a runaway
            # agent's (the streak of such windows is the signature every path reads).
            if tokens > 0 and self.tokens_per_request == self.tokens_per_request:
                excess = math.log(tokens / requests) - self.tokens_per_request
                self.context_short += (1.0 - math.exp(-width / horizons.short_tau)) * (
                    excess - self.context_short
                )
                if excess >= horizons.log_context_ratio:
                    self.context_streak = min(self.context_streak + 1, 255)
                else:
                    self.context_streak = 0
            else:
                self.context_streak = 0
        requests_p = self.requests.probability()
        # For the user's own verdict the ratio must be improbable and so must the count behind
        # it, on either horizon: one request where a twentieth of one is usual is a ratio of
        # twenty, and happens one time in twenty. (``requests_probability`` stays the ratio's:
        # the team counts users above their range with it.)
        evidence_p = requests_p
        if requests_p < TAIL_EXCEEDANCE:
            evidence_p = max(requests_p, self.requests.count_probability(width, horizons))
        tokens_p = self.tokens.probability()
        short_ratio, long_ratio = self.tokens.ratios()
        # Requests carry the evidence; tokens alone (a few huge requests) are normal, so they only
        # count when requests are up too. Two families tested: Bonferroni keeps the target.
        if evidence_p >= TAIL_EXCEEDANCE:
            tokens_p = 1.0
        p = min(1.0, 2.0 * min(evidence_p, tokens_p))
        context = self.context_statistic(horizons, width)
        return UserStep(short_ratio, long_ratio, p, requests_p, tokens_p, idle, context)

    def context_statistic(self, horizons: UserHorizons, width: float) -> float:
        """The recent size of the user's requests against their usual, as a z-like score:
        ``sqrt(n) * c``, with ``c`` the log tokens per request of their active windows over the
        usual, smoothed over about as many active windows as the short horizon spans, and ``n``
        the requests the short horizon holds. NaN while the horizon holds fewer than
        ``CONTEXT_MIN_REQUESTS`` requests, and unless the last two active windows or more each
        had tokens per request of a runaway agent (``UserHorizons.log_context_ratio``).

        A runaway agent sends huge contexts, often at a pace a busy user reaches on their own:
        its requests are within the user's range, and its tokens within the heavy tail that one
        large document gives a token rate, but every one of its requests is large. Averaging
        each window's log size (rather than dividing the horizon's tokens by its requests) keeps
        one huge document to the one window it is in, and so does asking for huge contexts in
        consecutive windows. The log of a mean of ``n`` sizes spreads as one over the square
        root of ``n``; scaled back by it, users of any pace share one scale, so the tail can be
        learned across a team (see ``UsageDetector``).
        """
        count = self.requests.short_rate * horizons.short_tau / width
        if count < CONTEXT_MIN_REQUESTS or self.context_streak < CONTEXT_MIN_STREAK:
            return math.nan
        return math.sqrt(count) * self.context_short

    def has_runaway_contexts(self, requests: int) -> bool:
        """Whether the window :meth:`observe` just scored (with ``requests`` requests) had a
        runaway agent's tokens per request (``UserHorizons.log_context_ratio`` over the usual).
        """
        return requests > 0 and self.context_streak > 0

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
        self.active_windows += 1
        if in_alarm:
            self.requests.taint_hour()
            self.tokens.taint_hour()
            return
        age = max(end - self.first_seen, width)
        self.requests.learn(end, float(requests), step.idle, age, width, horizons)
        self.tokens.learn(end, tokens, step.idle, age, width, horizons)
        if requests > 0 and tokens > 0:
            ratio = math.log(tokens / requests)
            if self.tokens_per_request != self.tokens_per_request:
                self.tokens_per_request = ratio
            else:
                self.tokens_per_request += 0.02 * (ratio - self.tokens_per_request)
        day = int(end // SECONDS_PER_DAY) % 65_536
        b = seasonal_bin(end - width, horizons.day_shift)
        if self.last_active_day[b] != day:
            self.last_active_day[b] = day
            self.active_days[b] = min(self.active_days[b] + 1, 255)
            # A user's first window of a local day is the first of that day in its hour too
            # (each hour of a local day is one UTC hour of one UTC day), so weekdays are counted
            # here, once per hour and day, not in every window.
            if b < HOURS_PER_DAY:
                local_day = int((end - width + horizons.day_shift) // SECONDS_PER_DAY)
                if local_day != self.last_working_day:
                    self.last_working_day = local_day
                    self.working_days = min(self.working_days + 1, 255)

    def knows_its_tail(self) -> bool:
        """Whether the tails rest on enough active periods (``MIN_TAIL_SAMPLES``) to be trusted."""
        return self.requests.tail_samples >= MIN_TAIL_SAMPLES

    def active_fraction(self, end: float, width: float) -> float:
        """Share of the windows since first seen in which the user was active."""
        age_in_windows = max((end - self.first_seen) / width, 1.0)
        return min(1.0, max(self.active_windows, 1) / age_in_windows)

    def works_at(self, ts: float, day_shift: float) -> bool:
        """Whether the user has been active in this hour (weekday/weekend) on two days or more."""
        return self.active_days[seasonal_bin(ts, day_shift)] >= 2

    def follow_spend(
        self,
        end: float,
        width: float,
        tokens: float,
        cost: float,
        tau: float,
        fast_tau: float,
        learn: bool,
    ) -> None:
        """Add a window's cost and tokens to the user's rates smoothed over ``tau`` (and over
        ``fast_tau``), and, if ``learn``, move the usual cost per token towards the ratio of the
        rates over ``tau``.

        The usual is a slow exponentially weighted mean of the log ratio (1 % per active
        window), each step clipped at ``USUAL_PRICE_STEP`` log units: an hour on an expensive
        model moves it by a fraction of that model's price, while a censored mean (windows
        above some multiple of the usual left out) would sink below what the user pays.
        """
        cost_rate, token_rate, at, usual = self.spend
        keep = math.exp(-(end - at) / tau) if at == at else 0.0
        gain = 1.0 - math.exp(-width / tau)
        cost_rate = cost_rate * keep + gain * cost
        token_rate = token_rate * keep + gain * tokens
        fast = self.spend_fast
        keep = math.exp(-(end - at) / fast_tau) if at == at else 0.0
        gain = 1.0 - math.exp(-width / fast_tau)
        fast[0] = fast[0] * keep + gain * cost
        fast[1] = fast[1] * keep + gain * tokens
        if learn and cost_rate > 0.0 and token_rate > 0.0:
            value = math.log(cost_rate / token_rate)
            if usual != usual:
                usual = value
            else:
                step = value - usual
                usual += USUAL_PRICE_RATE * max(-USUAL_PRICE_STEP, min(USUAL_PRICE_STEP, step))
        self.spend = [cost_rate, token_rate, end, usual]

    def price_excess(self, end: float, tau: float, fast: bool = False) -> float:
        """Log of the user's cost per token over the last ``tau`` over their usual; NaN if
        they sent nothing within ``tau`` or their usual is not known yet. ``fast`` reads the
        rates over the fast horizon (``tau`` is then that horizon)."""
        cost_rate, token_rate, at, usual = self.spend
        if fast:
            cost_rate, token_rate = self.spend_fast
        if not end - at <= tau or usual != usual or cost_rate <= 0.0 or token_rate <= 0.0:
            return math.nan
        return math.log(cost_rate / token_rate) - usual

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
            self.requests.to_plain(),
            self.tokens.to_plain(),
            self.tokens_per_request,
            self.spend[3],
            bytes(self.active_days),
            self.last_active_day.tobytes(),
            self.day_volume.to_plain(),
            [self.context_short, self.context_streak, self.context_tail_at],
            self.spend[:3],
            self.spend_fast,
            self.elevated_at,
            [self.working_days, self.last_working_day],
        ]

    @classmethod
    def from_plain(cls, plain: list[Any]) -> UserModel:
        """Inverse of :meth:`to_plain`."""
        user = cls(plain[0])
        user.active_windows = plain[1]
        user.last_end = plain[2]
        user.requests = RatioTracker.from_plain(False, plain[3])
        user.tokens = RatioTracker.from_plain(True, plain[4])
        user.tokens_per_request = plain[5]
        user.spend[3] = plain[6]
        user.active_days = bytearray(plain[7])
        days = array("H")
        days.frombytes(plain[8])
        user.last_active_day = days
        if len(plain) > 9:
            user.day_volume = DayVolume.from_plain(plain[9])
        if len(plain) > 10:
            user.context_short, user.context_streak, user.context_tail_at = plain[10]
        if len(plain) > 11:
            user.spend[:3] = plain[11]
        if len(plain) > 12:
            user.spend_fast = list(plain[12])
        if len(plain) > 13:
            user.elevated_at = plain[13]
        if len(plain) > 14:
            user.working_days, user.last_working_day = plain[14]
        else:
            # Written before weekdays were counted: the most days the user was active in one
            # weekday hour is as many weekdays as they are known to have worked.
            user.working_days = max(user.active_days[:HOURS_PER_DAY])
        return user
