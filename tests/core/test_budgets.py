"""Budgets in event time: periods in the organisation's time zone, thresholds, forecasts, state."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

import msgpack
import orjson
import pytest
from pydantic import ValidationError

from alerts.model import Alert
from detectors.placeholder import EWZScoreFactory
from tokenradar.core.budgets import (
    FORECAST_KIND,
    THRESHOLD_KIND,
    BudgetConfig,
    forecast,
    is_weekend,
    org_line,
)
from tokenradar.core.engine import CoreConfig, PartitionProcessor, TeamState
from tokenradar.core.router import Core

LA = ZoneInfo("America/Los_Angeles")

TEAMS = """
[org]
timezone = "America/Los_Angeles"
monthly_budget_usd = 1000

[defaults]
slack_channel = "#ai-spend"

[teams."search"]
monthly_budget_usd = 100
hard_budget = true
monthly_token_allocation = 1000000

[teams."ads"]
monthly_budget_usd = 200
thresholds_pct = [25, 100]
"""


def at(text: str, zone: ZoneInfo = LA) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def event(
    ts: float, team: str = "search", cost: float = 1.0, tokens: int = 1000, **kw: str
) -> bytes:
    return orjson.dumps(
        {
            "ts": ts,
            "team": team,
            "user": kw.get("user", f"{team}-ana"),
            "model": kw.get("model", "m1"),
            "input_tokens": tokens,
            "output_tokens": 0,
            "cost_usd": cost,
        }
    )


def spend(start: float, minutes: int, per_minute: float, team: str = "search") -> list[bytes]:
    """One event a minute, ``per_minute`` dollars each."""
    return [event(start + 60 * i + 5, team, per_minute) for i in range(minutes)]


def run(
    messages: list[bytes], teams: str = TEAMS, *, restore_every: int | None = None
) -> tuple[list[Alert], Core]:
    """Messages through a one-partition core; optionally "crash" every ``restore_every`` messages.

    A crash restores the processor from its last checkpoint and processes the messages after the
    checkpoint again, as Faust re-delivers them: alerts produced in between are produced again.
    """
    config = CoreConfig(budgets=BudgetConfig.parse(teams))
    factory = EWZScoreFactory()
    core = Core(config, factory, 1)
    alerts: list[Alert] = []
    checkpoint: tuple[bytes, dict[str, bytes], int] | None = None
    offset = 0
    crashes = 0
    crashed_at = -1
    while offset < len(messages):
        result = core.handle(0, offset, messages[offset])
        alerts.extend(result.alerts)
        offset += 1
        processor = core.processor(0)
        if offset % 50 == 0:  # a checkpoint
            states = dict(checkpoint[1]) if checkpoint else {}
            states.update(processor.dirty_states())
            checkpoint = (processor.meta_bytes(), states, offset)
        if (
            restore_every
            and offset % restore_every == 0
            and offset > crashed_at
            and checkpoint is not None
        ):
            crashed_at = offset
            meta, states, resume = checkpoint
            core.processors[0] = PartitionProcessor.restore(
                0, config, factory, meta, states.values()
            )
            offset = resume
            crashes += 1
    processor = core.processor(0)
    processor.flush()
    alerts.extend(processor.drain().alerts)
    if restore_every:
        assert crashes > 3
    return alerts, core


def budget_alerts(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.kind in (THRESHOLD_KIND, FORECAST_KIND)]


def test_periods_follow_the_org_time_zone_across_a_month_boundary() -> None:
    # $60 in the last hour of November in Los Angeles, which is already December 1 in UTC, then
    # $60 in the first hour of December in Los Angeles.
    november = spend(at("2026-11-30T23:00"), 60, 1.0)
    december = spend(at("2026-12-01T00:00"), 60, 1.0)
    assert datetime.fromtimestamp(at("2026-11-30T23:00"), ZoneInfo("UTC")).day == 1
    alerts, core = run(november + december)
    search = [a for a in budget_alerts(alerts) if a.team == "search"]
    assert [(a.status, a.threshold_pct) for a in search] == [
        ("firing", 50.0),  # November: $50 of $100
        ("resolved", None),  # November is over
        ("firing", 50.0),  # December starts from zero
    ]
    first, resolved, second = search
    assert "2026-11" in first.summary and "2026-12" in second.summary
    assert first.alert_id != second.alert_id
    assert resolved.summary.startswith("Resolved: budget period 2026-11")
    assert first.budget_usd == 100 and first.spent_usd == pytest.approx(50.0)
    assert first.top_contributors[0].name == "search-ana"
    snap = core.processor(0).budget_snapshot("search")
    assert snap["period"] == "2026-12" and snap["spent_usd"] == pytest.approx(60.0)
    assert snap["timezone"] == "America/Los_Angeles"

    # The same stream in UTC is all December: one period, $120 of $100.
    utc_alerts, _ = run(november + december, TEAMS.replace("America/Los_Angeles", "UTC"))
    levels = [(a.status, a.threshold_pct) for a in budget_alerts(utc_alerts)]
    assert levels == [("firing", 50.0), ("firing", 80.0), ("firing", 100.0)]


def test_each_level_fires_once_per_period_and_a_jump_announces_only_the_highest() -> None:
    messages = spend(at("2026-11-10T09:00"), 30, 1.0)  # $30: nothing yet
    messages.append(event(at("2026-11-10T09:40"), cost=60.0))  # $90: past 50% and 80%
    messages += spend(at("2026-11-10T10:00"), 40, 1.0)  # $130: past 100%
    messages += spend(at("2026-11-11T10:00"), 40, 1.0)  # more of the same: nothing new
    alerts, _ = run(messages)
    search = [a for a in budget_alerts(alerts) if a.team == "search" and a.metric == "cost_usd"]
    assert [(a.threshold_pct, a.severity) for a in search] == [
        (80.0, "warning"),
        (100.0, "critical"),
    ]
    exhausted = search[-1]
    assert exhausted.exhausts_on == date(2026, 11, 10)
    assert exhausted.spent_usd == pytest.approx(100.0)


def test_token_allocation_and_team_thresholds() -> None:
    # 100,000 tokens a minute in search: 50% of its allocation after five minutes; ads crosses
    # its own 25% level.
    messages = [event(at("2026-11-10T09:00") + 60 * i, tokens=100_000, cost=1.0) for i in range(6)]
    messages += spend(at("2026-11-10T09:00"), 60, 1.0, team="ads")
    alerts, _ = run(messages)
    tokens = [a for a in budget_alerts(alerts) if a.metric == "total_tokens"]
    assert [(a.team, a.threshold_pct, a.observed) for a in tokens] == [("search", 50.0, 500_000)]
    ads = [a for a in budget_alerts(alerts) if a.team == "ads"]
    assert [(a.threshold_pct, a.severity) for a in ads] == [(25.0, "info")]


def test_no_level_fires_twice_across_crashes_and_restores() -> None:
    messages: list[bytes] = []
    for day in range(1, 31):
        for team, dollars in (("search", 0.1), ("ads", 0.15)):
            messages += spend(at(f"2026-11-{day:02d}T10:00"), 45, dollars, team)
    messages += spend(at("2026-12-01T10:00"), 45, 3.0)
    clean, _ = run(messages)
    crashed, _ = run(messages, restore_every=37)
    wanted = {a.alert_id for a in budget_alerts(clean)}
    assert {a.alert_id for a in budget_alerts(crashed)} == wanted
    # Repeats after a crash are the same alerts (same ids), never a second crossing.
    crossings = {
        (a.team, a.metric, a.threshold_pct, a.window_start.month, a.alert_id)
        for a in budget_alerts(crashed)
        if a.kind == THRESHOLD_KIND and a.status == "firing"
    }
    per_level = Counter((team, metric, pct, month) for team, metric, pct, month, _ in crossings)
    assert per_level and max(per_level.values()) == 1
    assert ("search", "cost_usd", 100.0, 12) in per_level
    assert len(budget_alerts(crashed)) > len(wanted)  # the crashes did replay some alerts


def test_forecast_alert_fires_once_with_a_weekday_aware_projection() -> None:
    # ads: $8 per working day, $1 per weekend day, from Monday 2026-11-02: ~$180 by month end
    # against a $200 budget; search: $5 per working day against $100, which runs out on the
    # month's last Friday. No forecast before a week of history: both kinds of day seen.
    messages: list[bytes] = []
    for day in range(2, 26):
        weekend = is_weekend(date(2026, 11, day).toordinal())
        messages += spend(at(f"2026-11-{day:02d}T10:00"), 10, 0.1 if weekend else 0.8, "ads")
        messages += spend(at(f"2026-11-{day:02d}T10:00"), 10, 0.0 if weekend else 0.5)
    alerts, core = run(messages)
    forecasts = [a for a in budget_alerts(alerts) if a.kind == FORECAST_KIND]
    assert [a.team for a in forecasts] == ["search"]
    alert = forecasts[0]
    assert alert.severity == "warning" and alert.budget_usd == 100
    assert alert.projected_usd is not None and alert.projected_usd > 100
    assert alert.window_start.day == 9  # the first window after a week of history
    assert alert.projected_usd == pytest.approx(105.0)  # 21 working days at $5
    assert alert.exhausts_on == date(2026, 11, 27)
    ads = core.processor(0).budget_snapshot("ads")
    assert ads["projected_usd"] == pytest.approx(8 * 20 + 1 * 8, rel=0.05)
    assert ads["exhausts_on"] is None


def test_forecast_projects_each_remaining_day_by_its_kind() -> None:
    monday = date(2026, 11, 2).toordinal()
    days = {monday + i: (5.0 if is_weekend(monday + i) else 50.0) for i in range(7)}
    days[monday + 7] = 20.0  # Monday, so far
    result = forecast(days, monday, monday + 7, sum(days.values()), 500.0)
    # Remaining after today: 15 working days and 6 weekend days to November 30; today's rest $30.
    spent = 5 * 50 + 2 * 5 + 20
    assert result.projected_usd == pytest.approx(spent + 30 + 15 * 50 + 6 * 5)
    assert result.exhausts_on == date(2026, 11, 13)  # $310, 360, 410, 460, then 510
    assert result.growth_per_week == 0.0


def test_version_1_team_states_load_with_an_empty_budget() -> None:
    _, core = run(spend(at("2026-11-10T09:00"), 30, 1.0))
    state = core.processor(0).teams["search"]
    plain = msgpack.unpackb(state.to_bytes(), raw=False, strict_map_key=False)
    plain["v"] = 1
    del plain["budget"]
    old = msgpack.packb(plain, use_bin_type=True)
    restored = TeamState.from_bytes(old, EWZScoreFactory(), CoreConfig())
    assert restored.budget.spent_usd == 0.0 and restored.applied_offset == state.applied_offset
    again = TeamState.from_bytes(state.to_bytes(), EWZScoreFactory(), CoreConfig())
    assert again.budget.to_plain() == state.budget.to_plain()
    assert again.budget.spent_usd == pytest.approx(30.0)


def test_teams_file_budget_keys() -> None:
    config = BudgetConfig.parse(TEAMS)
    assert config.org_monthly_budget_usd == 1000
    assert config.policy_for("ads").thresholds_pct == (25.0, 100.0)
    assert config.policy_for("nobody").monthly_budget_usd is None
    inherited = BudgetConfig.parse('[defaults]\nmonthly_budget_usd = 10\n[teams."x"]\n')
    assert inherited.policy_for("x").monthly_budget_usd == 10
    with pytest.raises(ValidationError):
        BudgetConfig.parse('[org]\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(ValidationError):
        BudgetConfig.parse('[teams."x"]\nmonthly_budget_usd = -5\n')


def test_org_line_sums_the_latest_period() -> None:
    config = BudgetConfig.parse(TEAMS)
    snapshots = [
        {"team": "a", "period": "2026-12", "spent_usd": 300.0, "projected_usd": 900.0},
        {"team": "b", "period": "2026-12", "spent_usd": 200.0, "projected_usd": 400.0},
        {"team": "c", "period": "2026-11", "spent_usd": 999.0, "projected_usd": 999.0},
    ]
    line = org_line(snapshots, config)
    assert (line["period"], line["spent_usd"], line["projected_usd"]) == ("2026-12", 500.0, 1300.0)
    assert line["percent"] == pytest.approx(50.0)
