"""Writing many changes of a Faust table at once: local store now, changelog records in one go.

``table[key] = value`` on a Faust table writes the local store and queues one ``FutureMessage``
for the changelog; a background task hands the queue to the Kafka client one message at a time
(sensors, a producer lookup and a done-callback per message, and the callback writes the
changelog offset to rocksdb once per record), and waiting for that queue to drain costs a
timed wait per message (stream/flushing.py). A checkpoint writes a few thousand team states at
once, so in the object-form benchmark this per-record path took more of the worker's time than
the core.

:class:`ChangelogWrites` keeps what a table write means (the local store holds the value at
once, the changelog partition of the record is the usage partition, records of one partition
reach the changelog in the order they were written) and hands the records to Faust's producer
(``Producer.send``, straight to the Kafka client) when :meth:`send` is awaited. The changelog
offset is kept for recovery once per partition, after the caller's flush barrier, through the
same ``set_persisted_offset`` the table's own callback uses: recovery then reads the changelog
from that offset on, as it would after a table write. A record the client failed to deliver
raises in :meth:`persist`, so the checkpoint fails and nothing it covers is acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class TableWrites(Protocol):
    """Where a checkpoint writes team states (a table, or :class:`ChangelogWrites`)."""

    def __setitem__(self, key: bytes, value: bytes) -> None: ...

    def __delitem__(self, key: bytes) -> None: ...


class ChangelogWrites:
    """Writes of one Faust table: the local store at once, the changelog records on :meth:`send`.

    Like a table write, ``writes[key] = value`` and ``del writes[key]`` must run while the
    current event (``faust.streams._current_event``) is one of the partition's: it chooses the
    local store's partition and the changelog partition.
    """

    def __init__(self, table: Any, producer: Callable[[], Any]) -> None:
        self.table = table
        self._producer = producer
        self._records: list[tuple[int, bytes, bytes | None]] = []
        self._sent: list[Any] = []

    @property
    def pending(self) -> int:
        """Records written but not yet handed to the producer."""
        return len(self._records)

    def _partition(self) -> int:
        partition = self.table.partition_for_key(None)
        if partition is None:
            raise RuntimeError(f"{self.table.name}: written outside an event of its partition")
        return int(partition)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        partition = self._partition()
        self.table.data[key] = value
        self._records.append((partition, key, value))

    def __delitem__(self, key: bytes) -> None:
        partition = self._partition()
        del self.table.data[key]
        self._records.append((partition, key, None))

    async def send(self) -> None:
        """Hand every record written since the last call to the producer, in order."""
        if not self._records:
            return
        records, self._records = self._records, []
        topic = self.table.changelog_topic.get_topic_name()
        send = self._producer().send
        sent = self._sent
        for partition, key, value in records:
            sent.append(await send(topic, key, value, partition, None, None))

    def persist(self) -> None:
        """After a flush: record the changelog offsets reached, for the table's recovery.

        Raises the error of a record the producer failed to deliver.
        """
        sent, self._sent = self._sent, []
        last: dict[Any, int] = {}
        for future in sent:
            if not future.done():
                raise RuntimeError(f"{self.table.name}: a changelog record was not flushed")
            metadata = future.result()  # raises the delivery error, if any
            tp = metadata.topic_partition
            last[tp] = max(last.get(tp, -1), metadata.offset)
        for tp, offset in last.items():
            self.table.data.set_persisted_offset(tp, offset)
