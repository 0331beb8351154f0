"""The durable firing view (inhibition after a restart) and the sparkline series."""

from __future__ import annotations

from alerts.config import AlertingConfig
from alerts.dispatch import RecentSeries, build_delivery
from alerts.inhibition import ACTIVE_KEY_PREFIX, ActiveAlerts
from alerts.store import InMemoryTable
from detectors.base import Usage, WindowSummary
from tests.alerts.helpers import make_alert


def test_the_firing_view_is_written_to_its_table_and_read_back() -> None:
    table = InMemoryTable()
    view = ActiveAlerts(table=table)
    view.observe(make_alert(kind="budget_exhausted", severity="critical"))
    view.observe(make_alert(kind="team_surge"))
    view.observe(make_alert("resolved", kind="team_surge", window=3))
    keys = sorted(key for key, _ in table.items())
    assert keys == [ACTIVE_KEY_PREFIX + "search:budget_exhausted"]
    restored = ActiveAlerts(table=table)
    assert [a.kind for a in restored.firing("search")] == ["budget_exhausted"]
    restored.observe(make_alert("resolved", kind="budget_exhausted", severity="critical", window=5))
    assert list(table.items()) == []


def test_inhibition_survives_a_rebuilt_delivery() -> None:
    # The worker rebuilds a partition's delivery from its ledger table after a restart.
    ledger = InMemoryTable()
    config = AlertingConfig(group_wait_seconds=0)
    first = build_delivery(config, ledger_table=ledger)
    assert first.accept(make_alert(kind="budget_exhausted", severity="critical")) != []
    assert first.accept(make_alert(kind="team_surge", severity="error")) == []
    restarted = build_delivery(config, ledger_table=ledger)
    assert restarted.accept(make_alert(kind="user_runaway", user="ana", severity="error")) == []
    # Another team is not inhibited.
    assert restarted.accept(make_alert(team="ads", kind="team_surge", severity="error")) != []


def window(team: str, start: float, tokens: int, cost: float = 0.0) -> WindowSummary:
    usage = Usage(input_tokens=tokens, cost_usd=cost, requests=1)
    return WindowSummary(team, start, start + 60.0, usage)


def test_recent_series_fills_windows_without_events_and_ignores_repeats() -> None:
    recent = RecentSeries(points=6)
    for start, tokens in [(0, 5), (60, 7), (300, 9)]:
        recent.observe_window(window("search", start, tokens, cost=tokens / 10), 60.0)
    recent.observe_window(window("search", 60, 1000), 60.0)  # re-delivered: ignored
    assert recent.series("search", "total_tokens") == (5.0, 7.0, 0.0, 0.0, 0.0, 9.0)
    assert recent.series("search", "cost_usd") == (0.5, 0.7, 0.0, 0.0, 0.0, 0.9)
    assert recent.series("search", "requests") == (1.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    # A gap longer than the series is capped, not looped over window by window.
    recent.observe_window(window("search", 60.0 * 10_000_000, 3), 60.0)
    assert recent.series("search", "total_tokens") == (0.0, 0.0, 0.0, 0.0, 0.0, 3.0)
    recent.forget(["search"])
    assert recent.series("search", "total_tokens") == ()


def test_an_accepted_alert_carries_its_teams_recent_series() -> None:
    recent = RecentSeries()
    for i, tokens in enumerate([10, 12, 11, 400]):
        recent.observe_window(window("search", 60.0 * i, tokens), 60.0)
    delivery = build_delivery(AlertingConfig(group_wait_seconds=0), series=recent)
    entries = delivery.accept(make_alert(kind="team_surge"))
    assert entries
    assert all(entry.series == (10.0, 12.0, 11.0, 400.0) for entry in entries)
