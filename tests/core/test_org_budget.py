"""The organisation's budget: team snapshots summed per period, each level announced once."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from alerts.config import AlertingConfig
from alerts.model import Alert
from alerts.routing import Router, TeamsFile
from detectors.placeholder import EWZScoreFactory
from tests.core.test_budgets import LA, at, spend
from tokenradar.core.budgets import FORECAST_KIND, MIN_FORECAST_DAYS, THRESHOLD_KIND, BudgetConfig
from tokenradar.core.engine import CoreConfig
from tokenradar.core.org_budget import ORG_TEAM, OrgBudget, TeamStanding
from tokenradar.core.router import Core
from tokenradar.replay import replay_messages

ORG = """
[org]
timezone = "America/Los_Angeles"
monthly_budget_usd = 1000
"""


def snap(
    team: str,
    spent: float,
    when: str,
    period: str = "2026-11",
    projected: float | None = None,
    forecast_days: int = 0,
) -> dict[str, Any]:
    """A team snapshot as the budgets topic carries it (``when`` is local time in LA)."""
    return {
        "team": team,
        "period": period,
        "timezone": "America/Los_Angeles",
        "as_of": datetime.fromisoformat(when).replace(tzinfo=LA).astimezone(UTC).isoformat(),
        "spent_usd": spent,
        "tokens": 0,
        "budget_usd": None,
        "projected_usd": projected,
        "forecast_days": forecast_days,
    }


def fired(alerts: list[Alert]) -> list[tuple[str, str, float | None]]:
    return [(a.status, a.kind, a.threshold_pct) for a in alerts]


def test_levels_fire_once_per_period_and_repeats_change_nothing() -> None:
    config = BudgetConfig.parse(ORG)
    org = OrgBudget()
    assert org.observe(snap("ads", 300.0, "2026-11-10T09:00"), config).alerts == []
    update = org.observe(snap("search", 250.0, "2026-11-10T09:05"), config)
    assert fired(update.alerts) == [("firing", THRESHOLD_KIND, 50.0)]
    assert update.marks_added == ["2026-11|usd:50"]
    alert = update.alerts[0]
    assert alert.team == ORG_TEAM
    assert alert.dedup_key == f"{ORG_TEAM}:{THRESHOLD_KIND}"
    assert (alert.budget_usd, alert.spent_usd, alert.threshold_pct) == (1000.0, 550.0, 50.0)
    # The period starts at midnight in Los Angeles; the window ends at the latest snapshot.
    assert alert.window_start == datetime(2026, 11, 1, 7, tzinfo=UTC)
    assert alert.window_end == datetime(2026, 11, 10, 17, 5, tzinfo=UTC)
    assert [(c.dimension, c.name) for c in alert.top_contributors] == [
        ("team", "ads"),
        ("team", "search"),
    ]
    assert "The organisation has used 55%" in alert.summary
    # The same snapshot again (at-least-once), and an older one, change nothing.
    assert org.observe(snap("search", 250.0, "2026-11-10T09:05"), config) == org.observe(
        snap("search", 200.0, "2026-11-10T08:00"), config
    )
    assert org.spent_usd("2026-11") == 550.0
    # A jump over two levels announces the highest; both count as announced.
    update = org.observe(snap("ads", 800.0, "2026-11-20T09:00"), config)
    assert fired(update.alerts) == [("firing", THRESHOLD_KIND, 100.0)]
    assert update.alerts[0].severity == "warning"
    assert update.alerts[0].exhausts_on == datetime(2026, 11, 20).date()
    assert sorted(update.marks_added) == ["2026-11|usd:100", "2026-11|usd:80"]
    assert org.observe(snap("search", 400.0, "2026-11-21T09:00"), config).alerts == []


def test_no_org_budget_no_alerts_but_standings_are_kept() -> None:
    config = BudgetConfig.parse('[org]\ntimezone = "America/Los_Angeles"')
    org = OrgBudget()
    update = org.observe(snap("ads", 5000.0, "2026-11-10T09:00"), config)
    assert update.alerts == [] and update.standings_changed == [("2026-11", "ads")]
    # A team that has not spent in any period yet is no standing at all.
    assert OrgBudget().observe({"team": "new", "period": None, "as_of": None}, config) == (
        OrgBudget().observe({"team": "new", "period": None, "as_of": None}, config)
    )
    assert TeamStanding.from_snapshot({"team": "new", "period": None, "as_of": None}) is None


def test_a_new_period_resolves_the_old_one_and_stale_snapshots_count_only_there() -> None:
    config = BudgetConfig.parse(ORG)
    org = OrgBudget()
    org.observe(snap("ads", 600.0, "2026-11-30T20:00"), config)
    update = org.observe(snap("search", 10.0, "2026-12-01T00:10", period="2026-12"), config)
    assert fired(update.alerts) == [("resolved", THRESHOLD_KIND, None)]
    assert "2026-11 is over" in update.alerts[0].summary
    # December starts from nothing: November's $600 is not December's.
    assert org.period == "2026-12"
    assert org.spent_usd("2026-12") == 10.0
    # A team still reporting November (its partition lags) adds to November, not December.
    update = org.observe(snap("ads", 820.0, "2026-11-30T23:59"), config)
    assert fired(update.alerts) == [("firing", THRESHOLD_KIND, 80.0)]
    assert "2026-11 budget" in update.alerts[0].summary
    assert org.spent_usd("2026-12") == 10.0
    update = org.observe(snap("ads", 495.0, "2026-12-01T05:00", period="2026-12"), config)
    assert fired(update.alerts) == [("firing", THRESHOLD_KIND, 50.0)]
    assert "2026-12 budget" in update.alerts[0].summary
    assert org.spent_usd("2026-12") == 505.0
    # Two months on, October and November are forgotten, standings and marks alike.
    update = org.observe(snap("ads", 1.0, "2027-01-01T00:01", period="2027-01"), config)
    assert ("2026-11", "ads") in update.standings_changed
    assert set(update.marks_removed) == {"2026-11|usd:50", "2026-11|usd:80"}
    assert {period for period, _ in org.standings} == {"2026-12", "2027-01"}
    # ... and a snapshot that old is ignored.
    assert org.observe(snap("search", 999.0, "2026-11-30T23:00"), config).alerts == []
    assert ("2026-11", "search") not in org.standings


def test_month_boundary_in_event_time_in_los_angeles() -> None:
    """Real team snapshots from the core: 04:00 UTC on December 1 is still November in LA."""
    config = BudgetConfig.parse(
        ORG + '\n[teams."search"]\nmonthly_budget_usd = 5000\n[teams."ads"]\n'
        "monthly_budget_usd = 5000\n"
    )
    core = Core(CoreConfig(budgets=config), EWZScoreFactory(), 1)
    # 21:00 on November 30 in LA to 03:00 on December 1: $5 a minute for each of two teams.
    start = at("2026-11-30T21:00")
    pairs = zip(spend(start, 360, 5.0, "search"), spend(start + 30, 360, 5.0, "ads"), strict=True)
    messages = [message for pair in pairs for message in pair]
    org = OrgBudget()
    alerts: list[Alert] = []
    for offset, message in enumerate(messages):
        core.handle(0, offset, message)
        for document in core.processor(0).changed_budgets():
            alerts.extend(org.observe(document, config).alerts)
    crossings = Counter(
        (a.window_start.astimezone(LA).strftime("%Y-%m"), a.status, a.threshold_pct) for a in alerts
    )
    # Three hours of November at $10 a minute: $1,800, every level; then the period changes
    # at local midnight (08:00 UTC) and December's first three hours cross 50% and 80% again.
    assert crossings == Counter(
        {
            ("2026-11", "firing", 50.0): 1,
            ("2026-11", "firing", 80.0): 1,
            ("2026-11", "firing", 100.0): 1,
            ("2026-11", "resolved", None): 1,
            ("2026-12", "firing", 50.0): 1,
            ("2026-12", "firing", 80.0): 1,
            ("2026-12", "firing", 100.0): 1,
        }
    )
    november_end = next(a for a in alerts if a.status == "resolved")
    assert november_end.detected_at >= datetime(2026, 12, 1, 8, tzinfo=UTC)
    first_100 = next(a for a in alerts if a.threshold_pct == 100.0)
    # $1000 reached after 100 minutes: 22:40 on November 30 in LA, 06:40 UTC on December 1.
    assert first_100.exhausts_on == datetime(2026, 11, 30).date()
    assert datetime(2026, 12, 1, 6, 35, tzinfo=UTC) <= first_100.detected_at
    assert first_100.detected_at <= datetime(2026, 12, 1, 6, 45, tzinfo=UTC)


def test_forecast_fires_once_on_believed_projections_only() -> None:
    config = BudgetConfig.parse(ORG)
    org = OrgBudget()
    young = MIN_FORECAST_DAYS - 1
    # A projection without a week of history is not believed: spend so far stands in for it.
    assert org.observe(snap("ads", 100.0, "2026-11-05T09:00", projected=5000.0,
                            forecast_days=young), config).alerts == []  # fmt: skip
    assert org.projected_usd("2026-11") == 100.0
    update = org.observe(
        snap("ads", 200.0, "2026-11-09T09:00", projected=900.0, forecast_days=8), config
    )
    assert update.alerts == []
    update = org.observe(
        snap("search", 100.0, "2026-11-09T09:00", projected=300.0, forecast_days=8), config
    )
    assert fired(update.alerts) == [("firing", FORECAST_KIND, None)]
    assert update.alerts[0].projected_usd == 1200.0
    assert "on course to spend $1,200" in update.alerts[0].summary
    assert (
        org.observe(
            snap("search", 150.0, "2026-11-10T09:00", projected=400.0, forecast_days=9), config
        ).alerts
        == []
    )


def test_restored_state_remembers_what_was_announced() -> None:
    config = BudgetConfig.parse(ORG)
    org = OrgBudget()
    org.observe(snap("ads", 600.0, "2026-11-10T09:00"), config)
    standings = [TeamStanding.from_plain(s.to_plain()) for s in org.standings.values()]
    again = OrgBudget.restore(standings, sorted(org.marks))
    assert again.observe(snap("search", 10.0, "2026-11-10T10:00"), config).alerts == []
    update = again.observe(snap("search", 250.0, "2026-11-10T11:00"), config)
    assert fired(update.alerts) == [("firing", THRESHOLD_KIND, 80.0)]
    with pytest.raises(ValueError, match="version"):
        TeamStanding.from_plain({"v": 99})


def test_org_levels_come_from_the_org_section() -> None:
    config = BudgetConfig.parse(ORG + "thresholds_pct = [90, 25]\n")
    assert config.org_thresholds_pct == (25.0, 90.0)
    assert BudgetConfig.parse(ORG).org_thresholds_pct == (50.0, 80.0, 100.0)
    with pytest.raises(ValidationError):
        BudgetConfig.parse(ORG + "thresholds_pct = [-5]\n")


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    budget=st.floats(50.0, 5000.0),
    repeats=st.floats(0.0, 0.5),
)
def test_any_interleaving_announces_each_crossed_level_exactly_once(
    seed: int, budget: float, repeats: float
) -> None:
    """Teams report in any interleaving, with repeats and stale copies: the totals decide."""
    rng = random.Random(seed)
    config = BudgetConfig.parse(f"[org]\nmonthly_budget_usd = {budget}\n")
    streams: list[list[dict[str, Any]]] = []
    finals: dict[str, float] = {}
    for team in ("a", "b", "c"):
        spent, stream = 0.0, []
        for minute in range(rng.randrange(1, 30)):
            spent += rng.uniform(0.0, budget / 20)
            stream.append(snap(team, spent, f"2026-11-10T09:{minute:02d}"))
        finals[team] = spent
        streams.append(stream)
    org = OrgBudget()
    alerts: list[Alert] = []
    sent: list[dict[str, Any]] = []
    while any(streams):
        stream = rng.choice([s for s in streams if s])
        document = stream.pop(0)
        sent.append(document)
        alerts.extend(org.observe(document, config).alerts)
        if rng.random() < repeats:
            alerts.extend(org.observe(rng.choice(sent), config).alerts)
    percent = 100.0 * sum(finals.values()) / budget
    announced = {a.alert_id for a in alerts}
    assert len(announced) == len(alerts)
    crossed = [level for level in config.org_thresholds_pct if percent >= level]
    marks = {m for m in org.marks if "usd:" in m}
    assert marks == {f"2026-11|usd:{level:g}" for level in crossed}
    assert (len(alerts) > 0) == bool(crossed)
    assert all(a.threshold_pct in crossed for a in alerts)


def test_a_checkpoint_that_spans_the_month_end_still_reports_the_whole_month() -> None:
    """Snapshots are taken per checkpoint; the old period's last one is not skipped."""
    config = BudgetConfig.parse(ORG + "\n[defaults]\nmonthly_budget_usd = 5000\n")
    core = Core(CoreConfig(budgets=config), EWZScoreFactory(), 1)
    start = at("2026-11-30T21:00")
    pairs = zip(spend(start, 360, 5.0, "search"), spend(start + 30, 360, 5.0, "ads"), strict=True)
    messages = [message for pair in pairs for message in pair]
    org = OrgBudget()
    for offset, message in enumerate(messages):
        core.handle(0, offset, message)
        if offset % 37 == 36:  # a checkpoint every 37 messages: one spans local midnight
            for document in core.processor(0).changed_budgets():
                org.observe(document, config)
    # 21:00 to midnight in Los Angeles: 180 minutes at $5 for each of two teams.
    assert org.spent_usd("2026-11") == pytest.approx(1800.0)


def test_a_threshold_alert_shows_a_projection_only_once_one_is_believed() -> None:
    config = BudgetConfig.parse(ORG)
    org = OrgBudget()
    alert = org.observe(snap("ads", 600.0, "2026-11-03T09:00", projected=9000.0), config).alerts[0]
    assert alert.projected_usd is None and "projected" not in alert.summary
    update = org.observe(
        snap("ads", 850.0, "2026-11-12T09:00", projected=990.0, forecast_days=10), config
    )
    assert update.alerts[0].projected_usd == 990.0
    assert "projected $990 by month end" in update.alerts[0].summary


def test_replay_announces_the_organisations_crossings_too() -> None:
    config = BudgetConfig.parse(ORG)
    start = at("2026-11-30T21:00")
    pairs = zip(spend(start, 360, 5.0, "search"), spend(start + 30, 360, 5.0, "ads"), strict=True)
    messages = [message for pair in pairs for message in pair]
    result = replay_messages(messages, CoreConfig(budgets=config), EWZScoreFactory(), 3)
    org_alerts = [a for a in result.alerts if a.team == ORG_TEAM]
    assert Counter((a.status, a.threshold_pct) for a in org_alerts) == Counter(
        {("firing", 50.0): 2, ("firing", 80.0): 2, ("firing", 100.0): 2, ("resolved", None): 1}
    )
    # Without an organisation budget there is nothing to announce.
    plain = replay_messages(messages, CoreConfig(), EWZScoreFactory(), 3)
    assert not [a for a in plain.alerts if a.team == ORG_TEAM]


def test_org_alerts_route_to_the_defaults_or_their_own_section_and_render() -> None:
    config = BudgetConfig.parse(ORG)
    org = OrgBudget()
    org.observe(snap("ads", 300.0, "2026-11-10T09:00"), config)
    [alert] = org.observe(snap("search", 250.0, "2026-11-10T09:05"), config).alerts
    slack = AlertingConfig(slack_token=SecretStr("x"))
    teams = TeamsFile.parse('[defaults]\nslack_channel = "#ai-spend"\n')
    assert [t.key for t in Router(slack, teams).targets(alert, 0.0)] == ["slack:#ai-spend"]
    own = TeamsFile.parse(
        '[defaults]\nslack_channel = "#ai-spend"\n[teams."(organisation)"]\n'
        'slack_channel = "#finance"\n'
    )
    assert [t.key for t in Router(slack, own).targets(alert, 0.0)] == ["slack:#finance"]
    # The contract: the alert is valid JSON against the published schema's model.
    assert Alert.model_validate_json(alert.to_json()) == alert
