"""The token-usage detector the core runs per team: team, cost and per-user signals.

Every closed window of a team updates a handful of :class:`~detectors.rates.RateSeries`:

* the team's tokens, smoothed over 5 minutes (surges, runaway agents) and 2 hours (slow ramps);
* the team's cost and cost per token, smoothed over 30 minutes (a switch to a pricier model moves
  cost but not tokens), and each user's cost per token over the same half hour against their
  usual (a switch is the team's only if its users, not one of them, pay more); how much more
  the team and its users pay is also read over 15 minutes, which finds a switch sooner;
* every active user's requests and tokens, smoothed over 5 minutes and 1 hour, each user against
  their own weekday/weekend hour-of-day profile (agent loops, off-hours loops, runaway agents).

Users still in their warm-up neither alert nor count towards the team's series, so onboarding new
people or a newcomer's first busy morning does not look like a team surge. A series alarms while
the tail probability of its z-score is below a per-window target derived from the false-alarm
budget (``false_alarms_per_team_week``); the budget of the user series is shared by the team's
users. An alarm that persists beyond ``accept_shift_after`` is taken as a change point: the
baseline moves to the new level and the alarm ends.

Examples
--------
>>> from detectors.base import Usage, WindowSummary
>>> detector = UsageDetector("search", UsageDetectorSettings(warmup_seconds=3600.0))
>>> def window(minute, tokens, requests, user="ann"):
...     usage = Usage(input_tokens=tokens, cost_usd=tokens * 3e-6, requests=requests)
...     return WindowSummary("search", 60.0 * minute, 60.0 * (minute + 1), usage,
...                          {user: usage}, {"m": usage}, {"chat": usage})
>>> quiet = [detector.update(window(m, 1000 + 37 * (m % 7), 1 + m % 3)) for m in range(3000)]
>>> sum(map(len, quiet))
0
>>> loud = [detector.update(window(3000 + m, 200_000, 30)) for m in range(5)]
>>> sorted({f.kind for findings in loud for f in findings})
['runaway_agent']
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import statistics
from array import array
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import msgpack

from detectors.base import Contributor, Finding, Severity, Usage, WindowSummary
from detectors.peers import WeekendPeers
from detectors.rates import (
    BUSY_HOURS_PER_DAY,
    CUSUM_DRIFT,
    EVENING_HOURS,
    DayOverDay,
    RateParams,
    RateSeries,
    WorkingDayCeiling,
    binomial_upper_tail,
    cusum_threshold,
)
from detectors.robust import (
    HOURS_PER_DAY,
    SEASONAL_BINS,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    TAIL_EXCEEDANCE,
    TAIL_QUANTILE,
    RobustSeries,
    SeriesParams,
    StepResult,
    TailTracker,
    calibrated_score,
    day_type_bins,
    exponential_tail_probability,
    is_weekend,
    learn_tail_step,
    normal_upper_tail,
    seasonal_bin,
)
from detectors.users import (
    TAIL_LEARNING_AGE,
    DayVolume,
    UserHorizons,
    UserModel,
    UserStep,
    poisson_upper_tail,
)

log = logging.getLogger(__name__)

USAGE_STATE_VERSION = 10
# Events carry no time zone, so a team's local day is read from its activity: a working day is
# centred on about 13:00 (9 to 17), and the offset from UTC is the whole number of hours that
# puts the centre of the team's active users' hours there. Being an hour or two off moves the
# weekday/weekend boundary within the night, where it does no harm.
WORKDAY_CENTRE_HOUR = 13.0
# Offsets are read in [-10, +14) hours: the far Pacific east of the date line has few offices.
LOWEST_OFFSET_HOURS = -10
# A team active around the clock (its users' hours spread out: the mean resultant length of the
# hours as angles is below this) has no local day and keeps UTC days.
MIN_DAY_CONCENTRATION = 0.3
# Days of daily peaks remembered for the working-day warm-up.
DAYS_OF_PEAKS = 8
# A day counts as a working day when its peak rate is at least this share of the highest peak
# remembered (today's included): a weekend or a holiday is a fraction of a working day.
WORKING_DAY_PEAK_SHARE = 0.5
# Completed working weekdays a team must have seen before any of its series (team or user) alarm;
# and weekdays a user must have been active on (today counts) before their own range is judged.
MIN_WORKING_DAYS = 2
WINDOWS_PER_WEEK_AT_60S = 7 * 24 * 60
# Days (today included) a team must have been active in an hour before its series alarm there.
TEAM_HOUR_MIN_DAYS = 3
# When colleagues are up too, a user alarms only at this multiple of the median colleague's ratio.
PEER_FACTOR = 3.0
# A user whose cost per token over the cost horizon (or the fast one) is this many times their
# usual counts as paying more; a team-wide switch to a pricier model needs at least two of them,
# and at least half of the users active within that horizon (cost factors of 5-20x move every
# switched user well past it; one user trying an expensive model is not a team switching). The
# team's own cost per token over that horizon must be at least this multiple of its
# expectation too.
PRICIER_USER_RATIO = 2.0
# The cost per token is learned only once its two smoothed rates have run this many time
# constants. The cost's rate starts at its first window's amount (as every ``RateSeries``), the
# token rate beside it from zero, so the ratio starts about 30 times too high and comes down
# over the time constant; learned from the first window, it set an expectation the team never
# paid again (an excess-only series learns drops slowly).
PRICE_WARMUP_TAUS = 3.0
# The short horizon's floor is at least the rate of this many requests within its time constant
# (its token series share the parameters, where the same number is a negligible floor).
COUNT_FLOOR_EVENTS = 5.0
# The long-horizon (slow ramp) series alarm only after this many warm-ups.
LONG_HORIZON_WARMUP_FACTOR = 1.5
# An alarm, once raised, holds until the tail probability is this many times above the target.
HYSTERESIS_FACTOR = 100.0
# A user whose tail is still young alarms against its mean excess stretched to this many standard
# errors above the estimate (a one-sided bound at about 98 %).
YOUNG_TAIL_SIGMAS = 2.0
# Exceedances a tail is taken to rest on at the least (a prior's worth: the tail starts from one).
YOUNG_TAIL_MIN_EXCEEDANCES = 0.25
# Tail probabilities are floored here before logarithms (an exponential tail underflows to zero).
MIN_PROBABILITY = 1e-300
# Prior of the tail of users' day volumes (``DayVolume.excess``): the last 24 hours at the busiest
# earlier day, with excesses of about a quarter in log units; learned across the team's users.
DAY_TAIL_PRIOR = (0.0, 0.25)
DAY_TAIL_RATE = 0.02
# Learning rate of the team's pooled tail of context sizes. It learns at most one sample per
# user and short time constant, and only where the statistic is defined (two windows in a row
# of a runaway agent's contexts): few, so it stays near its normal prior for long.
CONTEXT_TAIL_RATE = 0.01
# Breakdown trackers kept per team (models, tools); the least used are dropped beyond this.
MAX_TRACKED_NAMES = 48


@dataclass(frozen=True, slots=True)
class UsageDetectorSettings:
    """Knobs of :class:`UsageDetector`; the defaults are the product's defaults.

    Parameters
    ----------
    window_seconds
        Width of the core's windows.
    warmup_seconds
        Event time a team (or a user, from first sight) learns before it may alert.
    false_alarms_per_team_week
        Target rate of false alarm episodes per team and week, split between team-level series
        and the team's users; converted to a per-window tail probability per series.
    accept_shift_after
        Seconds an alarm may persist before it is taken as a new normal level.
    team_floor_fraction
        Team rates are compared on ``log(rate + floor)`` with the floor this fraction of the
        team's long-run mean rate: changes far below it are immaterial, while the scale stays
        relative (teams of any size are judged alike).
    cost_fast_tau
        A second, shorter horizon for the size of a model switch (the team's and its users'
        cost per token at least doubled): a switch is read as soon as either horizon shows it,
        while its improbability is always judged on ``cost_tau``.
    """

    window_seconds: float = 60.0
    warmup_seconds: float = 2 * SECONDS_PER_DAY
    false_alarms_per_team_week: float = 0.5
    accept_shift_after: float = 8 * SECONDS_PER_HOUR
    team_short_tau: float = 300.0
    cost_tau: float = 1800.0
    cost_fast_tau: float = 900.0
    team_long_tau: float = 2 * SECONDS_PER_HOUR
    user_short_tau: float = 300.0
    user_long_tau: float = SECONDS_PER_HOUR
    level_half_life: float = 7 * SECONDS_PER_DAY
    fast_level_half_life: float = 7 * SECONDS_PER_DAY
    profile_memory: float = 7 * SECONDS_PER_HOUR
    runaway_context_ratio: float = 4.0
    team_floor_fraction: float = 0.1


@dataclass(frozen=True, slots=True)
class _Families:
    team_short: RateParams
    team_long: RateParams
    cost: RateParams
    users: UserHorizons


def _families(settings: UsageDetectorSettings, day_shift: float = 0.0) -> _Families:
    # The short horizon judges against today's level (a team's level moves by tens of percent
    # from one day to the next, which would drown a 3x surge judged against last week's level);
    # the long horizon keeps a slow level so that a ramp over a day or two stays visible.
    fast = SeriesParams(
        settings.fast_level_half_life,
        settings.profile_memory,
        tail_rate=0.03,
        upper_scale=True,
        day_shift=day_shift,
    )
    slow = SeriesParams(
        settings.level_half_life,
        settings.profile_memory,
        tail_rate=0.03,
        upper_scale=True,
        day_shift=day_shift,
    )
    return _Families(
        team_short=RateParams(
            settings.team_short_tau,
            fast,
            settings.team_floor_fraction,
            count_floor=COUNT_FLOOR_EVENTS * settings.window_seconds / settings.team_short_tau,
        ),
        team_long=RateParams(settings.team_long_tau, slow, settings.team_floor_fraction),
        cost=RateParams(settings.cost_tau, fast, settings.team_floor_fraction),
        users=UserHorizons(
            short_tau=settings.user_short_tau,
            long_tau=settings.user_long_tau,
            day_shift=day_shift,
            log_context_ratio=math.log(settings.runaway_context_ratio),
        ),
    )


def _target_probability(episodes_per_week: float, tau: float, window: float) -> float:
    """Per-window tail probability that yields ``episodes_per_week`` alarm episodes.

    Smoothing over ``tau`` makes exceedances come in runs of about ``tau / window`` windows, so
    the per-window probability is the episode rate times the run length.
    """
    windows_per_week = 7 * SECONDS_PER_DAY / window
    run_length = max(1.0, tau / window)
    return min(0.01, episodes_per_week * run_length / windows_per_week)


@dataclass(slots=True)
class _Alarm:
    since: float = math.nan
    residual_sum: float = 0.0
    steps: int = 0
    # A user alarm keeps the kind it started with, so that one incident is one alert.
    kind: str = ""

    @property
    def active(self) -> bool:
        return self.since == self.since

    def to_plain(self) -> list[Any]:
        return [self.since, self.residual_sum, self.steps, self.kind]


def _bar(target: float, in_alarm: bool) -> float:
    """The tail probability below which a series alarms: the target to start, a laxer bar to
    continue (hysteresis), so that one incident is one alert rather than a string of them."""
    return min(TAIL_EXCEEDANCE, target * HYSTERESIS_FACTOR) if in_alarm else target


def _young_tail_probability(probability: float, samples: int) -> float:
    """A tail probability re-read under a tail whose mean excess is at its upper confidence bound.

    A user's tail is exponential above its 95 % quantile, with a mean excess estimated from the
    roughly ``samples / 20`` periods beyond the quantile; that estimate's relative standard error
    is one over the square root of their number. Beyond the quantile the probability is
    ``0.05 * exp(-excess_over_quantile / mean_excess)``, so stretching the mean excess by
    ``1 + YOUNG_TAIL_SIGMAS / sqrt(k)`` raises the probability to the power ``1 / stretch``.

    Examples
    --------
    >>> f"{_young_tail_probability(1e-8, 30):.0e}"  # about 1.5 exceedances seen: much laxer
    '1e-04'
    >>> _young_tail_probability(0.2, 30)  # below the quantile nothing changes
    0.2
    >>> _young_tail_probability(0.0, 30) > 0.0  # an excess beyond floating point stays finite
    True
    """
    if probability >= TAIL_EXCEEDANCE:
        return probability
    probability = max(probability, MIN_PROBABILITY)
    exceedances = max(TAIL_EXCEEDANCE * samples, YOUNG_TAIL_MIN_EXCEEDANCES)
    stretch = 1.0 + YOUNG_TAIL_SIGMAS / math.sqrt(exceedances)
    return TAIL_EXCEEDANCE * math.exp(math.log(probability / TAIL_EXCEEDANCE) / stretch)


def _tokens(usage: Usage) -> float:
    return float(usage.input_tokens + usage.output_tokens)


class UsageDetector:
    """Per-team detector: implements :class:`detectors.base.TeamDetector`.

    Parameters
    ----------
    team
        The team it watches.
    settings
        Model and calibration settings.
    """

    def __init__(
        self,
        team: str,
        settings: UsageDetectorSettings | None = None,
        peers: WeekendPeers | None = None,
    ) -> None:
        self.team = team
        # The other teams' weekend days, shared by the detectors of one factory (not state).
        self.peers = peers
        self.settings = settings or UsageDetectorSettings()
        self._families = _families(self.settings)
        s = self.settings
        team_budget = 0.4 * s.false_alarms_per_team_week
        self._team_target = _target_probability(team_budget / 3, s.team_short_tau, s.window_seconds)
        # The day-over-day CUSUM steps at most once an hour: its share of the team budget is an
        # in-control run length in hours.
        self._ramp_threshold = cusum_threshold(7 * 24 * BUSY_HOURS_PER_DAY / (team_budget / 3))
        # The first weekend's ceiling is tested once an hour, over the two days of one weekend in
        # the team's life: the long horizon's share of the budget, spread over those hours.
        self._weekend_target = team_budget / 3 / (2 * HOURS_PER_DAY)
        # A working day's evening is tested once a day: half the long horizon's share of the
        # budget (the CUSUM and the slow baseline have the other half), over five a week.
        self._evening_target = team_budget / 3 / 2 / 5
        self._user_budget = 0.6 * s.false_alarms_per_team_week
        self.first_seen = math.nan
        self.team_short = RateSeries()
        self.team_long = RateSeries()
        self.requests_short = RateSeries()
        self.requests_long = RateSeries()
        self.cost = RateSeries()
        # Log cost per token of the smoothed rates: a pricier model moves it, more tokens do not.
        self.price = RobustSeries(self._families.cost.series)
        self.price_last_tail = -math.inf
        self.cost_tokens_rate = 0.0
        # The team's cost and tokens smoothed over ``cost_fast_tau`` (the switch's fast reading).
        self.cost_fast = [0.0, 0.0]
        self.ramp = DayOverDay()
        # Weekend hours the team has not seen on enough days, against its working days.
        self.ceiling = WorkingDayCeiling()
        # Tail of the standardised count of users above their own range (see ``update``).
        self.breadth_tail = TailTracker(rate=0.03)
        self.breadth_last_tail = -math.inf
        # Tail of the users' context sizes (``UserModel.context_statistic``), pooled over the team.
        self.context_tail = TailTracker(rate=CONTEXT_TAIL_RATE)
        # Tail of the users' day volumes against their busiest earlier day, pooled over the team.
        self.day_tail_q, self.day_tail_excess = DAY_TAIL_PRIOR
        # The team's own day volume: a user's is news only beyond the rest of the team's.
        self.day_volume = DayVolume()
        self.last_end = math.nan
        # Distinct days the team was active in each weekday/weekend hour (see ``update``).
        self.calendar = bytearray(SEASONAL_BINS)
        self.calendar_day = array("H", bytes(2 * SEASONAL_BINS))
        # Peak of the 30-minute token rate per day (a ring of ``DAYS_OF_PEAKS`` UTC days) and the
        # day the ring's newest slot belongs to: the warm-up counts working days seen.
        self.day_peaks = array("d", bytes(8 * DAYS_OF_PEAKS))
        self.peak_day = -1
        # Whether the team has seen its working days; once true, it stays true.
        self.established = False
        # The team's offset from UTC (seconds, whole hours), which decides where its days and
        # weekends start, read from its users' active hours (see ``_settle_day_shift``). Until
        # it is settled, days are UTC days and active users are counted per UTC hour of day.
        self.day_shift = 0.0
        self.day_shift_settled = False
        self.active_hours = array("d", bytes(8 * 24))
        self.active_hours_since = math.nan
        # Smoothed volumes of users still warming up:
        # [short tokens, long tokens, cost, short requests, long requests].
        self.fresh_rates = [0.0, 0.0, 0.0, 0.0, 0.0]
        self.team_alarm = _Alarm()
        self.cost_alarm = _Alarm()
        self.users: dict[str, UserModel] = {}
        self.user_alarms: dict[str, _Alarm] = {}
        # Long-run per-window rates of models and tools, for the contributors of an excess.
        self.model_rates: dict[str, list[float]] = {}
        self.tool_rates: dict[str, list[float]] = {}
        # Optional list that receives the team's intermediate signals per window (diagnostics).
        self.debug: list[dict[str, float]] | None = None

    # ------------------------------------------------------------------------------------ update
    def update(self, window: WindowSummary) -> list[Finding]:
        """Score the closed ``window``, learn from it and return the anomalies it shows."""
        s = self.settings
        fam = self._families
        end = window.end
        width = window.end - window.start
        if self.first_seen != self.first_seen:
            self.first_seen = window.start
        if not self.established and end - self.first_seen >= s.warmup_seconds:
            self.established = self._working_days_seen() >= MIN_WORKING_DAYS
        if not self.day_shift_settled:
            if self.active_hours_since != self.active_hours_since:
                self.active_hours_since = window.start
            hour_of_day = int(window.start % SECONDS_PER_DAY // 3600.0)
            self.active_hours[hour_of_day] += len(window.by_user)
            if self.established and end - self.active_hours_since >= SECONDS_PER_DAY:
                self._settle_day_shift()
                fam = self._families
        # A team alarms only in hours (weekday/weekend) it was seen in on two earlier days: a new
        # team whose first days were a weekend and a holiday has no idea of a working morning.
        hour_bin = seasonal_bin(window.start, self.day_shift)
        today = int(window.start // SECONDS_PER_DAY) % 65_536
        if self.calendar_day[hour_bin] != today:
            self.calendar_day[hour_bin] = today
            self.calendar[hour_bin] = min(self.calendar[hour_bin] + 1, 255)
        team_old = self.established
        team_warm = team_old and self.calendar[hour_bin] >= TEAM_HOUR_MIN_DAYS
        findings: list[Finding] = []

        # Users first: the team's series exclude users who are still warming up.
        fresh_tokens = 0.0
        fresh_cost = 0.0
        fresh_requests = 0.0
        # The users share the user half of the budget; a user is tested only in the windows in
        # which they are active, so a sparse user's per-window target is correspondingly looser.
        per_user_budget = self._user_budget / max(10, len(self.users))
        base_user_target = _target_probability(per_user_budget, s.user_short_tau, s.window_seconds)
        # A day volume is judged only while the user's one-hour rate is beyond its own 95 %
        # quantile, so its exceedances come in runs of about the long horizon's time constant.
        day_base_target = _target_probability(per_user_budget, s.user_long_tau, s.window_seconds)
        horizons = fam.users
        # How many established users are above their own 95 % quantile right now: under normal
        # traffic about one in twenty, independently; in a team-wide surge, most of them.
        elevated_users = 0
        tested_users = 0
        peer_ratios: list[float] = []
        self.day_volume.count(window.start, float(window.totals.requests), self.day_shift)
        # A weekend hour the team has not seen on enough days is judged against the same hour
        # of its working days instead (see ``WorkingDayCeiling``); every hour of a day shares
        # the day's verdict on whether it is warm, so the hour just closed is judged with it.
        judge_weekend = team_old and not team_warm and self.day_shift_settled
        self.ceiling.count(
            window.start,
            float(window.totals.requests),
            self.day_shift,
            learn=not self.team_alarm.active,
            judge=judge_weekend,
            judge_off=team_warm and self.day_shift_settled,
            judge_evening=team_old and self.day_shift_settled,
            weekend_day=team_old and self.day_shift_settled and self.peers is not None,
        )
        scored: list[tuple[str, UserModel, Usage, UserStep, float, bool, float]] = []
        for name, usage in window.by_user.items():
            user = self.users.get(name)
            if user is None:
                user = self.users[name] = UserModel(first_seen=window.start)
            tokens = _tokens(usage)
            # A user's own range is judged once they are two days old and have worked two
            # weekdays: someone who joins on a Saturday has only a weekend behind them on their
            # first Monday, and that Monday is a new person's first busy morning, not news.
            user_settled = (
                end - user.first_seen >= s.warmup_seconds and user.working_days >= MIN_WORKING_DAYS
            )
            user_warm = team_old and user_settled and user.knows_its_tail()
            if not user_warm:
                fresh_tokens += tokens
                fresh_cost += usage.cost_usd
                fresh_requests += usage.requests
            step = user.observe(end, tokens, usage.requests, width, horizons)
            user.day_volume.count(end - width, usage.requests, self.day_shift)
            if step.context == step.context and end - user.first_seen >= s.warmup_seconds:
                # A third family beside requests and tokens: the size of the average request,
                # judged against the team's tail of it (Bonferroni over the three).
                context_p = self.context_tail.probability(step.context)
                if context_p < TAIL_EXCEEDANCE:
                    step = dataclasses.replace(
                        step,
                        tail_probability=min(1.0, 1.5 * step.tail_probability, 3.0 * context_p),
                    )
            user_target = min(0.01, base_user_target / user.active_fraction(end, width))
            alarm = user_warm and step.tail_probability < _bar(
                user_target, name in self.user_alarms
            )
            if not user_warm and team_old and user_settled:
                # A sparse user's tail rests on few active periods for weeks. A runaway agent
                # of theirs is caught all the same, against a bar widened for that uncertainty
                # (see ``_young_user_may_start``).
                in_alarm = name in self.user_alarms
                young_p = _young_tail_probability(step.tail_probability, user.requests.tail_samples)
                alarm = young_p < _bar(user_target, in_alarm) and (
                    in_alarm or self._young_user_may_start(user, end - width, usage)
                )
            elif not user_warm and team_old:
                # A user still in warm-up has no range of their own yet; a runaway agent of
                # theirs is judged against their established colleagues instead.
                in_alarm = name in self.user_alarms
                peer_p = self._fresh_user_peer_probability(user, end - width, usage, in_alarm)
                if peer_p < 1.0:
                    step = dataclasses.replace(step, tail_probability=peer_p)
                    alarm = peer_p < _bar(user_target, in_alarm)
            day_excess = user.day_volume.excess() if user_warm else math.nan
            if user_warm:
                tested_users += 1
                if step.requests_probability < TAIL_EXCEEDANCE:
                    elevated_users += 1
                    user.elevated_at = end
                peer_ratios.append(user.requests.ratios()[0])
            scored.append((name, user, usage, step, user_target, alarm, day_excess))
        # Peers: when much of the team is up at once (a busy day after a holiday, a team-wide
        # surge) a user's excess over their own history says little about them; they alarm only
        # if they also stand out from the median active colleague.
        peer_median = statistics.median(peer_ratios) if len(peer_ratios) >= 3 else 0.0
        for name, user, usage, step, user_target, alarm, day_excess in scored:
            tokens = _tokens(usage)
            day_verdict: tuple[float, float] | None = None
            if day_excess == day_excess and not alarm:
                day_excess, day_p, day_target = self._day_verdict(
                    user, day_excess, end, width, day_base_target
                )
                if day_p < _bar(day_target, name in self.user_alarms):
                    alarm = True
                    day_verdict = (day_p, day_target)
                elif user.day_volume.closing == user.day_volume.closing:
                    # One sample per user and local day, as the day closes: samples an hour
                    # apart share 23 of their 24 hours, so a loop learned hourly would teach
                    # the tail it is judged against two dozen times a day.
                    self._learn_day_tail(user.day_volume.closing)
            if alarm and peer_median > 1.0:
                alarm = user.requests.ratios()[0] >= PEER_FACTOR * peer_median
            kind = ""
            if alarm:
                finding = self._user_finding(name, user, usage, step, user_target, end, day_verdict)
                findings.append(finding)
                kind = finding.kind
            self._track_user_alarm(name, alarm, end, kind)
            if (
                not alarm
                and step.context == step.context
                and end - user.first_seen >= TAIL_LEARNING_AGE
                and end - user.context_tail_at >= s.user_short_tau
            ):
                user.context_tail_at = end
                self.context_tail.learn(step.context)
            user.learn(end, tokens, usage.requests, width, step, horizons, alarm)
            user.follow_spend(
                end,
                width,
                tokens,
                usage.cost_usd,
                s.cost_tau,
                s.cost_fast_tau,
                learn=not self.cost_alarm.active,
            )
        # A user in alarm who sent nothing this window is still followed: their rates decay, and
        # the alarm holds until they are back to normal, instead of flapping with their gaps.
        for name in [n for n in self.user_alarms if n not in window.by_user]:
            user = self.users[name]
            step = user.observe(end, 0.0, 0, width, horizons)
            user_target = min(0.01, base_user_target / user.active_fraction(end, width))
            probability = step.tail_probability
            if not user.knows_its_tail():
                probability = _young_tail_probability(probability, user.requests.tail_samples)
            alarm = probability < _bar(user_target, True)
            user.day_volume.count(end - width, 0.0, self.day_shift)
            day_excess = user.day_volume.excess()
            day_verdict = None
            if not alarm and day_excess == day_excess:
                _, day_p, day_target = self._day_verdict(
                    user, day_excess, end, width, day_base_target
                )
                alarm = day_p < _bar(day_target, True)
                day_verdict = (day_p, day_target)
            kind = ""
            if alarm:
                finding = self._user_finding(
                    name, user, Usage(), step, user_target, end, day_verdict
                )
                findings.append(finding)
                kind = finding.kind
            self._track_user_alarm(name, alarm, end, kind)

        # New users count in the baseline (the team grows with them) but not as evidence: the
        # alarm is judged on the rate without the users who are still warming up.
        elapsed = end - self.last_end if self.last_end == self.last_end else math.inf
        taus = (s.team_short_tau, s.team_long_tau, s.cost_tau, s.team_short_tau,
                s.team_long_tau)  # fmt: skip
        fresh_amounts = (fresh_tokens, fresh_tokens, fresh_cost, fresh_requests, fresh_requests)
        self.fresh_rates = [
            rate * math.exp(-elapsed / tau) + (1.0 - math.exp(-width / tau)) * amount
            for rate, tau, amount in zip(self.fresh_rates, taus, fresh_amounts, strict=True)
        ]
        self.last_end = end
        tokens_total = _tokens(window.totals)
        requests_total = float(window.totals.requests)
        short = self.team_short.observe(end, tokens_total, width, fam.team_short)
        long = self.team_long.observe(end, tokens_total, width, fam.team_long)
        req_short = self.requests_short.observe(end, requests_total, width, fam.team_short)
        req_long = self.requests_long.observe(end, requests_total, width, fam.team_long)
        cost = self.cost.observe(end, window.totals.cost_usd, width, fam.cost)
        short_p = self._established_p(self.team_short, short, self.fresh_rates[0], fam.team_short)
        long_p = self._established_p(self.team_long, long, self.fresh_rates[1], fam.team_long)
        req_short_p = self._established_p(
            self.requests_short, req_short, self.fresh_rates[3], fam.team_short
        )
        req_long_p = self._established_p(
            self.requests_long, req_long, self.fresh_rates[4], fam.team_long
        )
        # The long horizon only counts while the short one is above its 95 % quantile: once an
        # incident is over, a two-hour average is still high for hours, and that is not news.
        if short_p >= TAIL_EXCEEDANCE:
            long_p = 1.0
        if req_short_p >= TAIL_EXCEEDANCE:
            req_long_p = 1.0
        # A slow baseline needs more history than a fast one before its verdicts mean much.
        if end - self.first_seen < LONG_HORIZON_WARMUP_FACTOR * s.warmup_seconds:
            long_p = req_long_p = 1.0
        # Requests carry the evidence of more activity (counts are far less noisy than token
        # volumes, whose request sizes are heavy-tailed); tokens count when requests are up too.
        if req_short_p >= TAIL_EXCEEDANCE:
            short_p = long_p = 1.0
        short_p = min(1.0, 2.0 * min(short_p, req_short_p))
        long_p = min(1.0, 2.0 * min(long_p, req_long_p))
        # Day over day: this hour's two-hour request rate against the median of the last days
        # at the same hour. Adaptive baselines learn a ramp as it happens; earlier days do not.
        ramp_value = math.log(self.requests_long.rate + self.requests_long.floor(fam.team_long))
        busy_level = math.log(
            self.requests_long.mean_rate + self.requests_long.floor(fam.team_long)
        )
        ramp_cusum = self.ramp.cusum_step(end, ramp_value, busy_level)
        if not self.ramp.busy(end, busy_level):
            # The CUSUM holds its value through quiet hours, but only busy hours can alarm: a
            # ramp shows in working hours, while the evening's trickle says nothing about it.
            ramp_cusum = 0.0
        # Past the threshold the CUSUM's stationary tail is about exp(-2k s): the tail
        # probability equals the team target exactly at the threshold.
        ramp_p = min(
            1.0,
            self._team_target * math.exp(-2.0 * CUSUM_DRIFT * (ramp_cusum - self._ramp_threshold)),
        )
        if end - self.first_seen < LONG_HORIZON_WARMUP_FACTOR * s.warmup_seconds:
            ramp_p = 1.0
        long_p = min(1.0, 2.0 * min(long_p, ramp_p))
        # A slow ramp is news only while it is still on. To start a finding, the team must be
        # clearly above its expectation now: the two-hour request rate beyond the 95 % quantile
        # of day-over-day differences against the same hour of earlier days, or the five-minute
        # request rate beyond the bar at which a team alarm is held. To keep one, the two-hour
        # rate must not have fallen below the same hour of earlier days. Without this, a CUSUM
        # that stays high after an excess has ended, or a slow baseline behind a new daily
        # pattern, alarms in hours when the team is at its usual rate.
        day_over_day_p = self.ramp.tail_probability(end, ramp_value)
        if self.team_alarm.active:
            ramp_on = not day_over_day_p >= 0.5
        else:
            ramp_on = day_over_day_p < TAIL_EXCEEDANCE or req_short_p < _bar(
                self._team_target, True
            )
        if not ramp_on:
            long_p = 1.0
        if elevated_users < 2:
            # One person's excess is a user-level matter (the user model judges it against that
            # person's own range); a team-level finding needs more than one person behind it.
            # A slow ramp lifts everyone gradually, and users' own ranges follow it, so on the
            # long horizon "more than one person" means no single user carries the excess.
            # An alarm continues on laxer evidence than it starts on, and so does this rule:
            # while the team is in alarm, a user beyond their range within the short horizon
            # still counts (the people of a small team are rarely all active in the same minute,
            # and a surge's second window would otherwise end the alarm it started).
            #
            # Counting people beyond their own range needs people who know it. In a team one
            # person does most of the work of, or whose others are sparse and still learning
            # their tails, a surge rarely shows two such people in a minute; there the excess is
            # more than one person's when the others, together, are above their usual rates.
            if not (
                self.team_alarm.active
                and short_p < _bar(self._team_target, True)
                and self._recently_elevated(end) >= 2
            ) and not (
                short_p < _bar(self._team_target, self.team_alarm.active)
                and self._others_above_usual(end)
            ):
                short_p = 1.0
            #
            # On the long horizon the minute's users say too little: in a small team a minute
            # holds one or two people, and users' own ranges follow a slow ramp as it climbs.
            # There the others, together, over the last two hours can say it instead (only
            # asked when the long horizon would alarm: the answer changes nothing otherwise).
            if self._one_user_carries_excess(window) and not (
                long_p < _bar(self._team_target, self.team_alarm.active)
                and self._others_above_their_hours()
            ):
                long_p = 1.0
        # Breadth: many users up at once is evidence of its own, and it does not suffer from the
        # team's day-to-day swings the way the team's own volume does. Independent users would
        # give a binomial tail; users of one team are correlated (a busy Monday lifts them all),
        # so the statistic's own tail, learned from this team, is used when it is heavier.
        breadth_z = 0.0
        if tested_users >= 2:
            spread = math.sqrt(tested_users * TAIL_EXCEEDANCE * TAIL_QUANTILE)
            breadth_z = (elevated_users - tested_users * TAIL_EXCEEDANCE) / spread
        breadth_p = 1.0
        if req_short_p < 0.5 and elevated_users >= 2:
            breadth_p = max(
                binomial_upper_tail(elevated_users, tested_users, TAIL_EXCEEDANCE),
                self.breadth_tail.probability(breadth_z),
            )
        short_p = min(1.0, 1.5 * min(short_p, breadth_p))
        token_p = min(short_p, long_p)
        token_alarm = team_warm and token_p < _bar(self._team_target, self.team_alarm.active)
        # The first weekend against the working days: not one person's excess.
        weekend_p = 1.0
        z = self.ceiling.closed_z
        if judge_weekend and z == z and z > 0.0:
            weekend_p = normal_upper_tail(z)
        weekend_alarm = False
        if weekend_p < _bar(self._weekend_target, self.team_alarm.active):
            observed, ceiling = self.ceiling.closed_counts(self.day_shift)
            weekend_alarm = not self._one_user_carries_ceiling_excess(
                observed, ceiling, self.ceiling.hour - 1, 2
            )
        # The first weekend against the other teams' weekends: a weekend day's working hours so far,
        # against the same hours of recent working days, at the others' level (see
        # ``detectors.peers``); not one person's (without the busiest user, still beyond).
        peers_p, peers_expected = 1.0, math.nan
        day_observed, day_usual, day_hours = self.ceiling.closed_weekend_day
        if self.peers is not None and day_observed == day_observed:
            self.peers.report(self.team, end, day_observed, day_usual)
            if judge_weekend:
                peers_p, peers_expected = self.peers.verdict(
                    self.team, end, day_observed, day_usual
                )
        peers_alarm = False
        if self.peers is not None and peers_p < _bar(self._weekend_target, self.team_alarm.active):
            largest = max(
                (
                    u.day_volume.requests_in(self.ceiling.hour - 1, int(day_hours))
                    for u in self.users.values()
                ),
                default=0.0,
            )
            rest_p, _ = self.peers.verdict(self.team, end, day_observed - largest, day_usual)
            peers_alarm = rest_p < _bar(self._weekend_target, self.team_alarm.active)
        # A day off (a holiday) against its own level: a surge on it may never reach a working
        # day's. Its working hours share the first weekend's budget per hour.
        off_p, off_expected = self.ceiling.closed_off
        if off_p != off_p:
            off_p = 1.0
        off_alarm = False
        if off_p < _bar(self._weekend_target, self.team_alarm.active):
            off_observed = self.ceiling.closed_counts(self.day_shift)[0]
            off_alarm = not self._one_user_carries_ceiling_excess(
                off_observed, off_expected, self.ceiling.hour - 1, 2
            )
        # A working day's evening against the same hours of recent working days, as it closes:
        # the hours a ramp has climbed by, which the day-over-day CUSUM leaves to the busy ones.
        # A ramp is still on as the evening ends (a surge over by 20:00 is not news at midnight),
        # and it is the team's: users still in warm-up (people onboarding) are left out, and the
        # rest must be above the ceiling without its busiest user.
        evening_p, evening_observed, evening_ceiling, evening_last = self.ceiling.closed_evening
        evening_alarm = False
        if (
            team_old
            and evening_p < self._evening_target
            and self.ceiling.still_above(int(evening_last), self.day_shift)
        ):
            fresh = sum(
                u.day_volume.requests_in(int(evening_last), EVENING_HOURS)
                for u in self.users.values()
                if end - u.first_seen < s.warmup_seconds
            )
            evening_alarm = not self._one_user_carries_ceiling_excess(
                evening_observed - fresh, evening_ceiling, int(evening_last), EVENING_HOURS
            )
        # Cost per token over the cost's own time constant: a pricier model moves it, more
        # tokens do not, and a few expensive requests in five minutes do not either.
        keep = math.exp(-elapsed / s.cost_tau) if elapsed != math.inf else 0.0
        self.cost_tokens_rate = (
            self.cost_tokens_rate * keep + (1.0 - math.exp(-width / s.cost_tau)) * tokens_total
        )
        keep = math.exp(-elapsed / s.cost_fast_tau) if elapsed != math.inf else 0.0
        gain = 1.0 - math.exp(-width / s.cost_fast_tau)
        self.cost_fast[0] = self.cost_fast[0] * keep + gain * window.totals.cost_usd
        self.cost_fast[1] = self.cost_fast[1] * keep + gain * tokens_total
        self._record_day_peak(window.start, self.cost_tokens_rate)
        price = self._log_price(fam, self.cost.rate, self.cost_tokens_rate)
        price_result = self.price.score(end, price)
        # A switch to a pricier model shows in the cost per token; the spend must be material,
        # and the shift must not be one person's (a user trying an expensive model for an hour
        # is normal; a team moving to it is a decision someone should know about). The spend
        # need not be above its seasonal expectation: on a holiday a switch multiplies the cost
        # per token of a day whose spend stays below a working day's.
        cost_bar = _bar(self._team_target, self.cost_alarm.active)
        # Materiality: the team is spending at least at its average rate (a price wobble in a
        # night-time trickle of a few requests is noise, not a switch).
        material = self.cost.rate >= self.cost.mean_rate
        cost_alarm = (
            team_warm
            and material
            and price_result.tail_probability < cost_bar
            # A switch to an expensive model multiplies the cost per token; a drift of tens of
            # percent (a few people trying a pricier model) is not one, however improbable.
            and (
                (
                    price - price_result.expected >= math.log(PRICIER_USER_RATIO)
                    and self._users_pay_more(end)[0]
                )
                # The same two rules over the fast horizon: a 4x switch doubles the cost per
                # token over a quarter of an hour in 6 minutes, over half an hour in 12.
                or (
                    self._log_price(fam, *self.cost_fast) - price_result.expected
                    >= math.log(PRICIER_USER_RATIO)
                    and self._users_pay_more(end, fast=True)[0]
                )
            )
        )
        if self.debug is not None:
            self.debug.append(
                {
                    "end": end, "short": short_p, "long": long_p, "req_short": req_short_p,
                    "req_long": req_long_p, "ramp": ramp_p, "breadth": breadth_p,
                    "cusum": ramp_cusum, "day_over_day": day_over_day_p,
                    "elevated": elevated_users, "tested": tested_users, "warm": team_warm,
                    "price": price_result.tail_probability, "material": material,
                    "pricier": self._users_pay_more(end)[1],
                    "pricier_fast": self._users_pay_more(end, fast=True)[1],
                    "alarm": token_alarm,
                    "cost_alarm": cost_alarm, "weekend": weekend_p,
                    "weekend_alarm": weekend_alarm, "off": off_p, "off_alarm": off_alarm,
                    "price_excess": price - price_result.expected,
                }
            )  # fmt: skip
        if token_alarm:
            findings.append(
                self._team_finding(window, short_p, long_p, elevated_users, tested_users)
            )
        elif weekend_alarm:
            findings.append(
                self._ceiling_finding(
                    window, "weekend", weekend_p, observed, ceiling, self.ceiling.hour - 1, 2
                )
            )
        elif off_alarm:
            findings.append(
                self._ceiling_finding(
                    window, "day_off", off_p, off_observed, off_expected, self.ceiling.hour - 1, 2
                )
            )
        elif peers_alarm:
            findings.append(
                self._ceiling_finding(
                    window,
                    "peers",
                    peers_p,
                    day_observed,
                    peers_expected,
                    self.ceiling.hour - 1,
                    int(day_hours),
                )
            )
        elif evening_alarm:
            findings.append(
                self._ceiling_finding(
                    window,
                    "evening",
                    evening_p,
                    evening_observed,
                    evening_ceiling,
                    int(evening_last),
                    EVENING_HOURS,
                )
            )
        token_alarm = token_alarm or weekend_alarm or peers_alarm or off_alarm or evening_alarm
        if cost_alarm:
            findings.append(self._cost_finding(window, cost, price_result.tail_probability))
        self.ramp.observe(end, ramp_value)
        if not token_alarm:
            self.ramp.learn_tail(end, ramp_value, busy_level)
        if not token_alarm and end - self.breadth_last_tail >= s.team_short_tau:
            self.breadth_last_tail = end
            self.breadth_tail.learn(breadth_z)
        self._track_alarm(self.team_alarm, token_alarm, end, short.z * short.scale, self.team_short)
        self._track_alarm(self.cost_alarm, cost_alarm, end, cost.z * cost.scale, self.cost)
        self.team_short.learn_current(end, width, fam.team_short, token_alarm)
        self.team_long.learn_current(end, width, fam.team_long, token_alarm)
        self.requests_short.learn_current(end, width, fam.team_short, token_alarm)
        self.requests_long.learn_current(end, width, fam.team_long, token_alarm)
        self.cost.learn_current(end, width, fam.cost, cost_alarm)
        learn_price_tail = not cost_alarm and end - self.price_last_tail >= min(s.cost_tau, 600.0)
        if learn_price_tail:
            self.price_last_tail = end
        if end - self.first_seen >= PRICE_WARMUP_TAUS * s.cost_tau:
            self.price.learn(end, price, width, learn_tail=learn_price_tail)
        self._learn_breakdown(self.model_rates, window.by_model, end)
        self._learn_breakdown(self.tool_rates, window.by_tool, end)
        return findings

    # ---------------------------------------------------------------------------------- warm-up
    def _record_day_peak(self, ts: float, rate: float) -> None:
        day = int(ts // SECONDS_PER_DAY)
        if day != self.peak_day:
            # Days without a window are days without traffic: their peaks are zero.
            for missing in range(max(self.peak_day + 1, day - DAYS_OF_PEAKS + 1), day + 1):
                self.day_peaks[missing % DAYS_OF_PEAKS] = 0.0
            self.peak_day = day
        slot = day % DAYS_OF_PEAKS
        if rate > self.day_peaks[slot]:
            self.day_peaks[slot] = rate

    def _settle_day_shift(self) -> None:
        """Read the team's offset from UTC from its active users' hours, once.

        The hours of day are angles; their weighted circular mean is the centre of the team's
        activity, which a working day puts at about ``WORKDAY_CENTRE_HOUR`` local time. Counting
        active users rather than volume keeps one nightly batch job from moving the centre much.
        A team whose activity has no centre (the mean resultant length is below
        ``MIN_DAY_CONCENTRATION``: around the clock, or almost nothing seen) keeps UTC days.

        Until now every series of the team used UTC days; from now on the weekday/weekend split
        follows the team's days. Only the hours between midnight UTC and the team's midnight
        change sides, on the days where a weekend begins or ends; where such a day was already
        learned, those hours are forgotten (:meth:`_forget_misfiled_hours`).
        """
        x = y = total = 0.0
        for hour, weight in enumerate(self.active_hours):
            angle = 2.0 * math.pi * (hour + 0.5) / 24.0
            x += weight * math.cos(angle)
            y += weight * math.sin(angle)
            total += weight
        self.day_shift_settled = True
        self.active_hours = array("d")
        if total <= 0.0 or math.hypot(x, y) / total < MIN_DAY_CONCENTRATION:
            return
        centre = (math.atan2(y, x) * 24.0 / (2.0 * math.pi)) % 24.0
        offset = round(WORKDAY_CENTRE_HOUR - centre)
        offset = (offset - LOWEST_OFFSET_HOURS) % 24 + LOWEST_OFFSET_HOURS
        self._forget_misfiled_hours(offset * 3600.0)
        self._apply_day_shift(offset * 3600.0)

    def _forget_misfiled_hours(self, day_shift: float) -> None:
        """Forget the hours of day that UTC days filed under the wrong day type.

        Until the team's days are settled, an hour between midnight UTC and the team's midnight
        was filed by its UTC day: for a team five hours behind UTC, the first Monday's hours
        before 05:00 UTC are its Sunday evening, learned as a weekday evening. Such an hour is
        a weekend's level in a weekday bin, and every later weekday evening then looks like an
        excess beyond the guard, which a bin learns a tenth as fast: it never recovers. Those
        hours of day are forgotten by every team series, and they wait for new days before they
        alarm again. The day-over-day references keep them: their median of three days (the
        larger of two) is not moved by one misfiled day.
        """
        if self.first_seen != self.first_seen or self.last_end != self.last_end:
            return
        hours = set()
        hour_start = math.floor(self.first_seen / 3600.0) * 3600.0
        while hour_start <= self.last_end:
            middle = hour_start + 1800.0
            if is_weekend(middle) != is_weekend(middle, day_shift):
                hours.add(int(middle % SECONDS_PER_DAY // 3600.0))
            hour_start += 3600.0
        if not hours:
            return
        for series in (
            self.team_short, self.team_long, self.requests_short, self.requests_long, self.cost,
        ):  # fmt: skip
            if series.baseline is not None:
                series.baseline.forget_hours(hours)
        self.price.forget_hours(hours)
        for hour in hours:
            for b in day_type_bins(hour):
                self.calendar[b] = 0
                self.calendar_day[b] = 0

    def _apply_day_shift(self, day_shift: float) -> None:
        """Make every series of the team follow days that start ``day_shift`` after UTC's."""
        self.day_shift = day_shift
        fam = self._families = _families(self.settings, day_shift)
        for series, params in (
            (self.team_short, fam.team_short),
            (self.requests_short, fam.team_short),
            (self.team_long, fam.team_long),
            (self.requests_long, fam.team_long),
            (self.cost, fam.cost),
        ):
            if series.baseline is not None:
                series.baseline.params = params.series
        self.price.params = fam.cost.series
        self.ramp.day_shift = day_shift

    def _working_days_seen(self) -> int:
        """Completed weekdays (UTC) remembered whose peak rate was a working day's.

        A team is judged against its own history only once that history holds working days: a
        new team whose first days were a weekend and a public holiday has seen a fraction of its
        working volume, and its first real working morning would otherwise look like a surge of
        every series at once. Today's peak counts towards the reference, so the first busy day
        disqualifies the quiet days before it as soon as it outgrows them; weekend days never
        count. Once a team is established it stays so (:attr:`established`): a surge later on
        is news, not a reason to forget what the team's working days look like.
        """
        if self.peak_day < 0:
            return 0
        highest = max(self.day_peaks)
        if highest <= 0.0:
            return 0
        count = 0
        for back in range(1, DAYS_OF_PEAKS):
            day = self.peak_day - back
            weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
            peak = self.day_peaks[day % DAYS_OF_PEAKS]
            if weekday < 5 and peak >= WORKING_DAY_PEAK_SHARE * highest:
                count += 1
        return count

    # ---------------------------------------------------------------------------------- findings
    def _severity(self, alarm: _Alarm, ratio: float, end: float) -> Severity:
        sustained = alarm.active and end - alarm.since >= 15 * 60
        if sustained and ratio >= 10.0:
            return "critical"
        if sustained and ratio >= 3.0:
            return "error"
        return "warning"

    def _user_finding(
        self,
        name: str,
        user: UserModel,
        usage: Usage,
        step: UserStep,
        target: float,
        end: float,
        day: tuple[float, float] | None = None,
    ) -> Finding:
        """A user's finding. ``day`` is the day volume's tail probability and target when the
        alarm is the day volume's: it is then explained in requests over the last 24 hours
        against the busiest earlier day (as per-window averages, like the other rates)."""
        ratio = step.short_ratio
        observed = user.tokens.short_rate
        expected = user.tokens.mean_rate
        alarm = self.user_alarms.get(name, _Alarm())
        kind = alarm.kind
        if not kind:
            if self._runaway_signature(user, usage):
                kind = "runaway_agent"
            elif not user.works_at(end - 1.0, self.day_shift):
                kind = "off_hours"
            else:
                kind = "user_runaway"
        if day is not None:
            volume = user.day_volume
            windows_per_day = SECONDS_PER_DAY / self.settings.window_seconds
            busiest = max(volume.totals)
            day_ratio = (volume.trailing + 1.0) / (busiest + 1.0)
            return Finding(
                kind=kind,
                severity=self._severity(alarm, day_ratio, end),
                metric="requests",
                observed=volume.trailing / windows_per_day,
                expected=busiest / windows_per_day,
                score=calibrated_score(day[0], day[1]),
                summary=(
                    f"{name} in {self.team}: {volume.trailing:,.0f} requests in the last 24 h vs"
                    f" {busiest:,.0f} on their busiest earlier day ({day_ratio:.1f}x)"
                ),
                user=name,
                top_contributors=(Contributor("user", name, 1.0),),
            )
        return Finding(
            kind=kind,
            severity=self._severity(alarm, ratio, end),
            metric="total_tokens",
            observed=observed,
            expected=expected,
            score=calibrated_score(step.tail_probability, target),
            summary=(
                f"{name} in {self.team}: {observed:,.0f} tokens/window vs {expected:,.0f} usual"
                f" ({ratio:.1f}x){self._context_note(user, usage, kind)}"
            ),
            user=name,
            top_contributors=(Contributor("user", name, 1.0),),
        )

    @staticmethod
    def _context_note(user: UserModel, usage: Usage, kind: str) -> str:
        """For a runaway agent's finding, how large its requests are: on call, "every request is
        fifteen times the usual" tells an agent stuck in a loop from a busy afternoon."""
        if kind != "runaway_agent" or usage.requests <= 0:
            return ""
        size = user.context_ratio(_tokens(usage), usage.requests)
        return f", {size:.0f}x their usual tokens per request"

    @staticmethod
    def _runaway_signature(user: UserModel, usage: Usage) -> bool:
        """Whether the window's tokens per request are at least ``runaway_context_ratio`` times
        the user's usual: the huge contexts of a runaway agent (as ``UserModel.observe`` found
        when it scored the window)."""
        return user.has_runaway_contexts(usage.requests)

    def _fresh_user_peer_probability(
        self, user: UserModel, ts: float, usage: Usage, in_alarm: bool
    ) -> float:
        """Tail probability of a user in warm-up's five-minute request rate, read as if it were
        their most active established colleague's in that colleague's busiest hour (the largest
        of those colleagues' tail probabilities). To start an alarm the window must have a
        runaway agent's signature: tokens per request at least ``runaway_context_ratio`` times
        the user's usual. 1 without it, or without established colleagues.

        A new person's first busy hours are those of a colleague; an agent loop is beyond what
        any colleague does at any hour.
        """
        if not in_alarm and not self._runaway_signature(user, usage):
            return 1.0
        rate = user.requests.short_rate
        warmup = self.settings.warmup_seconds
        largest = 0.0
        for peer in self.users.values():
            tracker = peer.requests
            if peer is user or ts - peer.first_seen < warmup or not peer.knows_its_tail():
                continue
            # Their typical peak in their busiest hour: the new user's hours need not be theirs.
            usual = max(tracker.mean_rate, max(tracker.profile), 1e-9)
            p = exponential_tail_probability(rate / usual, tracker.short_q, tracker.short_excess)
            if p > largest:
                largest = p
        return largest if largest > 0.0 else 1.0

    def _young_user_may_start(self, user: UserModel, ts: float, usage: Usage) -> bool:
        """Whether a user whose tail is still young may start an alarm in this window.

        Only a runaway agent's signature counts (tokens per request at least
        ``runaway_context_ratio`` times the user's usual): a young tail says too little about
        how far a sparse user's ordinary busy hours go, while huge contexts in a burst say
        something of their own. In an hour whose usual rate the user has not seen on two days,
        the rate must also be beyond their range for the same hour on the other day type (a
        nightly job's first weekend run is its usual run).
        """
        if not self._runaway_signature(user, usage):
            return False
        requests = user.requests
        if requests.hour_known(ts, self.day_shift):
            return True
        return requests.short_rate > requests.short_q * requests.other_day_type_peak(
            ts, self.day_shift
        )

    def _day_verdict(
        self,
        user: UserModel,
        excess: float,
        end: float,
        width: float,
        base_target: float,
    ) -> tuple[float, float, float]:
        """A user's day-volume excess beyond the rest of the team's, its tail probability and
        the target it is judged against (the user's share of the budget, per active window).

        Beyond the busiest earlier day is news about a user only as far as the rest of the team
        is not there too: after a team surge, everyone's last 24 hours are. (The rest of the
        team's excess is only needed beyond the tail's quantile: below it, the probability and
        the tail's learning step do not depend on how far.)
        """
        if excess > self.day_tail_q:
            rest = self.day_volume.excess_without(user.day_volume)
            if rest > 0.0:
                excess -= rest
        target = min(0.01, base_target / user.active_fraction(end, width))
        return excess, self._day_probability(user, excess), target

    def _day_probability(self, user: UserModel, excess: float) -> float:
        """Tail probability of a user's day volume against the team's range of them, counted
        only while the user's last hour is beyond its own 95 % quantile too (once a loop, a busy
        day or a team surge is over, the trailing day stays high for a day, and that is not
        news); 1 otherwise."""
        requests = user.requests
        if requests.long_rate < requests.long_q * requests.usual_long:
            return 1.0
        return exponential_tail_probability(excess, self.day_tail_q, self.day_tail_excess)

    def _learn_day_tail(self, excess: float) -> None:
        self.day_tail_q, self.day_tail_excess = learn_tail_step(
            self.day_tail_q, self.day_tail_excess, excess, DAY_TAIL_RATE,
            lowest_quantile=0.0, guarded=False,
        )  # fmt: skip

    def _track_user_alarm(self, name: str, active: bool, end: float, kind: str) -> None:
        alarm = self.user_alarms.get(name)
        if not active:
            if alarm is not None:
                del self.user_alarms[name]
            return
        if alarm is None:
            alarm = self.user_alarms[name] = _Alarm(since=end, kind=kind)
        alarm.steps += 1
        if end - alarm.since >= self.settings.accept_shift_after:
            # A change point: this user's new volume is their normal now.
            user = self.users[name]
            for tracker in (user.requests, user.tokens):
                tracker.mean_rate = max(tracker.mean_rate, tracker.long_rate)
            del self.user_alarms[name]

    def _established_p(
        self, series: RateSeries, result: StepResult, fresh_rate: float, params: RateParams
    ) -> float:
        """Tail probability of the series' rate without the users still warming up."""
        if fresh_rate <= 0.0 or series.baseline is None or result.scale <= 0.0:
            return result.tail_probability
        established = max(0.0, series.rate - fresh_rate)
        z = (math.log(established + series.floor(params)) - result.expected) / result.scale
        return series.baseline.tail_probability(z)

    def _team_finding(
        self, window: WindowSummary, short_p: float, long_p: float, elevated: int, tested: int
    ) -> Finding:
        fam = self._families
        p = min(short_p, long_p)
        if short_p <= long_p:
            observed = self.team_short.rate
            expected = self.team_short.rate_from(self.team_short_expected(), fam.team_short)
            kind = "team_surge"
        else:
            observed = self.team_long.rate
            expected = self.team_long.rate_from(self.team_long_expected(), fam.team_long)
            kind = "slow_ramp"
        ratio = (observed + 1.0) / (expected + 1.0)
        contributors = self._contributors(window, "tokens")
        return Finding(
            kind=kind,
            severity=self._severity(self.team_alarm, ratio, window.end),
            metric="total_tokens",
            observed=observed,
            expected=expected,
            score=calibrated_score(p, self._team_target),
            summary=(
                f"{self.team}: {observed:,.0f} tokens/window vs {expected:,.0f} expected"
                f" ({ratio:.1f}x); {elevated} of {tested} active users above their usual range"
            ),
            top_contributors=contributors,
        )

    def _ceiling_finding(
        self,
        window: WindowSummary,
        verdict: str,
        p: float,
        observed: float,
        expected: float,
        hour: int,
        span: int,
    ) -> Finding:
        """A finding of the working-day ceiling's verdicts on the team's request counts in the
        ``span`` hours ending at ``hour``: a first weekend's two hours against its working days
        (``"weekend"``, a ``slow_ramp``), a first weekend day's working hours so far against the
        other teams' weekend level (``"peers"``, a ``slow_ramp``; ``expected`` is that level's
        count), a day off's against its own level (``"day_off"``, a
        ``team_surge``), a working day's evening against recent working evenings (``"evening"``,
        a ``slow_ramp``). Its contributors are read from those hours, not from ``window`` (the
        first window after them)."""
        ratio = (observed + 1.0) / (expected + 1.0)
        kind, target = "slow_ramp", self._weekend_target
        if verdict == "weekend":
            summary = (
                f"{self.team}: {observed:,.0f} requests in the last two hours of a weekend vs at"
                f" most {expected:,.0f} at the same hours of recent working days ({ratio:.1f}x)"
            )
        elif verdict == "peers":
            summary = (
                f"{self.team}: {observed:,.0f} requests in a weekend day's busy hours so far vs"
                f" {expected:,.0f} at the level other teams' weekends are at against their"
                f" working days ({ratio:.1f}x)"
            )
        elif verdict == "day_off":
            kind = "team_surge"
            summary = (
                f"{self.team}: {observed:,.0f} requests in the last two hours of a day off vs"
                f" {expected:,.0f} expected at the day's level so far ({ratio:.1f}x)"
            )
        else:
            target = self._evening_target
            summary = (
                f"{self.team}: {observed:,.0f} requests this evening (17:00-24:00) vs at most"
                f" {expected:,.0f} on recent working days ({ratio:.1f}x)"
            )
        return Finding(
            kind=kind,
            severity=self._severity(self.team_alarm, ratio, window.end),
            metric="requests",
            observed=observed,
            expected=expected,
            score=calibrated_score(p, target),
            summary=summary,
            top_contributors=self._hours_contributors(expected, hour, span),
            # Judged once over closed hours: the lifecycle takes them as held, not as one window.
            evidence_seconds=SECONDS_PER_HOUR * span,
        )

    def team_band(self) -> tuple[float, float, float]:
        """Smoothed tokens per window now, what was expected, and the alarm level (for plots)."""
        series = self.team_short
        if series.baseline is None or series.baseline.count == 0:
            return (series.rate, math.nan, math.nan)
        expected, scale = series.baseline.expected_at(self.last_end)
        z_alarm = series.baseline.threshold(self._team_target)
        params = self._families.team_short
        return (
            series.rate,
            series.rate_from(expected, params),
            series.rate_from(expected + z_alarm * scale, params),
        )

    def team_short_expected(self) -> float:
        """Expected log rate of the team's short series at its last window."""
        assert self.team_short.baseline is not None
        return self.team_short.baseline.expected_at(self.last_end)[0]

    def team_long_expected(self) -> float:
        """Expected log rate of the team's long series at its last window."""
        assert self.team_long.baseline is not None
        return self.team_long.baseline.expected_at(self.last_end)[0]

    def _cost_finding(self, window: WindowSummary, cost: StepResult, p: float) -> Finding:
        observed = self.cost.rate
        expected = self.cost.rate_from(cost.expected, self._families.cost)
        ratio = (observed + 1e-9) / (expected + 1e-9)
        return Finding(
            kind="model_cost_shift",
            severity=self._severity(self.cost_alarm, ratio, window.end),
            metric="cost_usd",
            observed=observed,
            expected=expected,
            score=calibrated_score(p, self._team_target),
            summary=(
                f"{self.team}: ${observed:,.2f}/window vs ${expected:,.2f} expected ({ratio:.1f}x)"
                " with token volume in range"
            ),
            top_contributors=self._contributors(window, "cost"),
        )

    def _log_price(self, fam: _Families, cost_rate: float, tokens_rate: float) -> float:
        """The team's log cost per token of a cost and a token rate smoothed over one horizon
        (the cost's, or the fast one), with the floors of the team's cost and token series."""
        return math.log(cost_rate + self.cost.floor(fam.cost)) - math.log(
            tokens_rate + self.team_short.floor(fam.team_short)
        )

    def _one_user_carries_excess(self, window: WindowSummary) -> bool:
        """Whether one user accounts for most of the team's smoothed token excess."""
        excess = []
        for name in window.by_user:
            user = self.users.get(name)
            if user is not None and user.tokens.usual_now == user.tokens.usual_now:
                excess.append(max(0.0, user.tokens.short_rate - user.tokens.usual_now))
        total = sum(excess)
        return total <= 0.0 or max(excess) >= 0.5 * total

    def _others_above_usual(self, end: float) -> bool:
        """Whether the team's users other than the one furthest above their usual rate are,
        together, above theirs over the users' short horizon: their requests in it (each
        user's short rate, decayed to ``end`` if they were not in this window) against the
        sum of their usual rates, at the Poisson tail of one user beyond their own range
        (``TAIL_EXCEEDANCE``). Users still in warm-up are left out, as from the team's
        evidence. The usual rate is an hour's typical peak of the short rate, so the test
        leans towards "one person's"."""
        horizons = self._families.users
        warmup = self.settings.warmup_seconds
        rates = [
            (
                user.requests.short_rate * math.exp(-(end - user.last_end) / horizons.short_tau),
                user.requests.usual_now,
            )
            for user in self.users.values()
            if end - user.first_seen >= warmup
            and user.requests.usual_now == user.requests.usual_now
        ]
        if len(rates) < 2:
            return False
        rates.remove(max(rates, key=lambda rate: rate[0] - rate[1]))
        windows = horizons.short_tau / self.settings.window_seconds
        observed = windows * sum(rate for rate, _ in rates)
        usual = windows * sum(usual for _, usual in rates)
        return poisson_upper_tail(observed, usual) < TAIL_EXCEEDANCE

    def _others_above_their_hours(self) -> bool:
        """Whether the team's users other than the one furthest above their usual sent, together,
        more in the last two closed hours than they usually do in those hours, beyond the team's
        own target (the tail probability a team alarm needs).

        A user's usual for an hour is the typical peak of their one-hour rate in it (their long
        rate's profile; their long-run mean where that is higher), so the test leans towards
        "one person's". Users still in warm-up are left out, as from the team's evidence. Over
        two hours a small team's people show up together, where a minute holds one or two of
        them; and a user's one-hour profile learns a slow ramp a day behind, where the range
        that counts them as elevated learns it as it climbs.
        """
        hour = self.ceiling.hour - 1
        end = (hour + 1) * SECONDS_PER_HOUR
        warmup = self.settings.warmup_seconds
        windows = SECONDS_PER_HOUR / self.settings.window_seconds
        middles = [(h + 0.5) * SECONDS_PER_HOUR for h in (hour - 1, hour)]
        people = [
            (
                user.day_volume.requests_in(hour, 2),
                windows * sum(user.requests.usual_rates(t, self.day_shift)[1] for t in middles),
            )
            for user in self.users.values()
            if end - user.first_seen >= warmup
        ]
        if len(people) < 2:
            return False
        people.remove(max(people, key=lambda person: person[0] - person[1]))
        observed = sum(count for count, _ in people)
        usual = sum(usual for _, usual in people)
        return poisson_upper_tail(observed, usual) < self._team_target

    def _recently_elevated(self, end: float) -> int:
        """How many users were beyond their own range (the 95 % quantile of their request
        ratio) in a window within the team's short horizon."""
        since = end - self.settings.team_short_tau
        return sum(1 for user in self.users.values() if user.elevated_at > since)

    def _one_user_carries_ceiling_excess(
        self, observed: float, ceiling: float, hour: int, span: int
    ) -> bool:
        """Whether the team without its busiest user in the ``span`` hours ending at ``hour``
        that the working-day ceiling judged (``observed``
        requests against ``ceiling``: a weekend's two hours, a day off's, an evening) would not
        be above the ceiling (as for a day volume, the rest of the team must be beyond it: one
        person's loop at a weekend is the user model's business)."""
        largest = max(
            (u.day_volume.requests_in(hour, span) for u in self.users.values()), default=0.0
        )
        return observed - largest <= ceiling

    def _users_pay_more(self, end: float, fast: bool = False) -> tuple[bool, int]:
        """Whether the team's users, not one of them, pay more per token: at least two of the
        users active within the cost horizon, and at least half of them, pay
        ``PRICIER_USER_RATIO`` times their own usual cost per token over it; and how many do.
        ``fast`` asks the same over the fast horizon (``cost_fast_tau``).

        Each user is read over the horizon rather than the window: a minute holds a request or
        two of a user, so in a small team (or on a holiday) two users are rarely active in the
        same minute, while over half an hour a team that switched shows in everyone it holds.
        """
        tau = self.settings.cost_fast_tau if fast else self.settings.cost_tau
        bar = math.log(PRICIER_USER_RATIO)
        active = pricier = 0
        for user in self.users.values():
            excess = user.price_excess(end, tau, fast)
            if excess == excess:
                active += 1
                pricier += excess >= bar
        return pricier >= 2 and 2 * pricier >= active, pricier

    def _hours_contributors(self, expected: float, hour: int, span: int) -> tuple[Contributor, ...]:
        """Users ranked by their share of the request excess of the ``span`` hours ending at
        ``hour`` over ``expected`` (the team's count those hours were judged against).

        Each user's part of ``expected`` is in proportion to their long-run request rate (idle
        time counted), so a user's excess is what they sent beyond their usual share. The users'
        hourly counts are those of the last 24 hours, which hold every span a ceiling verdict
        judges.
        """
        sent: dict[str, float] = {}
        usual: dict[str, float] = {}
        for name, user in self.users.items():
            sent[name] = user.day_volume.requests_in(hour, span)
            rate = user.requests.mean_rate
            usual[name] = rate if rate == rate else 0.0  # NaN only before a user's first window
        usual_total = sum(usual.values())
        excess = {
            name: max(
                0.0,
                count - (expected * usual[name] / usual_total if usual_total > 0.0 else 0.0),
            )
            for name, count in sent.items()
        }
        total = sum(excess.values())
        if total <= 0.0:
            return ()
        ranked = sorted(excess.items(), key=lambda item: (-item[1], item[0]))[:3]
        return tuple(
            Contributor("user", name, value / total) for name, value in ranked if value > 0
        )

    def _contributors(self, window: WindowSummary, metric: str) -> tuple[Contributor, ...]:
        """Users, models and tools ranked by their share of the window's excess."""

        def amount(usage: Usage) -> float:
            return usage.cost_usd if metric == "cost" else _tokens(usage)

        picks: list[Contributor] = []
        # What a token usually costs this team: the baseline of a cost excess.
        usual_cost_per_token = 0.0
        if self.team_short.mean_rate > 0.0 and self.cost.mean_rate == self.cost.mean_rate:
            usual_cost_per_token = self.cost.mean_rate / self.team_short.mean_rate
        user_excess: dict[str, float] = {}
        for name, usage in window.by_user.items():
            state = self.users.get(name)
            if state is None or state.tokens.usual_now != state.tokens.usual_now:
                user_excess[name] = amount(usage)
                continue
            # Smoothed excess over what is usual for this user now: one window is too noisy to
            # say who is behind a surge.
            excess_tokens = max(0.0, state.tokens.short_rate - state.tokens.usual_now)
            if metric == "cost":
                price = usage.cost_usd / _tokens(usage) if _tokens(usage) > 0 else 0.0
                user_excess[name] = max(
                    0.0,
                    state.tokens.short_rate * price - state.tokens.usual_now * usual_cost_per_token,
                )
            else:
                user_excess[name] = excess_tokens
        index = 0 if metric == "tokens" else 1
        model_excess = {
            name: max(0.0, amount(u) - self.model_rates.get(name, [0.0, 0.0, 0.0])[index])
            for name, u in window.by_model.items()
        }
        tool_excess = {
            name: max(0.0, amount(u) - self.tool_rates.get(name, [0.0, 0.0, 0.0])[index])
            for name, u in window.by_tool.items()
        }
        breakdowns = (("user", user_excess), ("model", model_excess), ("tool", tool_excess))
        for dimension, excess in breakdowns:
            total = sum(excess.values())
            if total <= 0.0:
                continue
            ranked = sorted(excess.items(), key=lambda item: (-item[1], item[0]))[:3]
            picks.extend(
                Contributor(dimension, name, value / total)  # type: ignore[arg-type]
                for name, value in ranked
                if value > 0.0
            )
        return tuple(picks)

    # ---------------------------------------------------------------------------------- learning
    def _track_alarm(
        self, alarm: _Alarm, active: bool, end: float, residual: float, series: RateSeries
    ) -> None:
        if not active:
            alarm.since, alarm.residual_sum, alarm.steps = math.nan, 0.0, 0
            return
        if not alarm.active:
            alarm.since = end
        alarm.residual_sum += residual
        alarm.steps += 1
        if end - alarm.since >= self.settings.accept_shift_after and series.baseline is not None:
            # A change point: the anomaly has become the regime; move the baseline to it.
            series.baseline.shift_level(alarm.residual_sum / alarm.steps)
            if alarm is self.team_alarm:
                # The day-over-day evidence is part of the same verdict: start it afresh.
                self.ramp.cusum = 0.0
            log.info("%s: accepting a new level after %.0fs of alarm", self.team, end - alarm.since)
            alarm.since, alarm.residual_sum, alarm.steps = math.nan, 0.0, 0

    def _learn_breakdown(
        self, rates: dict[str, list[float]], usage_by_name: Mapping[str, Usage], end: float
    ) -> None:
        weight = 1.0 - math.exp(-self.settings.window_seconds / self.settings.team_long_tau)
        for name, usage in usage_by_name.items():
            entry = rates.get(name)
            if entry is None:
                entry = rates[name] = [0.0, 0.0, end]
            keep = math.exp(-(end - entry[2]) / self.settings.team_long_tau)
            entry[0] = entry[0] * keep + weight * _tokens(usage)
            entry[1] = entry[1] * keep + weight * usage.cost_usd
            entry[2] = end
        if len(rates) > MAX_TRACKED_NAMES:
            for name in sorted(rates, key=lambda n: rates[n][2])[: len(rates) - MAX_TRACKED_NAMES]:
                del rates[name]

    # ------------------------------------------------------------------------------------ state
    def to_state(self) -> bytes:
        """Compact, versioned snapshot of the team's detector (msgpack)."""
        plain = {
            "v": USAGE_STATE_VERSION,
            "settings": _settings_plain(self.settings),
            "first_seen": self.first_seen,
            "last_end": self.last_end,
            "calendar": [bytes(self.calendar), self.calendar_day.tobytes()],
            "day_peaks": [self.day_peaks.tobytes(), self.peak_day, self.established],
            "local_day": [
                self.day_shift,
                self.day_shift_settled,
                self.active_hours.tobytes(),
                self.active_hours_since,
            ],
            "fresh": self.fresh_rates,
            "team": [
                self.team_short.to_plain(),
                self.team_long.to_plain(),
                self.cost.to_plain(),
                self.requests_short.to_plain(),
                self.requests_long.to_plain(),
            ],
            "price": [
                self.price.to_plain(),
                self.price_last_tail,
                self.cost_tokens_rate,
                self.cost_fast,
            ],
            "ramp": self.ramp.to_plain(),
            "ceiling": self.ceiling.to_plain(),
            "breadth": [
                self.breadth_tail.quantile,
                self.breadth_tail.excess,
                self.breadth_last_tail,
            ],
            "day_tail": [self.day_tail_q, self.day_tail_excess, self.day_volume.to_plain()],
            "context_tail": [self.context_tail.quantile, self.context_tail.excess],
            "alarms": [self.team_alarm.to_plain(), self.cost_alarm.to_plain()],
            "users": {name: u.to_plain() for name, u in self.users.items()},
            "user_alarms": {name: a.to_plain() for name, a in self.user_alarms.items()},
            "models": self.model_rates,
            "tools": self.tool_rates,
        }
        packed: bytes = msgpack.packb(plain, use_bin_type=True)
        return packed

    @classmethod
    def from_state(cls, team: str, data: bytes) -> UsageDetector:
        """Inverse of :meth:`to_state`."""
        plain = msgpack.unpackb(data, raw=False)
        version = plain.get("v")
        if version not in (1, 2, 3, 4, 5, 6, 7, 8, 9, USAGE_STATE_VERSION):
            raise ValueError(f"unknown usage detector state version {version!r}")
        detector = cls(team, UsageDetectorSettings(**plain["settings"]))
        if "local_day" in plain:
            shift, settled, hours, since = plain["local_day"]
            detector._apply_day_shift(shift)
            detector.day_shift_settled = settled
            detector.active_hours = array("d")
            detector.active_hours.frombytes(hours)
            detector.active_hours_since = since
        # Versions 1 and 2 had UTC days: such a team starts counting its active hours now and
        # settles its offset a day later.
        fam = detector._families
        detector.first_seen = plain["first_seen"]
        detector.last_end = plain["last_end"]
        detector.calendar = bytearray(plain["calendar"][0])
        detector.calendar_day = array("H")
        detector.calendar_day.frombytes(plain["calendar"][1])
        detector.fresh_rates = list(plain["fresh"])
        if version == 1:
            # Version 1 had no daily peaks: a team restored from it keeps the warm-up it had
            # (calendar time): every remembered day counts as a working day (an infinite peak
            # is one no real day outgrows; they leave the ring within ``DAYS_OF_PEAKS`` days).
            detector.day_peaks = array("d", [math.inf] * DAYS_OF_PEAKS)
            detector.peak_day = (
                int(detector.last_end // SECONDS_PER_DAY)
                if (detector.last_end == detector.last_end)
                else -1
            )
            detector.established = (
                detector.last_end - detector.first_seen >= detector.settings.warmup_seconds
            )
        else:
            detector.day_peaks = array("d")
            detector.day_peaks.frombytes(plain["day_peaks"][0])
            detector.peak_day = plain["day_peaks"][1]
            detector.established = plain["day_peaks"][2]
        team_short, team_long, cost, requests_short, requests_long = plain["team"]
        detector.requests_short = RateSeries.from_plain(fam.team_short, requests_short)
        detector.requests_long = RateSeries.from_plain(fam.team_long, requests_long)
        detector.team_short = RateSeries.from_plain(fam.team_short, team_short)
        detector.team_long = RateSeries.from_plain(fam.team_long, team_long)
        detector.cost = RateSeries.from_plain(fam.cost, cost)
        detector.team_alarm = _Alarm(*plain["alarms"][0])

        detector.cost_alarm = _Alarm(*plain["alarms"][1])
        detector.price = RobustSeries.from_plain(fam.cost.series, plain["price"][0])
        detector.price_last_tail = plain["price"][1]
        detector.ramp = DayOverDay.from_plain(plain["ramp"])
        detector.ramp.day_shift = detector.day_shift
        if "ceiling" in plain:
            detector.ceiling = WorkingDayCeiling.from_plain(plain["ceiling"])
        detector.cost_tokens_rate = plain["price"][2]
        if len(plain["price"]) > 3:
            detector.cost_fast = list(plain["price"][3])
        (
            detector.breadth_tail.quantile,
            detector.breadth_tail.excess,
            detector.breadth_last_tail,
        ) = plain["breadth"]
        if "day_tail" in plain:
            detector.day_tail_q, detector.day_tail_excess, volume = plain["day_tail"]
            detector.day_volume = DayVolume.from_plain(volume)
        if "context_tail" in plain:
            detector.context_tail.quantile, detector.context_tail.excess = plain["context_tail"]
        detector.users = {name: UserModel.from_plain(u) for name, u in plain["users"].items()}
        detector.user_alarms = {name: _Alarm(*a) for name, a in plain["user_alarms"].items()}
        detector.model_rates = {k: list(v) for k, v in plain["models"].items()}
        detector.tool_rates = {k: list(v) for k, v in plain["tools"].items()}
        return detector


class UsageDetectorFactory:
    """Creates and restores :class:`UsageDetector` objects (a ``TeamDetectorFactory``).

    Examples
    --------
    >>> factory = UsageDetectorFactory(warmup_seconds=3600.0)
    >>> detector = factory.create("search")
    >>> factory.restore("search", detector.to_state()).settings.warmup_seconds
    3600.0
    """

    def __init__(self, **settings: Any) -> None:
        self.settings = UsageDetectorSettings(**settings)
        self.peers = WeekendPeers()

    def create(self, team: str) -> UsageDetector:
        """A detector for a team with no history."""
        return UsageDetector(team, self.settings, self.peers)

    def restore(self, team: str, state: bytes) -> UsageDetector:
        """A detector restored from a checkpoint."""
        detector = UsageDetector.from_state(team, state)
        detector.peers = self.peers
        return detector


def default_factory(**settings: Any) -> UsageDetectorFactory:
    """The detector factory the core uses: :class:`UsageDetectorFactory` with ``settings``."""
    return UsageDetectorFactory(**settings)


@functools.lru_cache(maxsize=8)
def _settings_plain(settings: UsageDetectorSettings) -> dict[str, Any]:
    # Every team of a worker shares one settings object, and ``asdict`` walks it field by field:
    # packing it once per settings value halves the cost of a checkpoint. Callers only read it.
    return asdict(settings)
