"""Partitions that go quiet are checkpointed by the timer (StreamRuntime.checkpoint_quiet).

Faust is replaced by what the runtime uses of it: events with a message, a manual-ack stream
that records acks, a producer that records records, tables that record which event each write
was made for (``faust.streams.current_event``, which picks the changelog partition). The real
thing runs in tests/integration/test_quiet_partitions.py.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from faust import streams as faust_streams

from detectors.placeholder import EWZScoreFactory
from stream import runtime as runtime_module
from stream.runtime import StreamRuntime
from tests.traffic import T0
from tokenradar.core.engine import CoreConfig
from tokenradar.core.router import Core
from tokenradar.settings import Settings

INTERVAL = 1.0
TOPIC = "usage"


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes


@dataclass(eq=False)
class Event:
    message: Message
    value: bytes


class Stream:
    """A manual-ack stream: acks are recorded, nothing else."""

    def __init__(self) -> None:
        self.acked: list[tuple[int, int]] = []
        self.checkpointed = asyncio.Event()

    async def ack(self, event: Event) -> bool:
        self.acked.append((event.message.partition, event.message.offset))
        self.checkpointed.set()
        return True


class Table(dict[bytes, bytes]):
    """A table that records, for every write, the event it was made for."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[bytes, Any]] = []

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes.append((key, faust_streams.current_event()))
        super().__setitem__(key, value)

    def __delitem__(self, key: bytes) -> None:
        self.writes.append((key, faust_streams.current_event()))
        super().__delitem__(key)


class Producer:
    """Faust's producer as the runtime sends to it; ``hold`` makes window records wait."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes]] = []
        self.hold: asyncio.Event | None = None

    async def send(self, topic: str, key: bytes, value: bytes, *args: Any) -> None:
        if self.hold is not None and topic == "windows":
            await self.hold.wait()
        self.records.append((topic, value))

    def snapshots(self) -> list[dict[str, Any]]:
        return [orjson.loads(value) for topic, value in self.records if topic == "budgets"]


class Topic:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_topic_name(self) -> str:
        return self.name

    async def send(self, **kwargs: Any) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    # The runtime's own clock only: asyncio's runs on.
    fake = SimpleNamespace(
        monotonic=clock.monotonic, time=time.time, perf_counter=time.perf_counter
    )
    monkeypatch.setattr(runtime_module, "time", fake)
    return clock


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    async def flush(producer: Any) -> None:
        pass

    monkeypatch.setattr(runtime_module.flushing, "flush", flush)


class Worker:
    def __init__(self, partitions: int = 1) -> None:
        self.core = Core(CoreConfig(), EWZScoreFactory(), partitions)
        self.producer = Producer()
        self.team_table, self.meta_table = Table(), Table()
        self.stream = Stream()
        self.rebalancing = False
        self.runtime = StreamRuntime(
            Settings(checkpoint_interval_seconds=INTERVAL),
            self.core,
            team_table=self.team_table,
            meta_table=self.meta_table,
            alerts_topic=Topic("alerts"),
            windows_topic=Topic("windows"),
            dead_letter_topic=Topic("dead-letter"),
            budgets_topic=Topic("budgets"),
            usage_topic=Topic(TOPIC),
            producer=lambda: self.producer,
            highwater=lambda partition: None,
            rebalancing=lambda: self.rebalancing,
        )
        self.offsets = [0] * partitions
        self.events: list[Event] = []

    def event(self, team: str, second: float) -> Event:
        partition = self.core.partition_of(team)
        offset = self.offsets[partition]
        self.offsets[partition] += 1
        value = orjson.dumps(
            {
                "ts": T0 + second,
                "team": team,
                "user": f"{team}-user",
                "model": "m1",
                "input_tokens": 100,
                "output_tokens": 30,
                "cost_usd": 0.5,
                "event_id": f"{team}-{second}",
            }
        )
        event = Event(Message(TOPIC, partition, offset, team.encode()), value)
        self.events.append(event)
        return event

    async def handle(self, team: str, second: float) -> Event:
        event = self.event(team, second)
        await self.runtime.on_event(self.stream, event)
        return event


async def test_the_last_messages_are_checkpointed_when_no_other_follows(clock: Clock) -> None:
    worker = Worker()
    for second in range(0, 180, 10):
        await worker.handle("team-a", second)
    # The last message closes the team's windows: its budget changes with it.
    last = await worker.handle("team-a", 600)
    assert worker.stream.acked == [] and worker.producer.snapshots() == []
    clock.now += INTERVAL / 2
    assert not await worker.runtime.checkpoint_quiet()
    assert worker.stream.acked == []
    clock.now += INTERVAL / 2
    assert await worker.runtime.checkpoint_quiet()
    assert worker.stream.acked == [(0, offset) for offset in range(19)]
    # The snapshot of the windows the last message closed is on the budgets topic...
    spent = worker.producer.snapshots()[-1]["spent_usd"]
    assert spent == pytest.approx(0.5 * 18)
    assert worker.runtime.budgets()[0]["spent_usd"] == spent
    # ... and the state was written as if handling the last message.
    assert worker.team_table.writes and worker.meta_table.writes
    assert {event for _, event in worker.team_table.writes + worker.meta_table.writes} == {last}
    assert worker.runtime.health()["partitions"]["0"]["checkpoints"] == 1
    # Nothing is pending any more: the timer has nothing to do until the next message.
    clock.now += 10 * INTERVAL
    assert not await worker.runtime.checkpoint_quiet()


async def test_the_timer_runs_a_checkpoint_within_about_an_interval() -> None:
    worker = Worker()
    worker.runtime.settings = Settings(checkpoint_interval_seconds=0.05)
    for second in range(0, 180, 10):
        await worker.handle("team-a", second)
    timer = asyncio.create_task(worker.runtime.checkpoint_quiet_partitions())
    try:
        async with asyncio.timeout(5):
            await worker.stream.checkpointed.wait()
    finally:
        timer.cancel()
    assert worker.stream.acked == [(0, offset) for offset in range(18)]


async def test_the_timer_waits_for_the_message_being_handled(clock: Clock) -> None:
    worker = Worker()
    for second in range(0, 180, 10):
        await worker.handle("team-a", second)
    clock.now += INTERVAL
    # The next message closes windows, and sending them waits for the producer (which takes
    # the rest, budget snapshots included, at once).
    worker.producer.hold = asyncio.Event()
    handling = asyncio.create_task(
        worker.runtime.on_event(worker.stream, worker.event("team-a", 600))
    )
    await asyncio.sleep(0.01)
    assert not handling.done()
    timer = asyncio.create_task(worker.runtime.checkpoint_quiet())
    await asyncio.sleep(0.01)
    # Neither the acks nor the writes of a checkpoint while the message is half handled.
    assert worker.stream.acked == [] and worker.team_table.writes == []
    worker.producer.hold.set()
    await handling
    # The message's own checkpoint (an interval has passed) covers it; the timer's then finds
    # nothing left to do.
    assert not await timer
    assert worker.stream.acked == [(0, offset) for offset in range(19)]


async def test_a_revoked_partition_is_not_checkpointed(clock: Clock) -> None:
    worker = Worker(partitions=8)
    teams = ["team-a", "team-b"]
    kept, revoked = (worker.core.partition_of(team) for team in teams)
    assert kept != revoked
    for second in range(0, 60, 10):
        for team in teams:
            await worker.handle(team, second)
    await worker.runtime.revoke_partitions([revoked])
    clock.now += INTERVAL
    assert await worker.runtime.checkpoint_quiet()
    assert {partition for partition, _ in worker.stream.acked} == {kept}
    assert all(key.startswith(f"{kept}".encode()) for key, _ in worker.team_table.writes)
    assert {event.message.partition for _, event in worker.meta_table.writes} == {kept}


async def test_nothing_is_checkpointed_during_a_rebalance(clock: Clock) -> None:
    worker = Worker()
    for second in range(0, 60, 10):
        await worker.handle("team-a", second)
    worker.rebalancing = True
    clock.now += INTERVAL
    assert not await worker.runtime.checkpoint_quiet()
    assert worker.stream.acked == [] and worker.team_table.writes == []
    worker.rebalancing = False
    assert await worker.runtime.checkpoint_quiet()
    assert len(worker.stream.acked) == 6
