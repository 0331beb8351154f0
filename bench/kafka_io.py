"""Topics, a fast bulk producer and the bare-consumer baseline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

log = logging.getLogger(__name__)

# The worker fetches up to 4 MiB per partition (stream/app.py); the baseline does the same.
MAX_PARTITION_FETCH_BYTES = 4_194_304


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    """Create ``name`` with ``partitions`` partitions (it must not exist yet)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    except TopicAlreadyExistsError:
        log.warning("topic %s already exists", name)
    finally:
        admin.close()
    # Wait for the leaders, so the first produce does not race the metadata.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            described = admin.describe_topics([name])
        finally:
            admin.close()
        if described and len(described[0].get("partitions", [])) == partitions:
            return
        time.sleep(0.2)


def delete_topics(bootstrap: str, prefix: str) -> list[str]:
    """Delete every topic whose name starts with ``prefix``; returns their names."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        names = [t for t in admin.list_topics() if t.startswith(prefix)]
        if names:
            with contextlib.suppress(UnknownTopicOrPartitionError):
                admin.delete_topics(names)
        return names
    finally:
        admin.close()


async def _produce(
    bootstrap: str, topic: str, messages: list[list[tuple[bytes, bytes]]]
) -> tuple[int, float]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks=1,
        max_batch_size=1_048_576,
        max_request_size=4_194_304,
        linger_ms=5,
    )
    await producer.start()
    started = time.perf_counter()
    sent = 0
    try:
        for partition, records in enumerate(messages):
            pending = []
            batch = producer.create_batch()
            for key, value in records:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    pending.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
                sent += 1
                if len(pending) > 64:
                    await asyncio.gather(*pending)
                    pending = []
            if batch.record_count():
                pending.append(await producer.send_batch(batch, topic, partition=partition))
            await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent, time.perf_counter() - started


def produce(bootstrap: str, topic: str, messages: list[list[tuple[bytes, bytes]]]) -> float:
    """Write each partition's messages in order; returns messages per second."""
    sent, seconds = asyncio.run(_produce(bootstrap, topic, messages))
    return sent / seconds if seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class BaselineResult:
    """What the bare consumer did."""

    messages: int
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


async def _baseline(
    bootstrap: str, topic: str, partitions: Iterable[int], events: int, limit_seconds: float
) -> BaselineResult:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_PARTITION_FETCH_BYTES,
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        loads = orjson.loads
        seen_events = seen_messages = 0
        first: float | None = None
        deadline = time.monotonic() + limit_seconds
        while seen_events < events:
            if time.monotonic() > deadline:
                raise TimeoutError(f"baseline saw {seen_events} of {events} events")
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            if first is None and batches:
                first = time.perf_counter()
            for records in batches.values():
                for record in records:
                    document = loads(record.value)
                    seen_events += len(document) if isinstance(document, list) else 1
                seen_messages += len(records)
        assert first is not None
        return BaselineResult(seen_messages, seen_events, time.perf_counter() - first)
    finally:
        await consumer.stop()


def baseline(
    bootstrap: str, topic: str, partitions: int, events: int, timeout: float = 900.0
) -> BaselineResult:
    """Fetch the whole topic in batches and parse every message with orjson, nothing else."""
    return asyncio.run(_baseline(bootstrap, topic, range(partitions), events, timeout))
