"""Silences and mutes in their compacted topic: written by the CLI, read in full by every worker.

Each record is a message keyed by its id whose value is the record's JSON
(:func:`alerts.silences.dump_record`); a newer message with the same key replaces it and a
tombstone (``None`` value) removes it. The topic has one partition so a key's versions stay in
order and "read to the end" is a single offset.

:class:`KafkaSilenceStore` is the worker's side: it reads the whole topic from the beginning
into memory, then keeps following it, so a silence added with ``tokenradar silence add`` reaches
every worker within a poll interval. :func:`publish`, :func:`remove` and :func:`read_all` are the
CLI's side (blocking clients).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from alerts.silences import (
    InMemorySilenceStore,
    Mute,
    Silence,
    dump_record,
    parse_record,
    record_id,
)
from tokenradar.settings import Settings

log = logging.getLogger(__name__)

# How long a worker's reader waits for new records before polling again.
POLL_TIMEOUT_MS = 500
READ_DEADLINE_SECONDS = 30.0


class KafkaSilenceStore:
    """A :class:`~alerts.silences.SilenceStore` that mirrors the silences topic.

    ``ready`` is set once everything the topic held at start has been read; the worker accepts
    no alert before that, so a silence cannot be missed just after a restart.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ready = asyncio.Event()
        self._store = InMemorySilenceStore()

    def silences(self) -> list[Silence]:
        """Every known silence."""
        return self._store.silences()

    def mutes(self) -> list[Mute]:
        """Every known mute."""
        return self._store.mutes()

    def put(self, record: Silence | Mute) -> None:
        """Apply a record read from the topic (workers never write the topic)."""
        self._store.put(record)

    def remove(self, record_id: str) -> None:
        """Apply a tombstone read from the topic."""
        self._store.remove(record_id)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one message of the topic; unreadable records are logged and skipped."""
        if value is None:
            if key is not None:
                self.remove(key.decode())
            return
        try:
            self.put(parse_record(value))
        except ValueError as exc:
            log.warning("skipping an unreadable silence record: %s", exc)

    async def run(self) -> None:
        """Read the topic from the beginning and follow it until cancelled."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        topic = self.settings.silences_topic
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, 0)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = (await consumer.end_offsets(partitions))[partitions[0]]
            while True:
                if not self.ready.is_set() and await consumer.position(partitions[0]) >= end:
                    self.ready.set()
                    log.info(
                        "silences loaded from %s: %d silences, %d mutes",
                        topic,
                        len(self.silences()),
                        len(self.mutes()),
                    )
                batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
                for records in batches.values():
                    for record in records:
                        self.apply(record.key, record.value)
        finally:
            await consumer.stop()


def publish(settings: Settings, record: Silence | Mute) -> None:
    """Write (or replace) a record and wait until the broker has it."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    try:
        producer.send(
            settings.silences_topic, key=record_id(record).encode(), value=dump_record(record)
        ).get(timeout=READ_DEADLINE_SECONDS)
    finally:
        producer.close()


def remove(settings: Settings, record_id: str) -> None:
    """Write a tombstone for ``record_id``."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    try:
        producer.send(settings.silences_topic, key=record_id.encode(), value=None).get(
            timeout=READ_DEADLINE_SECONDS
        )
    finally:
        producer.close()


def read_all(settings: Settings) -> InMemorySilenceStore:
    """Everything the topic holds now (for ``silence list`` and ``silence expire``)."""
    from kafka import KafkaConsumer, TopicPartition

    store = InMemorySilenceStore()
    partition = TopicPartition(settings.silences_topic, 0)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        deadline = time.monotonic() + READ_DEADLINE_SECONDS
        while consumer.position(partition) < end:
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not read {settings.silences_topic} to its end")
            for records in consumer.poll(timeout_ms=POLL_TIMEOUT_MS).values():
                _apply_all(store, ((r.key, r.value) for r in records))
    finally:
        consumer.close()
    return store


def _apply_all(
    store: InMemorySilenceStore, messages: Iterable[tuple[bytes | None, bytes | None]]
) -> None:
    for key, value in messages:
        if value is None:
            if key is not None:
                store.remove(key.decode())
        else:
            try:
                store.put(parse_record(value))
            except ValueError as exc:
                log.warning("skipping an unreadable silence record: %s", exc)
