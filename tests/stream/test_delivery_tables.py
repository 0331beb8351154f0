"""The worker's delivery-state adapter over Faust tables, and the flush barrier before requests.

The Faust table is replaced by a small object with the two things the adapter uses (``data``,
the local store, and ``send_changelog``); the real tables run in the integration tests.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson

from stream.delivery import ChangelogTable, DurabilityBarrier


class RecordingTable:
    """``data`` and ``send_changelog`` of a Faust table, recording the changelog messages."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changelog: list[tuple[int, bytes, bytes | None]] = []

    def send_changelog(self, partition: int, key: bytes, value: bytes | None, **_: Any) -> None:
        self.changelog.append((partition, key, value))


class CountingProducer:
    # Like a threaded Faust producer, it keeps no buffer in front of its client.
    app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=True))
    buffer = None

    def __init__(self) -> None:
        self.flushes = 0

    async def flush(self) -> None:
        await asyncio.sleep(0)
        self.flushes += 1


def test_changelog_table_writes_store_and_changelog_under_the_partition_prefix() -> None:
    table = RecordingTable()
    producer = CountingProducer()
    barrier = DurabilityBarrier(lambda: producer)
    p3 = ChangelogTable(table, 3, barrier)
    p4 = ChangelogTable(table, 4, barrier)
    p3.set("entry-1", {"state": "pending", "n": 1})
    p4.set("entry-1", {"state": "done"})
    assert p3.get("entry-1") == {"state": "pending", "n": 1}
    assert p4.get("entry-1") == {"state": "done"}
    assert p3.get("missing") is None
    assert [key for key, _ in p3.items()] == ["entry-1"]
    assert table.changelog == [
        (3, b"3/entry-1", orjson.dumps({"state": "pending", "n": 1})),
        (4, b"4/entry-1", orjson.dumps({"state": "done"})),
    ]
    p3.delete("entry-1")
    p3.delete("entry-1")  # absent: no second tombstone
    assert p3.get("entry-1") is None
    assert table.changelog[-1] == (3, b"3/entry-1", None)
    assert len(table.changelog) == 3
    assert p4.get("entry-1") == {"state": "done"}


async def test_the_barrier_flushes_only_when_something_was_written_since_the_last_flush() -> None:
    producer = CountingProducer()
    barrier = DurabilityBarrier(lambda: producer)
    await barrier()
    assert producer.flushes == 0
    table = ChangelogTable(RecordingTable(), 0, barrier)
    table.set("a", {"x": 1})
    await barrier()
    assert producer.flushes == 1
    await barrier()
    assert producer.flushes == 1
    table.set("b", {"x": 2})
    table.delete("a")
    await asyncio.gather(barrier(), barrier())
    # Both callers waited for a flush that began after the writes.
    assert producer.flushes >= 1 + 1
    await barrier()
    assert producer.flushes <= 3
