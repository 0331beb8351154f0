"""Team-state writes handed to the producer in one go (stream/table_writes.py).

The Faust table is replaced by a small object with what the writer uses (``data``, the local
store with ``set_persisted_offset``; ``partition_for_key``; ``changelog_topic``), and the
producer by one that records ``send`` and resolves each record like the Kafka client would.
The real table and producer run in the integration tests (tests/integration/test_pipeline.py).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from stream.table_writes import ChangelogWrites

TOPIC = "app-team-state-changelog"


class Store(dict[bytes, bytes]):
    def __init__(self) -> None:
        super().__init__()
        self.persisted: dict[tuple[str, int], int] = {}

    def set_persisted_offset(self, tp: tuple[str, int], offset: int) -> None:
        self.persisted[tp] = offset


class Table:
    name = "team-state"

    def __init__(self) -> None:
        self.data = Store()
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: TOPIC)
        self.event_partition: int | None = None

    def partition_for_key(self, key: Any) -> int:
        # Faust's table: the partition of the event being processed, an error outside one.
        if self.event_partition is None:
            raise TypeError("Cannot modify table key from outside of stream iteration")
        return self.event_partition


class Producer:
    """``send`` returns a future per record; ``deliver`` resolves them with log offsets."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None, int]] = []
        self.futures: list[asyncio.Future[Any]] = []
        self.next_offset: dict[int, int] = {}

    async def send(
        self,
        topic: str,
        key: bytes,
        value: bytes | None,
        partition: int,
        timestamp: float | None,
        headers: Any,
    ) -> asyncio.Future[Any]:
        self.sent.append((topic, key, value, partition))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future

    def deliver(self, fail: int | None = None) -> None:
        for index, future in enumerate(self.futures):
            if future.done():
                continue
            if index == fail:
                future.set_exception(RuntimeError("broker said no"))
                continue
            partition = self.sent[index][3]
            offset = self.next_offset.get(partition, 0)
            self.next_offset[partition] = offset + 1
            future.set_result(SimpleNamespace(topic_partition=(TOPIC, partition), offset=offset))


async def test_records_reach_the_producer_in_write_order_with_the_event_partition() -> None:
    table, producer = Table(), Producer()
    writes = ChangelogWrites(table, lambda: producer)
    table.event_partition = 2
    writes[b"2/a.c1"] = b"closed"
    writes[b"2/a"] = b"head"
    table.event_partition = 5
    writes[b"5/b"] = b"head-b"
    table.event_partition = 2
    del writes[b"2/a.c1"]
    # The local store has the writes at once; nothing is sent before send().
    assert dict(table.data) == {b"2/a": b"head", b"5/b": b"head-b"}
    assert producer.sent == []
    assert writes.pending == 4
    await writes.send()
    assert producer.sent == [
        (TOPIC, b"2/a.c1", b"closed", 2),
        (TOPIC, b"2/a", b"head", 2),
        (TOPIC, b"5/b", b"head-b", 5),
        (TOPIC, b"2/a.c1", None, 2),
    ]
    assert writes.pending == 0
    await writes.send()  # nothing new: nothing sent again
    assert len(producer.sent) == 4


async def test_persist_keeps_the_highest_offset_of_each_partition() -> None:
    table, producer = Table(), Producer()
    writes = ChangelogWrites(table, lambda: producer)
    for partition, key in [(0, b"0/a"), (1, b"1/b"), (0, b"0/c"), (0, b"0/d")]:
        table.event_partition = partition
        writes[key] = b"x"
    await writes.send()
    producer.deliver()
    writes.persist()
    assert table.data.persisted == {(TOPIC, 0): 2, (TOPIC, 1): 0}
    # The next checkpoint persists only what it sent.
    table.event_partition = 1
    writes[b"1/b"] = b"y"
    await writes.send()
    producer.deliver()
    writes.persist()
    assert table.data.persisted == {(TOPIC, 0): 2, (TOPIC, 1): 1}


async def test_a_record_the_producer_failed_to_deliver_fails_the_checkpoint() -> None:
    table, producer = Table(), Producer()
    writes = ChangelogWrites(table, lambda: producer)
    table.event_partition = 0
    writes[b"0/a"] = b"x"
    writes[b"0/b"] = b"y"
    await writes.send()
    producer.deliver(fail=0)
    with pytest.raises(RuntimeError, match="broker said no"):
        writes.persist()
    assert table.data.persisted == {}


async def test_persist_before_the_records_are_delivered_is_an_error() -> None:
    table, producer = Table(), Producer()
    writes = ChangelogWrites(table, lambda: producer)
    table.event_partition = 0
    writes[b"0/a"] = b"x"
    await writes.send()
    with pytest.raises(RuntimeError, match="not flushed"):
        writes.persist()


def test_a_write_outside_an_event_of_a_partition_is_refused() -> None:
    table = Table()
    writes = ChangelogWrites(table, lambda: Producer())
    with pytest.raises(TypeError):
        writes[b"0/a"] = b"x"
    assert dict(table.data) == {}


async def test_a_checkpoint_sends_the_records_table_writes_would_give_in_the_same_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import itertools

    from detectors.placeholder import EWZScoreFactory
    from stream import state_chunks
    from stream.runtime import team_key
    from tests.stream.test_team_state_split import CONFIG, RecordingTable, messages, runtime
    from tokenradar.core.engine import PartitionProcessor
    from tokenradar.events import parse_message

    stream = [parse_message(message)[0][0] for message in messages(minutes=30)]

    def run(team_table: Any, team_writes: Any = None) -> None:
        # Generations are random; number them so that both runs name the same parts.
        counter = itertools.count()
        monkeypatch.setattr(state_chunks, "new_generation", lambda: f"{next(counter):08x}")
        writer = runtime(team_table, team_writes)
        processor = PartitionProcessor(0, CONFIG, EWZScoreFactory())
        for offset, event in enumerate(stream):
            processor.process(event, offset)
            if offset % 50 == 0:
                for state in processor.dirty_teams():
                    writer._write_team(team_key(0, state.team), state)

    plain = RecordingTable()
    run(plain)
    table, producer = Table(), Producer()
    table.event_partition = 0
    writes = ChangelogWrites(table, lambda: producer)
    run(table, writes)
    assert writes.pending == len(plain.log)
    await writes.send()
    assert any(value is None for _, value in plain.log)  # superseded parts were deleted
    assert [(key, value) for _, key, value, _ in producer.sent] == plain.log
    assert dict(table.data) == dict(plain)
