"""Shared builders for the alerting tests."""

from __future__ import annotations

import random
from typing import Any

from pydantic import SecretStr

from alerts.clock import ManualClock
from alerts.config import AlertingConfig
from alerts.dispatch import AlertDelivery, build_delivery
from alerts.model import Alert, TopContributor, alert_id_for, dedup_key_for, utc
from alerts.outbox import InMemoryDeadLetters
from alerts.routing import TeamsFile
from alerts.silences import InMemorySilenceStore
from alerts.store import InMemoryTable, StateTable
from tests.alerts.fakes import FakePagerDuty, FakeSlack

T0 = 1_793_577_600.0
SLACK_TOKEN = "xoxb-SECRET-slack-token-0123456789"
ROUTING_KEY = "R0UTINGKEYSECRET0123456789abcdef"


def make_alert(
    status: str = "firing",
    severity: str = "error",
    *,
    team: str = "search",
    kind: str = "team_surge",
    user: str | None = None,
    window: int = 0,
    summary: str = "search used 9x its usual tokens",
) -> Alert:
    key = dedup_key_for(team, kind, user)
    window_end = T0 + 60 * (window + 1)
    return Alert(
        alert_id=alert_id_for(key, f"{status}:{severity}", window_end),
        dedup_key=key,
        status=status,  # type: ignore[arg-type]
        kind=kind,
        severity=severity,  # type: ignore[arg-type]
        team=team,
        user=user,
        metric="total_tokens",
        observed=412_000.0,
        expected=9_800.0,
        score=0.97,
        window_start=utc(window_end - 60),
        window_end=utc(window_end),
        detected_at=utc(window_end + 30),
        summary=summary,
        top_contributors=[TopContributor(dimension="user", name="ana", share=0.94)],
    )


def config_for(
    slack: FakeSlack | None, pagerduty: FakePagerDuty | None, **overrides: Any
) -> AlertingConfig:
    values: dict[str, Any] = {
        "slack_channel": "#ai-spend",
        "http_timeout_seconds": 0.5,
        "retry_base_delay_seconds": 1.0,
        "retry_max_delay_seconds": 30.0,
    }
    if slack is not None:
        values["slack_token"] = SecretStr(slack.token)
        values["slack_api_url"] = slack.api_url
    if pagerduty is not None:
        values["pagerduty_routing_key"] = SecretStr(ROUTING_KEY)
        values["pagerduty_events_url"] = pagerduty.events_url
    values.update(overrides)
    return AlertingConfig(**values)


def delivery_for(
    config: AlertingConfig,
    clock: ManualClock,
    *,
    teams: TeamsFile | None = None,
    outbox_table: StateTable | None = None,
    ledger_table: StateTable | None = None,
    silences: InMemorySilenceStore | None = None,
    dead_letters: InMemoryDeadLetters | None = None,
    seed: int = 7,
) -> AlertDelivery:
    return build_delivery(
        config,
        teams=teams,
        outbox_table=outbox_table if outbox_table is not None else InMemoryTable(),
        ledger_table=ledger_table if ledger_table is not None else InMemoryTable(),
        silences=silences,
        dead_letters=dead_letters if dead_letters is not None else InMemoryDeadLetters(),
        clock=clock,
        rng=random.Random(seed),
    )
