"""The worker's organisation budget: announcements are durable before the marks that record them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from alerts.model import Alert
from stream import org_budget
from stream.org_budget import OrgBudgetAggregator
from tests.core.test_org_budget import ORG, snap
from tokenradar.core.budgets import BudgetConfig
from tokenradar.kafka_admin import topic_specs
from tokenradar.settings import Settings


@dataclass
class Message:
    topic: str = "tokenradar-budgets-org"
    partition: int = 4
    offset: int = 0


class Recorder:
    """Table, topic and producer in one, writing what happens to one shared log."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.rows: dict[bytes, bytes] = {}

    # the table
    def get(self, key: bytes) -> bytes | None:
        return self.rows.get(key)

    def items(self) -> list[tuple[bytes, bytes]]:
        return list(self.rows.items())

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.log.append(f"set {key.decode()}")
        self.rows[key] = value

    def __delitem__(self, key: bytes) -> None:
        self.log.append(f"del {key.decode()}")
        del self.rows[key]

    # the alerts topic and the flush barrier
    async def send(self, key: bytes, value: bytes) -> None:
        self.log.append(f"send {orjson.loads(value)['threshold_pct']}")

    async def flush(self) -> None:
        self.log.append("flush")

    # the agent's manual-ack stream
    async def ack(self, event: Event) -> bool:
        self.log.append(f"ack {event.message.offset}")
        return True


@dataclass
class Event:
    value: bytes
    message: Message


def aggregator(recorder: Recorder) -> OrgBudgetAggregator:
    def accept(partition: int, alert: Alert) -> None:
        recorder.log.append(f"accept {partition} {alert.threshold_pct}")

    return OrgBudgetAggregator(
        BudgetConfig.parse(ORG),
        4,
        table=recorder,
        alerts_topic=recorder,
        flush=recorder.flush,
        accept=accept,
    )


def feed(org: OrgBudgetAggregator, document: dict[str, Any]) -> None:
    asyncio.run(org.on_snapshot(orjson.dumps(document), Message()))


def test_the_alert_is_flushed_before_its_mark_and_the_mark_before_the_next_snapshot() -> None:
    recorder = Recorder()
    org = aggregator(recorder)
    feed(org, snap("ads", 300.0, "2026-11-10T09:00"))
    assert recorder.log == ["set team/2026-11/ads"]
    recorder.log.clear()
    feed(org, snap("search", 250.0, "2026-11-10T09:05"))
    assert recorder.log == [
        "send 50.0",
        "accept 4 50.0",
        "flush",
        "set team/2026-11/search",
        "set mark/2026-11|usd:50",
        "flush",
    ]


def test_a_new_owner_restores_the_marks_and_does_not_announce_again() -> None:
    recorder = Recorder()
    org = aggregator(recorder)
    feed(org, snap("ads", 600.0, "2026-11-10T09:00"))
    org.forget()
    recorder.log.clear()
    # The next owner reads the table (here: the same rows) and hears the same snapshot again.
    feed(org, snap("ads", 600.0, "2026-11-10T09:00"))
    feed(org, snap("ads", 700.0, "2026-11-10T10:00"))
    assert recorder.log == ["set team/2026-11/ads"]
    feed(org, snap("search", 100.0, "2026-11-10T10:00"))
    assert "send 80.0" in recorder.log


async def handle(
    org: OrgBudgetAggregator, recorder: Recorder, raws: list[bytes], more: bool
) -> None:
    """Hand ``raws`` to the org agent's handler; the last finds the buffer empty unless ``more``."""
    for offset, raw in enumerate(raws):
        event = Event(raw, Message(offset=offset))
        await org.on_event(recorder, event, more=more or offset < len(raws) - 1)


def test_snapshots_are_acknowledged_only_after_a_flush_that_follows_their_standings() -> None:
    recorder = Recorder()
    org = aggregator(recorder)
    raws = [
        orjson.dumps(snap("ads", 100.0, "2026-11-10T09:00")),
        orjson.dumps(snap("search", 50.0, "2026-11-10T09:00")),
        b"garbage",  # skipped, and acknowledged all the same
        orjson.dumps(snap("ads", 120.0, "2026-11-10T10:00")),
    ]
    asyncio.run(handle(org, recorder, raws, more=False))
    # A burst: its standings, one flush barrier, then its acks (Faust commits only acked offsets).
    assert recorder.log == [
        "set team/2026-11/ads",
        "set team/2026-11/search",
        "set team/2026-11/ads",
        "flush",
        "ack 0",
        "ack 1",
        "ack 2",
        "ack 3",
    ]


def test_a_long_burst_is_acknowledged_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(org_budget, "ACK_BATCH", 2)
    recorder = Recorder()
    org = aggregator(recorder)
    raws = [orjson.dumps(snap("ads", 10.0 * n, "2026-11-10T09:00")) for n in range(5)]
    asyncio.run(handle(org, recorder, raws, more=True))
    assert [line for line in recorder.log if not line.startswith("set")] == [
        "flush", "ack 0", "ack 1", "flush", "ack 2", "ack 3"
    ]  # fmt: skip
    # A revoked partition's unacknowledged snapshot is left for the partition's next owner.
    org.forget()
    recorder.log.clear()
    asyncio.run(handle(org, recorder, raws[:1], more=False))
    assert [line for line in recorder.log if not line.startswith("set")] == ["flush", "ack 0"]


def test_garbage_on_the_topic_is_skipped() -> None:
    recorder = Recorder()
    org = aggregator(recorder)
    asyncio.run(org.on_snapshot(b"not json", Message()))
    asyncio.run(org.on_snapshot(b"[1, 2]", Message()))
    assert recorder.log == []


def test_the_org_topic_is_created_with_the_usage_partitions_and_follows_the_budgets_topic() -> None:
    settings = Settings(budgets_topic="x-budgets", usage_partitions=5, _env_file=None)  # type: ignore[call-arg]
    specs = {spec.name: spec for spec in topic_specs(settings)}
    # As many partitions as the usage topic: Faust assigns it together with the usage topic.
    assert specs["x-budgets-org"].num_partitions == 5
