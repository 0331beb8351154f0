"""The organisation-wide monthly budget: the sum of the teams' month-to-date spend.

A team's spend lives in its partition's state, and partitions are spread over workers, so no
team state can see the organisation's total. Each team's budget snapshot (see
:func:`tokenradar.core.budgets.snapshot`) is therefore also sent to one place, and an
:class:`OrgBudget` there keeps the latest snapshot of every team per period (the current one and
the one before), sums each period and raises ``budget_threshold`` and ``budget_forecast`` alerts
for the organisation, each at most once per level and period.

Everything here is pure and driven by the event time the snapshots carry (``as_of``, and the
period the team's own state derived from event time in the organisation's time zone). The
organisation's current period is the latest among its teams' snapshots. A team whose stream lags
behind the month boundary adds its last snapshots of the old month to the old month's sum, never
to the new one's.

Snapshots are at-least-once and may repeat after a restart; a snapshot older (in event time)
than the one already held for its team and period is ignored, so repeats change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from alerts.model import Alert, TopContributor, dedup_key_for, utc
from tokenradar.core.budgets import (
    FORECAST_KIND,
    MIN_FORECAST_DAYS,
    THRESHOLD_KIND,
    TOP_SPENDERS,
    BudgetConfig,
    budget_alert_id,
    local_date,
    threshold_severity,
)

# The ``team`` of organisation-wide alerts. Parentheses cannot start a real team's name in
# practice, and the same label heads the organisation line of ``tokenradar status``.
ORG_TEAM = "(organisation)"
ORG_STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class TeamStanding:
    """The part of a team snapshot the organisation's total needs."""

    team: str
    period: str
    as_of: float
    spent_usd: float
    # The team's projected month-end spend, when its forecast has enough history to be believed.
    projected_usd: float | None

    @classmethod
    def from_snapshot(cls, document: Mapping[str, Any]) -> TeamStanding | None:
        """Read a budgets-topic snapshot; None for a team that has not spent in any period yet."""
        period = document.get("period")
        as_of = document.get("as_of")
        if not period or not as_of:
            return None
        projected = document.get("projected_usd")
        history = document.get("forecast_days") or 0
        believed = projected is not None and int(history) >= MIN_FORECAST_DAYS
        return cls(
            team=str(document["team"]),
            period=str(period),
            as_of=datetime.fromisoformat(str(as_of)).timestamp(),
            spent_usd=float(document["spent_usd"]),
            projected_usd=float(projected) if believed and projected is not None else None,
        )

    def to_plain(self) -> dict[str, Any]:
        """Plain data for the organisation's table."""
        return {
            "v": ORG_STATE_VERSION,
            "team": self.team,
            "period": self.period,
            "as_of": self.as_of,
            "spent_usd": self.spent_usd,
            "projected_usd": self.projected_usd,
        }

    @classmethod
    def from_plain(cls, plain: Mapping[str, Any]) -> TeamStanding:
        """Inverse of :meth:`to_plain`."""
        if plain.get("v") != ORG_STATE_VERSION:
            raise ValueError(f"unknown organisation state version {plain.get('v')!r}")
        projected = plain["projected_usd"]
        return cls(
            team=str(plain["team"]),
            period=str(plain["period"]),
            as_of=float(plain["as_of"]),
            spent_usd=float(plain["spent_usd"]),
            projected_usd=None if projected is None else float(projected),
        )


@dataclass(frozen=True, slots=True)
class OrgUpdate:
    """What one snapshot changed: the alerts it raised and the state to persist."""

    alerts: list[Alert]
    # Standings written or dropped, as (period, team): persist ``OrgBudget.standings[key]``,
    # or delete it when it is no longer there.
    standings_changed: list[tuple[str, str]]
    # Announcements added and removed, as ``"<period>|<level>"`` marks.
    marks_added: list[str]
    marks_removed: list[str]


class OrgBudget:
    """The latest standing of every team in the organisation's current and previous period.

    Each period is summed on its own: a team still reporting the last days of the previous
    month (its partition lags behind others, as after a restart or while catching up) adds to
    that month, never to the new one, and the new month does not wait for it.

    Examples
    --------
    >>> config = BudgetConfig.parse('[org]\\nmonthly_budget_usd = 100')
    >>> org = OrgBudget()
    >>> def snap(team, spent, as_of):
    ...     return {"team": team, "period": "2026-11", "as_of": as_of, "spent_usd": spent,
    ...             "projected_usd": None, "forecast_days": 0}
    >>> org.observe(snap("ads", 30.0, "2026-11-02T10:00:00+00:00"), config).alerts
    []
    >>> [a.threshold_pct for a in org.observe(
    ...     snap("search", 25.0, "2026-11-02T10:01:00+00:00"), config).alerts]
    [50.0]
    >>> org.observe(snap("search", 25.0, "2026-11-02T10:01:00+00:00"), config).alerts
    []
    >>> org.spent_usd("2026-11")
    55.0
    """

    __slots__ = ("marks", "standings")

    def __init__(self) -> None:
        self.standings: dict[tuple[str, str], TeamStanding] = {}
        # Announced: "2026-11|usd:50", "2026-11|forecast".
        self.marks: set[str] = set()

    @property
    def period(self) -> str | None:
        """The organisation's current period: the latest among its teams' snapshots."""
        return max((period for period, _ in self.standings), default=None)

    def _of(self, period: str) -> list[TeamStanding]:
        return [s for (p, _), s in self.standings.items() if p == period]

    def spent_usd(self, period: str) -> float:
        """The organisation's spend in ``period`` so far."""
        return sum(s.spent_usd for s in self._of(period))

    def projected_usd(self, period: str) -> float:
        """Projected spend of ``period``: believed team forecasts, spend so far for the rest."""
        return sum(
            s.spent_usd if s.projected_usd is None else max(s.projected_usd, s.spent_usd)
            for s in self._of(period)
        )

    def has_forecast(self, period: str) -> bool:
        """Whether any team's projection in ``period`` is believed (a week of history)."""
        return any(s.projected_usd is not None for s in self._of(period))

    def as_of(self, period: str) -> float:
        """Event time of the latest snapshot counted in ``period``."""
        return max((s.as_of for s in self._of(period)), default=0.0)

    @classmethod
    def restore(cls, standings: list[TeamStanding], marks: list[str]) -> OrgBudget:
        """Rebuild from persisted standings and marks."""
        org = cls()
        org.standings = {(s.period, s.team): s for s in standings}
        org.marks = set(marks)
        return org

    def observe(self, document: Mapping[str, Any], config: BudgetConfig) -> OrgUpdate:
        """Take one team snapshot into account; the organisation's alerts it causes.

        Parameters
        ----------
        document
            A team's budget snapshot, as on the budgets topic.
        config
            The organisation's budget, levels and time zone.

        Returns
        -------
        OrgUpdate
            ``resolved`` alerts for the previous period's episodes when a new period starts,
            then at most one ``budget_threshold`` (the highest level crossed by this snapshot;
            lower ones crossed with it count as announced) and at most one ``budget_forecast``
            per period. A snapshot of the previous period can still cross its levels: they
            are announced with that period's name.
        """
        nothing = OrgUpdate([], [], [], [])
        standing = TeamStanding.from_snapshot(document)
        if standing is None:
            return nothing
        current = self.period
        if current is not None and _month(standing.period) < _month(current) - 1:
            # Older than the previous period: nothing left to announce about it.
            return nothing
        key = (standing.period, standing.team)
        held = self.standings.get(key)
        if held is not None and (standing.as_of, standing.spent_usd) <= (
            held.as_of,
            held.spent_usd,
        ):
            # A repeat (snapshots are at-least-once) or older than what is held.
            return nothing
        alerts: list[Alert] = []
        changed = [key]
        marks_removed: list[str] = []
        if current is not None and standing.period > current:
            alerts.extend(self._period_resolved(current, standing, config))
            # Only the new period and the one before it are kept.
            keep = _month(standing.period) - 1
            stale = [k for k in self.standings if _month(k[0]) < keep]
            for old in stale:
                del self.standings[old]
            changed.extend(stale)
            marks_removed = sorted(m for m in self.marks if _month(m.split("|")[0]) < keep)
            self.marks.difference_update(marks_removed)
        self.standings[key] = standing
        marks_added: list[str] = []
        if config.org_monthly_budget_usd is not None:
            threshold = self._threshold(config, standing.period, marks_added)
            if threshold is not None:
                alerts.append(threshold)
            outlook = self._forecast(config, standing.period, marks_added)
            if outlook is not None:
                alerts.append(outlook)
        return OrgUpdate(alerts, changed, marks_added, marks_removed)

    # -- alerts ---------------------------------------------------------------------------------

    def _threshold(self, config: BudgetConfig, period: str, marks_added: list[str]) -> Alert | None:
        allocation = float(config.org_monthly_budget_usd or 0.0)
        spent = self.spent_usd(period)
        percent = 100.0 * spent / allocation
        crossed = [
            level
            for level in config.org_thresholds_pct
            if percent >= level and _mark(period, f"usd:{level:g}") not in self.marks
        ]
        if not crossed:
            return None
        for level in crossed:
            marks_added.append(_mark(period, f"usd:{level:g}"))
        self.marks.update(marks_added)
        level = max(crossed)
        summary = (
            f"The organisation has used {percent:.0f}% (${spent:,.0f} of its ${allocation:,.0f} "
            f"{period} budget); crossed {level:g}%"
        )
        if self.has_forecast(period):
            summary += f"; projected ${self.projected_usd(period):,.0f} by month end"
        exhausts_on = local_date(self.as_of(period), config.zone) if percent >= 100.0 else None
        return self._alert(
            config,
            kind=THRESHOLD_KIND,
            period=period,
            level=f"usd:{level:g}",
            severity=threshold_severity(level, hard=False),
            observed=spent,
            summary=summary,
            threshold_pct=level,
            exhausts_on=exhausts_on,
        )

    def _forecast(self, config: BudgetConfig, period: str, marks_added: list[str]) -> Alert | None:
        allocation = float(config.org_monthly_budget_usd or 0.0)
        mark = _mark(period, "forecast")
        spent = self.spent_usd(period)
        projected = self.projected_usd(period)
        if mark in self.marks or spent >= allocation or projected <= allocation:
            return None
        self.marks.add(mark)
        marks_added.append(mark)
        summary = (
            f"The organisation is on course to spend ${projected:,.0f} in {period}, "
            f"{100 * projected / allocation:.0f}% of its ${allocation:,.0f} budget "
            f"(${spent:,.0f} spent)"
        )
        return self._alert(
            config,
            kind=FORECAST_KIND,
            period=period,
            level="forecast",
            severity="warning",
            observed=projected,
            summary=summary,
            threshold_pct=None,
            exhausts_on=None,
        )

    def _period_resolved(self, old: str, first: TeamStanding, config: BudgetConfig) -> list[Alert]:
        """Close the previous period's episodes, so nothing stays "firing" forever."""
        kinds = []
        if any(m.startswith(f"{old}|usd:") for m in self.marks):
            kinds.append(THRESHOLD_KIND)
        if _mark(old, "forecast") in self.marks:
            kinds.append(FORECAST_KIND)
        spent = self.spent_usd(old)
        alerts = []
        for kind in kinds:
            dedup_key = dedup_key_for(ORG_TEAM, kind, None)
            alerts.append(
                Alert(
                    alert_id=budget_alert_id(dedup_key, "resolved", old, ""),
                    dedup_key=dedup_key,
                    status="resolved",
                    kind=kind,
                    severity="info",
                    team=ORG_TEAM,
                    user=None,
                    metric="cost_usd",
                    observed=round(spent, 6),
                    expected=0.0,
                    score=0.0,
                    window_start=_period_start(old, config),
                    window_end=utc(first.as_of),
                    detected_at=utc(first.as_of),
                    summary=f"Resolved: the organisation's budget period {old} is over "
                    f"(${spent:,.0f} spent so far); {first.period} starts",
                    top_contributors=[],
                    budget_usd=None,
                    spent_usd=round(spent, 6),
                    projected_usd=None,
                    exhausts_on=None,
                    threshold_pct=None,
                )
            )
        return alerts

    def _alert(
        self,
        config: BudgetConfig,
        *,
        kind: str,
        period: str,
        level: str,
        severity: Any,
        observed: float,
        summary: str,
        threshold_pct: float | None,
        exhausts_on: date | None,
    ) -> Alert:
        allocation = float(config.org_monthly_budget_usd or 0.0)
        dedup_key = dedup_key_for(ORG_TEAM, kind, None)
        as_of = self.as_of(period)
        return Alert(
            alert_id=budget_alert_id(dedup_key, "firing", period, level),
            dedup_key=dedup_key,
            status="firing",
            kind=kind,
            severity=severity,
            team=ORG_TEAM,
            user=None,
            metric="cost_usd",
            observed=round(observed, 6),
            expected=round(allocation, 6),
            score=min(1.0, observed / allocation) if allocation else 0.0,
            window_start=_period_start(period, config),
            window_end=utc(as_of),
            detected_at=utc(as_of),
            summary=summary,
            top_contributors=self.top_teams(period),
            budget_usd=allocation,
            spent_usd=round(self.spent_usd(period), 6),
            projected_usd=(
                round(self.projected_usd(period), 6) if self.has_forecast(period) else None
            ),
            exhausts_on=exhausts_on,
            threshold_pct=threshold_pct,
        )

    def top_teams(self, period: str, count: int = TOP_SPENDERS) -> list[TopContributor]:
        """The teams with the largest spend in ``period``, with their shares."""
        total = self.spent_usd(period)
        if total <= 0:
            return []
        ranked = sorted(
            ((s.team, s.spent_usd) for s in self._of(period)),
            key=lambda item: (-item[1], item[0]),
        )[:count]
        return [
            TopContributor(dimension="team", name=team, share=min(1.0, max(0.0, spent / total)))
            for team, spent in ranked
            if spent > 0
        ]


def _month(period: str) -> int:
    """``"2026-11"`` as a month number (consecutive months differ by one)."""
    return int(period[:4]) * 12 + int(period[5:7]) - 1


def _mark(period: str, level: str) -> str:
    return f"{period}|{level}"


def _period_start(period: str, config: BudgetConfig) -> datetime:
    """Local midnight of the period's first day, in UTC."""
    start = datetime(int(period[:4]), int(period[5:7]), 1, tzinfo=config.zone)
    return utc(start.timestamp())
