"""Monthly budgets: month-to-date spend per team, threshold and forecast alerts, status snapshots.

Everything here is pure and driven by event time. The streaming core keeps one
:class:`TeamBudget` inside each team's checkpointed state and calls :func:`observe_window` once
per closed window; the budget state therefore shares the team state's exactly-once checkpoint
(a restart neither loses spend nor counts it twice, and a threshold that fired before the
checkpoint stays fired).

Periods are calendar months in the organisation's time zone (``[org] timezone`` in the teams
file). A window is attributed to the local day of its start; tumbling windows of a minute (or any
size dividing 15 minutes) never straddle a local midnight. Spend that arrived late is attributed
to the window it was reported with.

The forecast is weekday-aware: the mean spend of recent complete working days and of recent
weekend days are estimated separately, and the rest of the month is projected day by day with
the rate of its kind. See :func:`forecast`.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.model import Alert, AlertSeverity, TopContributor, dedup_key_for, utc
from alerts.routing import TeamsFile
from detectors.base import WindowSummary

log = logging.getLogger(__name__)

BUDGET_STATE_VERSION = 1
DEFAULT_THRESHOLDS_PCT: tuple[float, ...] = (50.0, 80.0, 100.0)
# Days of per-day totals kept: enough for the burn rate's look-back at the start of a month.
KEEP_DAYS = 42
# Complete days the burn rate looks back over: two full weekly cycles.
LOOKBACK_DAYS = 14
# Complete days of history before a forecast may alert: a full week, so that both kinds of day
# were seen (before that a weekend would be projected at a working day's rate).
MIN_FORECAST_DAYS = 7
# Growth is read from the last two full weeks (whole weeks, so the weekly cycle cancels). A
# week-on-week ratio of one team is noisy, so only half of it is believed, and never more than
# 5% a week: on the simulator's steady traffic this halves the mean projection error at
# mid-month (7% -> 4%) without letting one odd week swing the projection.
GROWTH_SHRINK = 0.5
MAX_WEEKLY_GROWTH = 0.05
TOP_SPENDERS = 3

THRESHOLD_KIND = "budget_threshold"
FORECAST_KIND = "budget_forecast"


# -- configuration ------------------------------------------------------------------------------


class _BudgetKeys(BaseModel):
    """The budget keys of ``[defaults]`` or of one ``[teams."name"]`` section."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    monthly_budget_usd: float | None = Field(None, gt=0)
    hard_budget: bool | None = None
    monthly_token_allocation: int | None = Field(None, gt=0)
    thresholds_pct: tuple[float, ...] | None = None

    @field_validator("thresholds_pct")
    @classmethod
    def _positive_levels(cls, value: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if value is not None and (not value or any(level <= 0 for level in value)):
            raise ValueError("thresholds_pct must be a non-empty list of positive percentages")
        return value


class _OrgKeys(BaseModel):
    """The ``[org]`` section."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    timezone: str = "UTC"
    monthly_budget_usd: float | None = Field(None, gt=0)
    thresholds_pct: tuple[float, ...] = DEFAULT_THRESHOLDS_PCT

    @field_validator("thresholds_pct")
    @classmethod
    def _positive_levels(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(level <= 0 for level in value):
            raise ValueError("thresholds_pct must be a non-empty list of positive percentages")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        # A typo fails at load time, not at the first month boundary.
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """One team's budget, with every inherited value filled in."""

    monthly_budget_usd: float | None = None
    hard: bool = False
    monthly_token_allocation: int | None = None
    thresholds_pct: tuple[float, ...] = DEFAULT_THRESHOLDS_PCT


NO_BUDGET = BudgetPolicy()


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """The budget part of the teams file.

    A team's value wins over ``[defaults]``, which wins over ``[org]`` (for ``thresholds_pct``).
    Teams without a budget are still tracked (``tokenradar status`` shows their spend) but never
    alert.

    Examples
    --------
    >>> config = BudgetConfig.parse('''
    ... [org]
    ... timezone = "America/Los_Angeles"
    ... monthly_budget_usd = 2000000
    ... [teams."search-infra"]
    ... monthly_budget_usd = 40000
    ... hard_budget = true
    ... ''')
    >>> config.policy_for("search-infra")
    BudgetPolicy(monthly_budget_usd=40000.0, hard=True, monthly_token_allocation=None, \
thresholds_pct=(50.0, 80.0, 100.0))
    >>> config.policy_for("ads").monthly_budget_usd is None
    True
    """

    timezone: str = "UTC"
    org_monthly_budget_usd: float | None = None
    org_thresholds_pct: tuple[float, ...] = DEFAULT_THRESHOLDS_PCT
    teams: Mapping[str, BudgetPolicy] = field(default_factory=dict)
    defaults: BudgetPolicy = NO_BUDGET

    @property
    def zone(self) -> ZoneInfo:
        """The organisation's time zone."""
        return ZoneInfo(self.timezone)

    def policy_for(self, team: str) -> BudgetPolicy:
        """The budget of ``team`` (the defaults for a team without a section)."""
        return self.teams.get(team, self.defaults)

    @classmethod
    def from_teams_file(cls, teams: TeamsFile) -> BudgetConfig:
        """Read ``[org]``, ``[defaults]`` and the teams' budget keys."""
        org = _OrgKeys.model_validate(teams.extra.get("org", {}))
        base = _BudgetKeys.model_validate(teams.defaults.extra)
        defaults = BudgetPolicy(
            monthly_budget_usd=base.monthly_budget_usd,
            hard=bool(base.hard_budget),
            monthly_token_allocation=base.monthly_token_allocation,
            thresholds_pct=tuple(sorted(base.thresholds_pct or org.thresholds_pct)),
        )
        policies: dict[str, BudgetPolicy] = {}
        for name, section in teams.teams.items():
            keys = _BudgetKeys.model_validate(section.extra)
            policies[name] = BudgetPolicy(
                monthly_budget_usd=_pick(keys.monthly_budget_usd, defaults.monthly_budget_usd),
                hard=_pick(keys.hard_budget, defaults.hard),
                monthly_token_allocation=_pick(
                    keys.monthly_token_allocation, defaults.monthly_token_allocation
                ),
                thresholds_pct=tuple(sorted(keys.thresholds_pct or defaults.thresholds_pct)),
            )
        return cls(
            timezone=org.timezone,
            org_monthly_budget_usd=org.monthly_budget_usd,
            org_thresholds_pct=tuple(sorted(org.thresholds_pct)),
            teams=policies,
            defaults=defaults,
        )

    @classmethod
    def parse(cls, text: str) -> BudgetConfig:
        """Parse teams-file TOML text."""
        return cls.from_teams_file(TeamsFile.parse(text))

    @classmethod
    def load(cls, path: Path | None) -> BudgetConfig:
        """Read the teams file at ``path``; no path means no budgets (spend is still tracked)."""
        return cls.from_teams_file(TeamsFile.load(path))


def _pick(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


# -- calendar -----------------------------------------------------------------------------------


def local_date(ts: float, zone: ZoneInfo) -> date:
    """The calendar date of event time ``ts`` in ``zone``.

    >>> local_date(1793577600.0, ZoneInfo("America/Los_Angeles"))  # 2026-11-02T00:00Z
    datetime.date(2026, 11, 1)
    """
    return datetime.fromtimestamp(ts, tz=zone).date()


def month_key(day: date) -> int:
    """A month as one integer (``year * 12 + month - 1``): consecutive months differ by one."""
    return day.year * 12 + day.month - 1


def month_label(key: int) -> str:
    """``2026-11`` for a :func:`month_key`."""
    return f"{key // 12:04d}-{key % 12 + 1:02d}"


def month_end(day: date) -> date:
    """The last day of ``day``'s month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def is_weekend(ordinal: int) -> bool:
    """Whether the proleptic ordinal date is a Saturday or a Sunday."""
    # date(1, 1, 1) (ordinal 1) was a Monday, so (ordinal - 1) % 7 is the weekday.
    return (ordinal - 1) % 7 >= 5


# -- forecast -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Forecast:
    """Where a month is heading."""

    projected_usd: float
    exhausts_on: date | None
    weekday_rate_usd: float
    weekend_rate_usd: float
    history_days: int
    growth_per_week: float = 0.0


def forecast(
    daily_usd: Mapping[int, float],
    first_day: int,
    today: int,
    spent_usd: float,
    budget_usd: float | None,
    *,
    exhausted_on: int | None = None,
    lookback_days: int = LOOKBACK_DAYS,
) -> Forecast:
    """Project month-end spend from per-day spend, one rate for working days and one for weekends.

    Parameters
    ----------
    daily_usd
        Spend per local day (proleptic ordinal), today's partial day included.
    first_day
        The first day the team was seen: days before it are unknown, days after it without an
        entry were days without spend.
    today
        The local day of the stream's event time (ordinal).
    spent_usd
        Month-to-date spend, today included.
    budget_usd
        The monthly budget, for the exhaustion date (None: no budget).
    exhausted_on
        The day the budget was reached, if it already was.
    lookback_days
        Complete days before ``today`` the rates are estimated from.

    Returns
    -------
    Forecast
        Projected month-end spend, the day the budget runs out (None when it lasts the month),
        the two rates and the number of complete days behind them.

    Notes
    -----
    The rates are the means over the look-back, which is centred a week in the past; with two
    full weeks of history they are carried forward at the week-on-week growth (see
    :data:`GROWTH_SHRINK`), so organic growth does not make every projection short.

    Today's remainder is the rate of today's kind less what today has already spent (never
    negative): the intraday shape is unknown, so a busy morning does not raise the projection
    twice. A kind of day missing from the look-back (a month's first days) borrows the other
    kind's rate, which over-projects weekends: early warnings err on the side of warning.

    Examples
    --------
    Two weeks of $100 working days and $10 weekend days, on Monday 2026-11-16, nothing spent today:

    >>> d = date(2026, 11, 2).toordinal()
    >>> days = {d + i: (10.0 if is_weekend(d + i) else 100.0) for i in range(14)}
    >>> f = forecast(days, d, d + 14, sum(days.values()), 1500.0)
    >>> f.weekday_rate_usd, f.weekend_rate_usd, round(f.projected_usd)
    (100.0, 10.0, 2180)
    >>> f.growth_per_week
    0.0
    >>> f.exhausts_on
    datetime.date(2026, 11, 20)
    """
    start = max(first_day, today - lookback_days)
    weekday: list[float] = []
    weekend: list[float] = []
    for ordinal in range(start, today):
        (weekend if is_weekend(ordinal) else weekday).append(daily_usd.get(ordinal, 0.0))
    weekday_rate = sum(weekday) / len(weekday) if weekday else None
    weekend_rate = sum(weekend) / len(weekend) if weekend else None
    if weekday_rate is None:
        weekday_rate = weekend_rate if weekend_rate is not None else 0.0
    if weekend_rate is None:
        weekend_rate = weekday_rate
    log_growth = 0.0
    if today - 2 * 7 >= first_day and lookback_days >= 2 * 7:
        this_week = sum(daily_usd.get(d, 0.0) for d in range(today - 7, today))
        last_week = sum(daily_usd.get(d, 0.0) for d in range(today - 14, today - 7))
        if this_week > 0 and last_week > 0:
            limit = math.log1p(MAX_WEEKLY_GROWTH)
            log_growth = max(-limit, min(limit, GROWTH_SHRINK * math.log(this_week / last_week)))
    # The day the rates describe: the middle of the look-back.
    centre = (start + today - 1) / 2.0
    last = month_end(date.fromordinal(today)).toordinal()
    cumulative = spent_usd
    runs_out = exhausted_on
    if runs_out is None and budget_usd is not None and cumulative >= budget_usd:
        runs_out = today
    for ordinal in range(today, last + 1):
        rate = weekend_rate if is_weekend(ordinal) else weekday_rate
        if log_growth:
            rate *= math.exp(log_growth * (ordinal - centre) / 7.0)
        if ordinal == today:
            rate = max(0.0, rate - daily_usd.get(today, 0.0))
        cumulative += rate
        if runs_out is None and budget_usd is not None and cumulative >= budget_usd:
            runs_out = ordinal
    return Forecast(
        projected_usd=cumulative,
        exhausts_on=None if runs_out is None else date.fromordinal(runs_out),
        weekday_rate_usd=weekday_rate,
        weekend_rate_usd=weekend_rate,
        history_days=len(weekday) + len(weekend),
        growth_per_week=math.expm1(log_growth),
    )


# -- per-team state -----------------------------------------------------------------------------


class TeamBudget:
    """One team's month-to-date spend, per-day history and which alerts fired this period."""

    __slots__ = (
        "as_of",
        "by_model",
        "by_user",
        "days",
        "exhausted_on",
        "fired",
        "first_day",
        "forecast_fired",
        "month",
        "spent_usd",
        "tokens",
    )

    def __init__(self) -> None:
        self.month = -1
        self.spent_usd = 0.0
        self.tokens = 0
        # Month-to-date spend by user and by model: the top spenders of budget alerts.
        self.by_user: dict[str, float] = {}
        self.by_model: dict[str, float] = {}
        # Local day (ordinal) -> [cost_usd, tokens], the last KEEP_DAYS days.
        self.days: dict[int, list[Any]] = {}
        self.first_day: int | None = None
        # Levels already announced this period: "usd:50", "tokens:80".
        self.fired: set[str] = set()
        self.forecast_fired = False
        self.exhausted_on: int | None = None
        # Event time (end) of the last window counted.
        self.as_of: float | None = None

    def to_plain(self) -> dict[str, Any]:
        """Plain data for the team checkpoint."""
        return {
            "v": BUDGET_STATE_VERSION,
            "month": self.month,
            "spent_usd": self.spent_usd,
            "tokens": self.tokens,
            "by_user": self.by_user,
            "by_model": self.by_model,
            "days": [[k, v[0], v[1]] for k, v in sorted(self.days.items())],
            "first_day": self.first_day,
            "fired": sorted(self.fired),
            "forecast_fired": self.forecast_fired,
            "exhausted_on": self.exhausted_on,
            "as_of": self.as_of,
        }

    @classmethod
    def from_plain(cls, plain: Mapping[str, Any]) -> TeamBudget:
        """Inverse of :meth:`to_plain`."""
        if plain.get("v") != BUDGET_STATE_VERSION:
            raise ValueError(f"unknown budget state version {plain.get('v')!r}")
        budget = cls()
        budget.month = int(plain["month"])
        budget.spent_usd = float(plain["spent_usd"])
        budget.tokens = int(plain["tokens"])
        budget.by_user = {str(k): float(v) for k, v in plain["by_user"].items()}
        budget.by_model = {str(k): float(v) for k, v in plain["by_model"].items()}
        budget.days = {int(k): [float(c), int(t)] for k, c, t in plain["days"]}
        budget.first_day = None if plain["first_day"] is None else int(plain["first_day"])
        budget.fired = set(plain["fired"])
        budget.forecast_fired = bool(plain["forecast_fired"])
        exhausted = plain["exhausted_on"]
        budget.exhausted_on = None if exhausted is None else int(exhausted)
        budget.as_of = None if plain["as_of"] is None else float(plain["as_of"])
        return budget

    @property
    def today(self) -> int | None:
        """The local day of the last window counted."""
        return max(self.days) if self.days else None

    def forecast(self, policy: BudgetPolicy) -> Forecast | None:
        """Where this month is heading; None before a complete day was counted (no rate yet)."""
        today = self.today
        if today is None or self.first_day is None or self.first_day >= today:
            return None
        return forecast(
            {k: v[0] for k, v in self.days.items()},
            self.first_day,
            today,
            self.spent_usd,
            policy.monthly_budget_usd,
            exhausted_on=self.exhausted_on,
        )


def period_ends_with(budget: TeamBudget, summary: WindowSummary, config: BudgetConfig) -> bool:
    """Whether counting ``summary`` will start a new period (and end the budget's current one)."""
    return budget.month >= 0 and month_key(local_date(summary.start, config.zone)) > budget.month


def observe_window(
    budget: TeamBudget,
    summary: WindowSummary,
    late_cost_usd: float,
    late_tokens: int,
    detected_at: float,
    config: BudgetConfig,
) -> list[Alert]:
    """Count one closed window into the team's budget; the budget alerts it causes.

    Parameters
    ----------
    budget
        The team's budget state (changed in place).
    summary
        The closed window.
    late_cost_usd, late_tokens
        Late arrivals reported with this window: money spent all the same.
    detected_at
        The stream's event time when the window closed.
    config
        Budgets and the organisation's time zone.

    Returns
    -------
    list[Alert]
        ``resolved`` alerts for the previous period's episodes when a new month starts, then
        at most one ``budget_threshold`` per crossed allocation (the highest level crossed in
        this window; lower ones crossed at the same time count as announced) and at most one
        ``budget_forecast`` per period.
    """
    team = summary.team
    policy = config.policy_for(team)
    day = local_date(summary.start, config.zone)
    ordinal = day.toordinal()
    key = month_key(day)
    alerts: list[Alert] = []
    when = (summary.start, summary.end, detected_at)
    if key > budget.month:
        if budget.month >= 0:
            alerts.extend(_period_resolved(budget, team, key, when))
        budget.month = key
        budget.spent_usd = 0.0
        budget.tokens = 0
        budget.by_user = {}
        budget.by_model = {}
        budget.fired = set()
        budget.forecast_fired = False
        budget.exhausted_on = None
    cost = summary.totals.cost_usd + late_cost_usd
    tokens = summary.totals.total_tokens + late_tokens
    if key == budget.month:
        budget.spent_usd += cost
        budget.tokens += tokens
        for table, usage in (
            (budget.by_user, summary.by_user),
            (budget.by_model, summary.by_model),
        ):
            for name, part in usage.items():
                table[name] = table.get(name, 0.0) + part.cost_usd
    # A window of an earlier month (a team whose stream lags the partition) still counts towards
    # its day, for the burn rate, but no longer towards a period that is over.
    totals = budget.days.get(ordinal)
    if totals is None:
        totals = budget.days[ordinal] = [0.0, 0]
        horizon = ordinal - KEEP_DAYS
        for old in [d for d in budget.days if d < horizon]:
            del budget.days[old]
    totals[0] += cost
    totals[1] += tokens
    if budget.first_day is None or ordinal < budget.first_day:
        budget.first_day = ordinal
    if budget.as_of is None or summary.end > budget.as_of:
        budget.as_of = summary.end
    if key != budget.month:
        return alerts
    alerts.extend(_thresholds(budget, team, policy, ordinal, when))
    alert = _forecast_alert(budget, team, policy, when)
    if alert is not None:
        alerts.append(alert)
    return alerts


def _thresholds(
    budget: TeamBudget,
    team: str,
    policy: BudgetPolicy,
    ordinal: int,
    when: tuple[float, float, float],
) -> list[Alert]:
    alerts: list[Alert] = []
    for unit, allocation, used in (
        ("usd", policy.monthly_budget_usd, budget.spent_usd),
        ("tokens", policy.monthly_token_allocation, float(budget.tokens)),
    ):
        if allocation is None:
            continue
        percent = 100.0 * used / allocation
        crossed = [
            level
            for level in policy.thresholds_pct
            if percent >= level and f"{unit}:{level:g}" not in budget.fired
        ]
        if unit == "usd" and percent >= 100.0 and budget.exhausted_on is None:
            budget.exhausted_on = ordinal
        if not crossed:
            continue
        budget.fired.update(f"{unit}:{level:g}" for level in crossed)
        alerts.append(_threshold_alert(budget, team, policy, unit, max(crossed), when))
    return alerts


def threshold_severity(level: float, hard: bool) -> AlertSeverity:
    if level >= 100.0:
        return "critical" if hard else "warning"
    return "warning" if level >= 80.0 else "info"


def _threshold_alert(
    budget: TeamBudget,
    team: str,
    policy: BudgetPolicy,
    unit: str,
    level: float,
    when: tuple[float, float, float],
) -> Alert:
    period = month_label(budget.month)
    outlook = budget.forecast(policy)
    if unit == "usd":
        allocation = float(policy.monthly_budget_usd or 0.0)
        used = budget.spent_usd
        metric = "cost_usd"
        what = f"${used:,.0f} of its ${allocation:,.0f} {period} budget"
    else:
        allocation = float(policy.monthly_token_allocation or 0)
        used = float(budget.tokens)
        metric = "total_tokens"
        what = f"{used:,.0f} of its {allocation:,.0f}-token {period} allocation"
    summary = f"{team} has used {100 * used / allocation:.0f}% ({what}); crossed {level:g}%"
    if outlook is not None and policy.monthly_budget_usd is not None:
        summary += f"; projected ${outlook.projected_usd:,.0f} by month end"
        if outlook.exhausts_on is not None:
            summary += f", runs out on {outlook.exhausts_on.isoformat()}"
    dedup_key = dedup_key_for(team, THRESHOLD_KIND, None)
    return _alert(
        budget,
        team,
        policy,
        outlook,
        kind=THRESHOLD_KIND,
        alert_id=budget_alert_id(dedup_key, "firing", period, f"{unit}:{level:g}"),
        severity=threshold_severity(level, policy.hard),
        metric=metric,
        observed=used,
        expected=allocation,
        summary=summary,
        threshold_pct=level,
        when=when,
    )


def _forecast_alert(
    budget: TeamBudget, team: str, policy: BudgetPolicy, when: tuple[float, float, float]
) -> Alert | None:
    allocation = policy.monthly_budget_usd
    if allocation is None or budget.forecast_fired or budget.spent_usd >= allocation:
        return None
    outlook = budget.forecast(policy)
    if (
        outlook is None
        or outlook.history_days < MIN_FORECAST_DAYS
        or outlook.projected_usd <= allocation
    ):
        return None
    budget.forecast_fired = True
    period = month_label(budget.month)
    runs_out = "" if outlook.exhausts_on is None else f"; runs out on {outlook.exhausts_on}"
    summary = (
        f"{team} is on course to spend ${outlook.projected_usd:,.0f} in {period}, "
        f"{100 * outlook.projected_usd / allocation:.0f}% of its ${allocation:,.0f} budget"
        f"{runs_out} (${budget.spent_usd:,.0f} spent; ${outlook.weekday_rate_usd:,.0f} per "
        f"working day, ${outlook.weekend_rate_usd:,.0f} per weekend day)"
    )
    dedup_key = dedup_key_for(team, FORECAST_KIND, None)
    return _alert(
        budget,
        team,
        policy,
        outlook,
        kind=FORECAST_KIND,
        alert_id=budget_alert_id(dedup_key, "firing", period, "forecast"),
        severity="warning",
        metric="cost_usd",
        observed=outlook.projected_usd,
        expected=allocation,
        summary=summary,
        threshold_pct=None,
        when=when,
    )


def _period_resolved(
    budget: TeamBudget, team: str, new_month: int, when: tuple[float, float, float]
) -> list[Alert]:
    """Close the previous period's budget episodes, so nothing stays "firing" forever."""
    alerts: list[Alert] = []
    old = month_label(budget.month)
    kinds = []
    if budget.fired:
        kinds.append(THRESHOLD_KIND)
    if budget.forecast_fired:
        kinds.append(FORECAST_KIND)
    for kind in kinds:
        dedup_key = dedup_key_for(team, kind, None)
        alerts.append(
            _alert(
                budget,
                team,
                NO_BUDGET,
                None,
                kind=kind,
                alert_id=budget_alert_id(dedup_key, "resolved", old, ""),
                severity="info",
                metric="cost_usd",
                observed=budget.spent_usd,
                expected=0.0,
                summary=f"Resolved: budget period {old} of {team} is over "
                f"(${budget.spent_usd:,.0f} spent); {month_label(new_month)} starts",
                threshold_pct=None,
                when=when,
                status="resolved",
            )
        )
    return alerts


def _alert(
    budget: TeamBudget,
    team: str,
    policy: BudgetPolicy,
    outlook: Forecast | None,
    *,
    kind: str,
    alert_id: str,
    severity: AlertSeverity,
    metric: str,
    observed: float,
    expected: float,
    summary: str,
    threshold_pct: float | None,
    when: tuple[float, float, float],
    status: str = "firing",
) -> Alert:
    window_start, window_end, detected_at = when
    allocation = policy.monthly_budget_usd
    return Alert(
        alert_id=alert_id,
        dedup_key=dedup_key_for(team, kind, None),
        status="resolved" if status == "resolved" else "firing",
        kind=kind,
        severity=severity,
        team=team,
        user=None,
        metric=metric,
        observed=round(observed, 6),
        expected=round(expected, 6),
        score=0.0 if status == "resolved" or not expected else min(1.0, observed / expected),
        window_start=utc(window_start),
        window_end=utc(window_end),
        detected_at=utc(detected_at),
        summary=summary,
        top_contributors=top_spenders(budget) if status == "firing" else [],
        budget_usd=allocation,
        spent_usd=round(budget.spent_usd, 6),
        projected_usd=None if outlook is None else round(outlook.projected_usd, 6),
        exhausts_on=_exhausts_on(budget, outlook),
        threshold_pct=threshold_pct,
    )


def _exhausts_on(budget: TeamBudget, outlook: Forecast | None) -> date | None:
    # A budget already spent has an exhaustion date even before there is a forecast.
    if outlook is not None:
        return outlook.exhausts_on
    return None if budget.exhausted_on is None else date.fromordinal(budget.exhausted_on)


def top_spenders(budget: TeamBudget, count: int = TOP_SPENDERS) -> list[TopContributor]:
    """The users and models with the largest month-to-date spend, with their shares."""
    total = budget.spent_usd
    if total <= 0:
        return []
    spenders: list[TopContributor] = []
    for dimension, table in (("user", budget.by_user), ("model", budget.by_model)):
        ranked = sorted(table.items(), key=lambda item: (-item[1], item[0]))[:count]
        spenders.extend(
            TopContributor(
                dimension=dimension,
                name=name,
                share=min(1.0, max(0.0, cost / total)),
            )
            for name, cost in ranked
            if cost > 0
        )
    return spenders


def budget_alert_id(dedup_key: str, status: str, period: str, level: str) -> str:
    # Derived from the period and the level only, never from the window: the same crossing has
    # the same id however the stream was cut into messages and restarts.
    return hashlib.blake2b(
        f"{dedup_key}|{status}|{period}|{level}".encode(), digest_size=12
    ).hexdigest()


# -- status -------------------------------------------------------------------------------------


def snapshot(team: str, budget: TeamBudget, config: BudgetConfig) -> dict[str, Any]:
    """Where a team stands, as the JSON document of the budgets topic and ``/budgets``."""
    policy = config.policy_for(team)
    outlook = budget.forecast(policy)
    exhausts_on = _exhausts_on(budget, outlook)
    allocation = policy.monthly_budget_usd
    return {
        "team": team,
        "period": month_label(budget.month) if budget.month >= 0 else None,
        "timezone": config.timezone,
        "as_of": None if budget.as_of is None else utc(budget.as_of).isoformat(),
        "spent_usd": round(budget.spent_usd, 6),
        "tokens": budget.tokens,
        "budget_usd": allocation,
        "hard_budget": policy.hard,
        "token_allocation": policy.monthly_token_allocation,
        "percent": None if not allocation else round(100.0 * budget.spent_usd / allocation, 3),
        "projected_usd": None if outlook is None else round(outlook.projected_usd, 6),
        "forecast_days": 0 if outlook is None else outlook.history_days,
        "exhausts_on": None if exhausts_on is None else exhausts_on.isoformat(),
        "thresholds_fired": sorted(budget.fired),
        "forecast_fired": budget.forecast_fired,
    }  # fmt: skip


def org_line(snapshots: Iterable[Mapping[str, Any]], config: BudgetConfig) -> dict[str, Any]:
    """The organisation's total over team snapshots of the latest period among them.

    The organisation's spend spans partitions (and workers), so no single team state holds it:
    it is the sum of the teams' snapshots, computed where they are read.
    """
    latest = [s for s in snapshots if s.get("period")]
    period = max((str(s["period"]) for s in latest), default=None)
    current = [s for s in latest if s["period"] == period]
    spent = sum(float(s["spent_usd"]) for s in current)
    projected = sum(float(s["projected_usd"] or 0.0) for s in current)
    allocation = config.org_monthly_budget_usd
    return {
        "team": "(organisation)",
        "period": period,
        "spent_usd": spent,
        "budget_usd": allocation,
        "percent": None if not allocation else 100.0 * spent / allocation,
        "projected_usd": projected,
        "exhausts_on": None,
    }
