"""Notifications from the worker, on the real broker, to local Slack and PagerDuty servers."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from detectors.placeholder import EWZScoreFactory
from tests.alerts.fakes import FakePagerDuty, FakeSlack
from tests.alerts.helpers import ROUTING_KEY, SLACK_TOKEN
from tests.integration.conftest import Service
from tests.traffic import synthetic_messages, team_of
from tokenradar.core.engine import CoreConfig
from tokenradar.replay import replay_messages

T = TypeVar("T")
# These settings raise one user_runaway episode for team-3 (firing, later resolved).
MESSAGES = synthetic_messages(seed=23, minutes=480, teams=6, step_seconds=1.0)


class FakeServers:
    """The fake Slack and PagerDuty servers on an event loop in a thread of the test process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.slack = FakeSlack(token=SLACK_TOKEN)
        self.pagerduty = FakePagerDuty()
        self.run(self.slack.start())
        self.run(self.pagerduty.start())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def read(self, read: Callable[[], T]) -> T:
        """Evaluate ``read`` on the servers' loop, so it never sees a half-recorded request."""

        async def call() -> T:
            return read()

        return self.run(call())

    def set_down(self, down: bool) -> None:
        def apply() -> None:
            predicate = (lambda: True) if down else None
            self.slack.down = predicate
            self.pagerduty.down = predicate

        self.read(apply)

    def env(self) -> dict[str, str]:
        return {
            "TOKENRADAR_SLACK_TOKEN": SLACK_TOKEN,
            "TOKENRADAR_SLACK_API_URL": self.slack.api_url,
            "TOKENRADAR_SLACK_CHANNEL": "#ai-spend",
            "TOKENRADAR_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
            "TOKENRADAR_PAGERDUTY_EVENTS_URL": self.pagerduty.events_url,
            # The test episode is a warning; make it page so PagerDuty is exercised too.
            "TOKENRADAR_PAGE_SEVERITIES": "warning,error,critical",
            "TOKENRADAR_GROUP_WAIT_SECONDS": "0",
            "TOKENRADAR_RETRY_BASE_DELAY_SECONDS": "0.2",
            "TOKENRADAR_RETRY_MAX_DELAY_SECONDS": "1",
            "TOKENRADAR_HTTP_TIMEOUT_SECONDS": "5",
        }

    def close(self) -> None:
        self.run(self.slack.stop())
        self.run(self.pagerduty.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture
def servers() -> Iterator[FakeServers]:
    fakes = FakeServers()
    try:
        yield fakes
    finally:
        fakes.close()


def wait_for(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} within {timeout} s\n{log.read_text()[-3000:]}")


def expected_alerts() -> list[Any]:
    alerts = replay_messages(MESSAGES, CoreConfig(), EWZScoreFactory(), 3).alerts
    assert [a.status for a in alerts] == ["firing", "resolved"]
    return alerts


def test_worker_killed_between_deciding_and_delivering_delivers_once_after_restart(
    service: Service, servers: FakeServers, tmp_path: Path
) -> None:
    firing, _ = expected_alerts()
    service.extra_env.update(servers.env())
    service.cli("topics")
    # Slack and PagerDuty refuse everything at first, so what the worker decides stays in the
    # outbox, retried, until the worker is killed.
    servers.set_down(True)
    log = tmp_path / "worker.log"
    first = service.start_worker(log)
    service.produce(MESSAGES, key=team_of)
    service.consume(
        service.alerts_topic,
        until=lambda r: any(orjson.loads(v)["status"] == "firing" for _, v, _ in r),
        timeout=120,
        worker_log=log,
    )
    wait_for(
        lambda: servers.read(lambda: bool(servers.pagerduty.requests and servers.slack.requests)),
        timeout=30,
        what="no delivery attempt reached the servers",
        log=log,
    )
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert servers.read(lambda: servers.pagerduty.events == [] and servers.slack.messages == {})

    servers.set_down(False)
    service.start_worker(log)

    def delivered() -> bool:
        return servers.read(
            lambda: (
                # The resolve reaches Slack as an update of the message, or in the first post
                # when the firing and the resolve were both pending at the restart.
                "resolve" in servers.pagerduty.actions(firing.dedup_key)
                and len(servers.slack.posts()) >= 1
            )
        )

    deadline = time.monotonic() + 120
    while not delivered() and time.monotonic() < deadline:
        time.sleep(0.1)
    state = servers.read(
        lambda: (
            f"pagerduty {servers.pagerduty.actions()}, "
            f"slack {[(r.path, r.answered) for r in servers.slack.requests][-5:]}"
        )
    )
    assert delivered(), f"not delivered: {state}\n{log.read_text()[-3000:]}"
    # Anything sent twice would arrive within a few relay passes.
    time.sleep(3)
    assert servers.read(lambda: servers.pagerduty.actions()) == ["trigger", "resolve"]
    assert servers.read(lambda: [e["dedup_key"] for e in servers.pagerduty.events]) == [
        firing.dedup_key,
        firing.dedup_key,
    ]
    assert servers.read(lambda: len(servers.slack.posts())) == 1
    # No message fetched around the restart was thrown away (docs/kafka.md).
    assert "were not delivered to the agent" not in log.read_text()
    # The restarted worker found the entries in the outbox it recovered from Kafka.
    assert sum(int(n) for n in re.findall(r"\((\d+) pending\)", log.read_text())) > 0


def test_a_silence_added_with_the_cli_keeps_the_alert_from_notifying(
    service: Service, servers: FakeServers, tmp_path: Path
) -> None:
    firing, _ = expected_alerts()
    service.extra_env.update(servers.env())
    service.cli("topics")
    added = service.cli(
        "silence", "add", "--match", f"team={firing.team}", "--match", f"kind={firing.kind}",
        "--for", "2h", "--comment", "planned load test",
    )  # fmt: skip
    silence_id = added.stdout.decode().strip()
    assert silence_id in service.cli("silence", "list").stdout.decode()
    log = tmp_path / "worker.log"
    service.start_worker(log)
    service.produce(MESSAGES, key=team_of)
    records = service.consume(
        service.alerts_topic,
        until=lambda r: [orjson.loads(v)["status"] for _, v, _ in r] == ["firing", "resolved"],
        timeout=120,
        worker_log=log,
    )
    assert orjson.loads(records[0][1])["dedup_key"] == firing.dedup_key
    wait_for(
        lambda: "alert silenced" in log.read_text(),
        timeout=30,
        what="the worker never reported the silence",
        log=log,
    )
    # Give the relay time to (wrongly) send anything.
    time.sleep(3)
    assert servers.read(lambda: list(servers.slack.requests)) == []
    assert servers.read(lambda: list(servers.pagerduty.requests)) == []
