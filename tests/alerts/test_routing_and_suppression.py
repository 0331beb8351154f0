from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from alerts.clock import ManualClock
from alerts.config import AlertingConfig
from alerts.dispatch import AlertDispatcher
from alerts.inhibition import ActiveAlerts
from alerts.outbox import Outbox
from alerts.retry import FailureKind, RetryPolicy, classify_http, classify_slack_error
from alerts.routing import Router, TeamsFile
from alerts.silences import (
    InMemorySilenceStore,
    Matcher,
    Mute,
    Silence,
    dump_record,
    parse_record,
)
from alerts.store import InMemoryTable, JsonlFileTable
from alerts.throttle import Throttle
from tests.alerts.helpers import make_alert

TEAMS = """
[org]
name = "acme"
monthly_budget_usd = 50000

[defaults]
slack_channel = "#ai-spend"
page_severities = ["critical"]
quiet_hours = { start = "22:00", end = "07:00", timezone = "Europe/Berlin" }

[teams."search"]
slack_channel = "C0SEARCH"
pagerduty_routing_key = "SEARCHKEY"
page_severities = ["critical", "error"]
monthly_budget_usd = 1200
"""


def noon(hour: int = 12) -> float:
    return datetime(2026, 11, 2, hour, 0, tzinfo=UTC).timestamp()


def test_teams_file_inherits_and_keeps_unknown_keys() -> None:
    teams = TeamsFile.parse(TEAMS)
    assert teams.extra["org"]["name"] == "acme"
    assert teams.teams["search"].extra == {"monthly_budget_usd": 1200}
    router = Router(AlertingConfig(slack_token=SecretStr("x")), teams)
    search, ads = router.route_for("search"), router.route_for("ads")
    assert search.slack_channel == "C0SEARCH" and search.quiet_hours is not None
    assert ads.slack_channel == "#ai-spend" and ads.ref == "defaults"
    assert ads.page_severities == frozenset({"critical"})
    targets = [t.key for t in router.targets(make_alert(severity="error"), noon())]
    assert targets == ["slack:C0SEARCH", "pagerduty:search"]


def test_quiet_hours_hold_back_lesser_pages_but_not_resolves() -> None:
    router = Router(AlertingConfig(), TeamsFile.parse(TEAMS))
    night = noon(23)  # 00:00 in Berlin
    assert [t.notifier for t in router.targets(make_alert(severity="error"), night)] == ["console"]
    critical = router.targets(make_alert(severity="critical"), night)
    assert "pagerduty" in [t.notifier for t in critical]
    resolved = router.targets(make_alert("resolved", severity="error"), night)
    assert "pagerduty" in [t.notifier for t in resolved]


def test_no_tokens_means_console() -> None:
    assert [t.key for t in Router(AlertingConfig()).targets(make_alert(), noon())] == [
        "console:console"
    ]


def test_dashboard_links_quote_user_strings() -> None:
    config = AlertingConfig(dashboard_url="https://grafana.local/d?team={team}&user={user}")
    [(_label, url)] = Router(config).links(make_alert(team="a&b", user="<!x>"))
    assert url == "https://grafana.local/d?team=a%26b&user=%3C%21x%3E"


def test_matchers_and_records_round_trip() -> None:
    assert Matcher.parse("user!=ana").matches_alert_labels({"user": "bo"})
    assert Matcher.parse('kind=~"user_.*"').matches_alert_labels({"kind": "user_runaway"})
    with pytest.raises(ValueError):
        Matcher.parse("no operator")
    silence = Silence(
        silence_id="s1", matchers=(Matcher.parse("team=search"),), starts_at=0, ends_at=10
    )
    mute = Mute(mute_id="m1", team="search", notifiers="pagerduty")  # type: ignore[arg-type]
    assert parse_record(dump_record(silence)) == silence
    assert parse_record(dump_record(mute)) == mute
    with pytest.raises(ValueError):
        Silence(silence_id="s", matchers=(Matcher.parse("team=x"),), starts_at=5, ends_at=5)


def dispatcher(store: InMemorySilenceStore, clock: ManualClock) -> AlertDispatcher:
    config = AlertingConfig(pagerduty_routing_key=SecretStr("k"), slack_webhook_url=SecretStr("w"))
    return AlertDispatcher(Router(config), Outbox(InMemoryTable()), store, clock, 30.0)


def test_silence_suppresses_until_it_expires_and_resolves_still_go() -> None:
    clock = ManualClock(100.0)
    store = InMemorySilenceStore(
        [Silence(silence_id="s", matchers=(Matcher.parse("team=search"),), starts_at=0,
                 ends_at=200)]
    )  # fmt: skip
    d = dispatcher(store, clock)
    assert d.accept(make_alert()) == []
    assert d.accept(make_alert(team="ads")) != []
    assert len(d.accept(make_alert("resolved", window=3))) == 2
    clock.advance(100)
    assert d.accept(make_alert(window=5)) != []


def test_mute_switches_off_one_notifier() -> None:
    store = InMemorySilenceStore([Mute(mute_id="m", team="search", notifiers=("pagerduty",))])
    entries = dispatcher(store, ManualClock(0)).accept(make_alert(severity="critical"))
    assert [e.target for e in entries] == ["slack_webhook:defaults"]


def test_data_gap_inhibits_lesser_alerts_of_the_same_team() -> None:
    d = dispatcher(InMemorySilenceStore(), ManualClock(0))
    d.accept(make_alert(kind="data_gap", severity="error"))
    assert d.accept(make_alert(kind="team_surge", severity="warning")) == []
    assert d.accept(make_alert(kind="team_surge", severity="critical")) != []
    assert d.accept(make_alert(team="ads", kind="team_surge", severity="warning")) != []
    d.accept(make_alert("resolved", kind="data_gap", severity="error", window=4))
    assert d.accept(make_alert(kind="user_runaway", user="ana", severity="warning")) != []
    restored = ActiveAlerts.from_state(d.active.to_state())
    assert [a.dedup_key for a in restored.firing()] == [a.dedup_key for a in d.active.firing()]


def test_accepting_the_same_alert_twice_adds_nothing() -> None:
    d = dispatcher(InMemorySilenceStore(), ManualClock(0))
    assert d.accept(make_alert()) != []
    assert d.accept(make_alert()) == []


def test_failure_classification() -> None:
    assert classify_http(202) is None
    assert classify_http(429, {"Retry-After": "7"}).retry_after == 7.0  # type: ignore[union-attr]
    assert classify_http(503).kind is FailureKind.RETRYABLE  # type: ignore[union-attr]
    assert classify_http(400).kind is FailureKind.PERMANENT  # type: ignore[union-attr]
    assert classify_http(404).kind is FailureKind.PERMANENT  # type: ignore[union-attr]
    assert classify_slack_error(200, "channel_not_found").kind is FailureKind.PERMANENT
    assert classify_slack_error(200, "internal_error").kind is FailureKind.RETRYABLE


def test_backoff_is_jittered_capped_and_bounded_by_the_deadline() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=10, deadline=100, rng=random.Random(3))
    failure = classify_http(500)
    assert failure is not None
    waits = [policy.next_attempt_at(failure, n, 0.0, 0.0) for n in range(1, 12)]
    assert all(w is not None and 0 <= w <= 10 for w in waits)
    assert len(set(waits)) > 5
    assert policy.next_attempt_at(failure, 3, first_attempt_at=0.0, now=101.0) is None
    limited = classify_http(429, {"Retry-After": "30"})
    assert limited is not None
    at = policy.next_attempt_at(limited, 1, 0.0, 0.0)
    assert at is not None and 30 <= at <= 31


async def test_throttle_spaces_requests_per_key() -> None:
    clock = ManualClock(0)
    throttle = Throttle(rate=1.0, clock=clock)
    for _ in range(3):
        await throttle.acquire("#a")
    await throttle.acquire("#b")
    assert clock.now() == pytest.approx(2.0)


def test_file_table_survives_reopen_and_a_torn_line(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "t.jsonl"
    table = JsonlFileTable(path)
    table.set("a", {"x": 1})
    table.set("b", {"x": 2})
    table.delete("a")
    table.close()
    with path.open("ab") as handle:
        handle.write(b'{"k": "c", "v": {"x"')  # a crash mid-write
    reopened = JsonlFileTable(path)
    assert dict(reopened.items()) == {"b": {"x": 2}}
