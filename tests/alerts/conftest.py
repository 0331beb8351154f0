from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from alerts.clock import ManualClock
from tests.alerts.fakes import FakePagerDuty, FakeSlack
from tests.alerts.helpers import SLACK_TOKEN, T0


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    server = FakeSlack(token=SLACK_TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    server = FakePagerDuty()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def clock(slack: FakeSlack) -> ManualClock:
    manual = ManualClock(T0 + 3600)
    slack.now = manual.now
    return manual
