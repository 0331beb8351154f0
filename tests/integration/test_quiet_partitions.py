"""The last messages before the input stops are checkpointed without waiting for more.

A checkpoint used to be due only when a message arrived, so the messages after a partition's
last checkpoint stayed unacknowledged, and the budget snapshots of the windows they closed
unsent, until the next message of that partition: possibly never. `tokenradar status` and the
organisation's total lagged behind by the tail of the stream.
"""

from __future__ import annotations

import json
import operator
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from detectors.placeholder import EWZScoreFactory
from tests.integration.conftest import Service
from tests.integration.test_budgets import budgets_page
from tests.traffic import T0, team_of
from tokenradar.core.budgets import BudgetConfig
from tokenradar.core.engine import CoreConfig
from tokenradar.core.router import Core

TEAMS_FILE = """
[org]
monthly_budget_usd = 1000

[teams."team-0"]
monthly_budget_usd = 100

[teams."team-1"]
monthly_budget_usd = 100

[teams."team-2"]
monthly_budget_usd = 100

[teams."team-3"]
monthly_budget_usd = 100
"""
TEAMS = [f"team-{i}" for i in range(4)]
# Longer than the whole stream takes a worker, so that before the fix no checkpoint was due
# while it read: the one after the last message is the timer's.
INTERVAL_SECONDS = 2.0


def quiet_traffic() -> list[bytes]:
    """Five minutes of every team's usage, then one event per team a quarter of an hour later,
    which closes the teams' open windows (and so changes their budgets) and is the last."""
    messages: list[bytes] = []

    def event(team: str, second: float, n: int) -> bytes:
        return orjson.dumps(
            {
                "ts": T0 + second,
                "team": team,
                "user": f"{team}-user",
                "model": "claude-sonnet-4",
                "input_tokens": 1000,
                "output_tokens": 250,
                "cost_usd": 0.25,
                "event_id": f"{team}-{n}",
            }
        )

    for n, second in enumerate(range(0, 300, 10)):
        messages.extend(event(team, second, n) for team in TEAMS)
    messages.extend(event(team, 900, 1000) for team in TEAMS)
    return messages


def expected_snapshots(messages: list[bytes], partitions: int) -> list[dict[str, Any]]:
    core = Core(CoreConfig(budgets=BudgetConfig.parse(TEAMS_FILE)), EWZScoreFactory(), partitions)
    offsets = [0] * partitions
    for message in messages:
        partition = core.partition_of(team_of(message).decode())
        core.handle(partition, offsets[partition], message)
        offsets[partition] += 1
    snapshots = [
        processor.budget_snapshot(team)
        for processor in core.processors.values()
        for team in processor.teams
    ]
    return sorted(snapshots, key=lambda d: str(d["team"]))


def latest_per_team(service: Service, topic: str) -> list[dict[str, Any]]:
    """The last snapshot of every team on ``topic``, read from its start to its end."""
    consumer = KafkaConsumer(bootstrap_servers=service.bootstrap, enable_auto_commit=False)
    latest: dict[str, dict[str, Any]] = {}
    try:
        assigned = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(assigned)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(assigned)
        while any(consumer.position(tp) < ends[tp] for tp in assigned):
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    document = orjson.loads(record.value)
                    latest[str(document["team"])] = document
    finally:
        consumer.close()
    return [latest[team] for team in sorted(latest)]


def offsets(service: Service, topic: str) -> tuple[dict[int, int], dict[int, int]]:
    """The topic's committed offsets (the worker's group) and its end offsets (of the
    partitions with messages)."""
    admin = KafkaAdminClient(bootstrap_servers=service.bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=service.bootstrap, enable_auto_commit=False)
    try:
        committed = admin.list_group_offsets(service.prefix)[service.prefix]
        tps = [TopicPartition(topic, p) for p in range(service.partitions)]
        ends = consumer.end_offsets(tps)
    finally:
        admin.close()
        consumer.close()
    return (
        {tp.partition: m.offset for tp, m in committed.items() if tp.topic == topic},
        {tp.partition: offset for tp, offset in ends.items() if offset},
    )


def test_the_tail_of_a_stream_is_checkpointed_after_the_input_stops(
    service: Service, tmp_path: Path
) -> None:
    teams_file = tmp_path / "teams.toml"
    teams_file.write_text(TEAMS_FILE)
    service.extra_env["TOKENRADAR_TEAMS_FILE"] = str(teams_file)
    service.extra_env["TOKENRADAR_CHECKPOINT_INTERVAL_SECONDS"] = str(INTERVAL_SECONDS)
    messages = quiet_traffic()
    wanted = expected_snapshots(messages, service.partitions)
    assert len(wanted) == len(TEAMS)
    service.cli("topics")
    service.produce(messages, key=team_of)
    log = tmp_path / "worker.log"
    service.start_worker(log)
    # The worker has read everything (its in-memory view is complete)...
    deadline = time.monotonic() + 120
    while budgets_page(service) != wanted and time.monotonic() < deadline:
        time.sleep(0.1)
    assert budgets_page(service) == wanted, f"worker /health: {service.health()}"
    read_at = time.monotonic()
    # ... and without any further input checkpoints it within a few intervals: every offset is
    # committed, and the last snapshots on the budgets and organisation topics are the final ones.
    # The organisation's agent, whose acks wait for its rows to be flushed, commits them all too.
    org_topic = f"{service.budgets_topic}-org"
    while True:
        committed, ends = offsets(service, service.usage_topic)
        if committed == ends and operator.eq(*offsets(service, org_topic)):
            break
        if time.monotonic() - read_at > 6 * INTERVAL_SECONDS + 10:
            tail = log.read_text()[-3000:]
            pytest.fail(
                f"usage: committed {committed}, end offsets {ends}; "
                f"{org_topic}: committed, end offsets {offsets(service, org_topic)}; "
                f"health {service.health()}\n{tail}"
            )
        time.sleep(0.2)
    assert latest_per_team(service, service.budgets_topic) == wanted
    assert latest_per_team(service, org_topic) == wanted
    status = json.loads(service.cli("status", "--json").stdout)
    assert status["teams"] == wanted
