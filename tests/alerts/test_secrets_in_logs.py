"""No secret appears in any log line, whatever goes wrong, even at DEBUG for every library."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from alerts.clock import ManualClock
from alerts.routing import TeamsFile
from tests.alerts.fakes import FakePagerDuty, FakeSlack, Reply
from tests.alerts.helpers import ROUTING_KEY, SLACK_TOKEN, config_for, delivery_for, make_alert

TEAM_ROUTING_KEY = "TEAMR0UT1NGKEYSECRET999999999999"
_STANDARD = set(vars(logging.makeLogRecord({})))


def format_record(record: logging.LogRecord) -> str:
    """Everything a JSON log line would carry: message, extras and the exception."""
    parts = [record.name, record.getMessage()]
    parts += [f"{k}={v!r}" for k, v in vars(record).items() if k not in _STANDARD]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return " ".join(parts)


async def test_no_secret_in_any_log_line(
    slack: FakeSlack,
    pagerduty: FakePagerDuty,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    dead_webhook_secret = "T000/B000/WEBHOOKSECRETPATH"
    # Nothing listens on this port: the webhook fails with a connection error naming the URL.
    webhook_url = f"http://127.0.0.1:9/services/{dead_webhook_secret}"
    config = config_for(slack, pagerduty, slack_webhook_url=SecretStr(webhook_url))
    teams = TeamsFile.parse(
        f'[teams."hooked"]\nslack_channel = "#hooked"\n'
        f'[teams."paged"]\npagerduty_routing_key = "{TEAM_ROUTING_KEY}"\n'
    )
    secrets = [SLACK_TOKEN, ROUTING_KEY, TEAM_ROUTING_KEY, dead_webhook_secret]
    slack.script.extend([Reply(status=500), Reply(status=429, retry_after=1),
                         Reply(error="invalid_auth")])  # fmt: skip
    pagerduty.script.extend([Reply(status=500), Reply(status=400)])
    with caplog.at_level(logging.DEBUG):
        delivery = delivery_for(config, clock, teams=teams)
        delivery.accept(make_alert())
        delivery.accept(make_alert(team="paged", severity="critical"))
        # A webhook-only route: no token for this one.
        webhook_only = delivery_for(
            config_for(None, None, slack_webhook_url=SecretStr(webhook_url),
                       delivery_deadline_seconds=60),
            clock,
        )  # fmt: skip
        webhook_only.accept(make_alert(team="hooked"))
        await delivery.relay.drain()
        await webhook_only.relay.drain()
        delivery.accept(make_alert("resolved", team="paged", severity="critical", window=5))
        await delivery.relay.drain()
        await delivery.close()
        await webhook_only.close()
        repr(config), str(config), config.model_dump()

    lines = [format_record(record) for record in caplog.records]
    assert any("retrying" in line for line in lines)  # failures were logged...
    assert any("dead-lettered" in line for line in lines)
    for line in lines:
        for secret in secrets:
            assert secret not in line, line  # ...without a secret
    for secret in secrets:
        assert secret not in repr(config)
