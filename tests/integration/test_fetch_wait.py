"""On the broker: a consumer busy for a moment must not hold a busy topic behind a quiet one.

The worker's consumer reads the usage topic and quiet topics from one broker, in a thread of its
own while the agent works (stream/fetching.py). Here the consumer is an aiokafka consumer whose
reader pauses now and then, as the agent does during a checkpoint, without blocking the fetcher.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

import aiokafka
from aiokafka import TopicPartition
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from stream.fetching import fetch_max_wait_of, set_fetch_max_wait

PAUSE_SECONDS = 0.3


async def _delivery_lags(bootstrap: str, fetch_max_wait_ms: int) -> list[float]:
    """Seconds from send to delivery of records sent every 10 ms to a three-partition topic."""
    busy, quiet = (f"fetch-wait-{name}-{uuid.uuid4().hex[:8]}" for name in ("busy", "quiet"))
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(busy, 3, 1), NewTopic(quiet, 1, 1)])
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=1500,  # Faust's value
    )
    set_fetch_max_wait(consumer, fetch_max_wait_ms)
    lags: list[float] = []
    sending = True
    try:
        await producer.start()
        await consumer.start()
        assert fetch_max_wait_of(consumer) == fetch_max_wait_ms
        consumer.assign([TopicPartition(busy, p) for p in range(3)] + [TopicPartition(quiet, 0)])
        await consumer.getmany(timeout_ms=500)  # positions found, nothing sent yet

        async def produce() -> None:
            nonlocal sending
            for i in range(300):
                await producer.send(busy, str(time.time()).encode(), partition=i % 3)
                await asyncio.sleep(0.01)
            await asyncio.sleep(2.0)
            sending = False

        async def read() -> None:
            reads = 0
            while sending:
                batches = await consumer.getmany(timeout_ms=100)
                now = time.time()
                lags.extend(now - float(r.value) for rs in batches.values() for r in rs)
                reads += 1
                if reads % 7 == 0:
                    await asyncio.sleep(PAUSE_SECONDS)  # busy, while the fetcher goes on

        await asyncio.gather(produce(), read())
    finally:
        await consumer.stop()
        await producer.stop()
        admin.delete_topics([busy, quiet])
        admin.close()
    assert len(lags) == 300
    return lags


def test_a_short_fetch_wait_keeps_deliveries_within_the_readers_pauses(broker: str) -> None:
    lags = asyncio.run(_delivery_lags(broker, 100))
    assert statistics.median(lags) < 0.5
    assert max(lags) < PAUSE_SECONDS + 0.5


def test_faust_s_fetch_wait_holds_the_busy_topic_behind_the_quiet_one(broker: str) -> None:
    # The case the setting exists for; if aiokafka stops holding the busy topic back, this fails
    # and stream/fetching.py can go.
    lags = asyncio.run(_delivery_lags(broker, 1500))
    assert statistics.median(lags) > 0.5
