"""Alert delivery in the worker: outbox and ledger in Faust tables, one relay per partition.

Where state is written
----------------------
Faust's own table API (``table[key] = value``) finds the changelog partition, and the rocksdb
store finds its local database, through ``current_event()``: the message the agent is handling.
The relay runs in a background task with no current event, so it cannot write that way. The
delivery tables are therefore written through :class:`ChangelogTable`, which does what Faust's
``on_key_set`` does, with the partition given explicitly:

* the value goes into the table's local store, and
* the same key and value go to the table's changelog topic with
  ``table.send_changelog(partition, key, value)``.

The delivery tables use Faust's in-memory store (``store="memory://"``). It keeps no local
offsets, so on every start (and every time a partition is assigned) Faust rebuilds it from the
changelog before the agents resume; a value written to the store but not yet to the changelog can
never outlive a crash and make the local copy disagree with Kafka, which a rocksdb store with its
persisted changelog offsets could. The tables hold only pending notifications, done markers and
open episodes, so reading them whole at start is cheap.

Keys are prefixed with the usage partition (``"3/<entry id>"``), as the team-state table's are, so
each partition's delivery sees only its own rows even when the store also holds standby data.

When state is durable
---------------------
``send_changelog`` only hands the message to the producer. Two flushes make it durable when it
matters:

* Outbox entries written by :meth:`AlertDispatcher.accept` while the agent applies a message are
  flushed by the partition's next checkpoint, which flushes the producer before it acknowledges
  the message (and writes the team state) - so an alert whose input was acknowledged has its
  outbox entries on the broker.
* Before any notification request leaves, :class:`DurabilityBarrier` flushes the producer if
  delivery state was written since the last flush (the Slack notifier's in-flight mark, for
  example), so a crash after the request cannot forget that the request was made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from rich.console import Console

from alerts.clock import Clock, SystemClock
from alerts.config import AlertingConfig
from alerts.dispatch import AlertDelivery, RecentSeries, build_delivery, build_notifiers
from alerts.model import Alert
from alerts.notifiers.console import ConsoleNotifier
from alerts.outbox import DONE_MARKER_HORIZON_SECONDS, OutboxEntry
from alerts.routing import Router, TeamsFile
from alerts.silences import SilenceStore
from alerts.transport import Transport
from detectors.base import WindowSummary

from . import flushing

log = logging.getLogger(__name__)

# Done markers older than the horizon are dropped this often (they only block re-acceptance of an
# alert replayed after a restart, which happens within minutes, not days).
PRUNE_INTERVAL_SECONDS = 3600.0
# How long a revoked partition's relay may take to finish the pass it is in.
RELAY_STOP_TIMEOUT_SECONDS = 5.0


class DurabilityBarrier:
    """Flushes the producer when delivery state was written since the last completed flush.

    Parameters
    ----------
    producer
        Returns the Faust producer (it only exists once the app runs).
    """

    def __init__(self, producer: Callable[[], Any]) -> None:
        self._producer = producer
        self._written = 0
        self._durable = 0

    def written(self) -> None:
        """Note that a changelog message was handed to the producer."""
        self._written += 1

    async def __call__(self) -> None:
        """Return once everything written before the call is on the broker."""
        target = self._written
        if self._durable >= target:
            return
        # Concurrent callers each flush: a caller must not return on a flush that started before
        # its own write was handed over.
        await flushing.flush(self._producer())
        self._durable = max(self._durable, target)


class ChangelogTable:
    """A :class:`~alerts.store.StateTable` over one partition of a Faust table (memory store).

    ``set`` and ``delete`` update the local store at once and send the change to the changelog
    partition; the change is durable after the next flush (see the module docstring).
    """

    def __init__(self, table: Any, partition: int, barrier: DurabilityBarrier) -> None:
        self.table = table
        self.partition = partition
        self.barrier = barrier
        self._prefix = f"{partition}/".encode()

    def _key(self, key: str) -> bytes:
        return self._prefix + key.encode()

    def get(self, key: str) -> dict[str, Any] | None:
        """The value of ``key``."""
        raw = self.table.data.get(self._key(key))
        if raw is None:
            return None
        value: dict[str, Any] = orjson.loads(raw)
        return value

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` locally and send it to the changelog."""
        raw = orjson.dumps(value)
        full = self._key(key)
        self.table.data[full] = raw
        self.table.send_changelog(self.partition, full, raw)
        self.barrier.written()

    def delete(self, key: str) -> None:
        """Remove ``key`` locally and send a tombstone."""
        full = self._key(key)
        if self.table.data.get(full) is None:
            return
        del self.table.data[full]
        self.table.send_changelog(self.partition, full, None, value_serializer="raw")
        self.barrier.written()

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """A snapshot of this partition's rows."""
        prefix, size = self._prefix, len(self._prefix)
        rows = [
            (key[size:].decode(), orjson.loads(raw))
            for key, raw in list(self.table.data.items())
            if key.startswith(prefix) and raw is not None
        ]
        return iter(rows)


class TopicDeadLetters:
    """Sends notifications that cannot be delivered to the dead-letter topic."""

    def __init__(self, topic: Any) -> None:
        self.topic = topic

    def dead_letter(self, entry: OutboxEntry, reason: str) -> None:
        """Queue ``entry`` (as JSON) with its reason in the headers."""
        self.topic.send_soon(
            key=entry.alert.dedup_key.encode(),
            value=entry.model_dump_json().encode(),
            headers=[
                ("reason", reason.encode()),
                ("source", f"delivery:{entry.target.split(':', 1)[0]}".encode()),
            ],
        )


class WorkerDelivery:
    """Per-partition dispatchers and relays sharing one set of notifiers.

    Parameters
    ----------
    config
        Where alerts go and how hard delivery tries.
    outbox_table, ledger_table
        Faust tables (memory store, raw bytes) for the outbox and the delivery ledger.
    silences
        Silences and mutes every dispatcher consults.
    producer
        Returns the Faust producer, for the durability barrier.
    dead_letters
        Where notifications that cannot be delivered go.
    teams
        The teams file (routing per team).
    """

    def __init__(
        self,
        config: AlertingConfig,
        *,
        outbox_table: Any,
        ledger_table: Any,
        silences: SilenceStore,
        producer: Callable[[], Any],
        dead_letters: Any,
        teams: TeamsFile | None = None,
        clock: Clock | None = None,
        console: Console | None = None,
    ) -> None:
        self.config = config
        self.outbox_table = outbox_table
        self.ledger_table = ledger_table
        self.silences = silences
        self.dead_letters = dead_letters
        self.clock = clock or SystemClock()
        self.barrier = DurabilityBarrier(producer)
        self.router = Router(config, teams)
        self.transport = Transport(config.http_timeout_seconds, before_request=self.barrier)
        self.notifiers = build_notifiers(config, self.router, self.transport, self.clock)
        # The worker's stderr is its log; a prefix tells notifications apart from log lines.
        self.notifiers["console"] = ConsoleNotifier(
            console or Console(stderr=True, highlight=False, soft_wrap=True),
            prefix="NOTIFICATION ",
        )
        # The sparkline data of every owned team (memory only: after a restart the series starts
        # again; an alert already accepted keeps its series in its outbox entry).
        self.series = RecentSeries()
        self._partitions: dict[int, AlertDelivery] = {}
        self._relays: dict[int, tuple[asyncio.Task[None], asyncio.Event]] = {}

    def partition(self, partition: int) -> AlertDelivery:
        """The delivery of one usage partition (created on first use, from the tables)."""
        delivery = self._partitions.get(partition)
        if delivery is None:
            delivery = build_delivery(
                self.config,
                outbox_table=ChangelogTable(self.outbox_table, partition, self.barrier),
                ledger_table=ChangelogTable(self.ledger_table, partition, self.barrier),
                silences=self.silences,
                dead_letters=self.dead_letters,
                clock=self.clock,
                router=self.router,
                transport=self.transport,
                notifiers=self.notifiers,
                series=self.series,
            )
            self._partitions[partition] = delivery
        return delivery

    def observe_window(self, summary: WindowSummary, window_seconds: float) -> None:
        """Keep a closed window's totals for the sparklines of the team's alerts."""
        self.series.observe_window(summary, window_seconds)

    def accept(self, partition: int, alert: Alert) -> list[OutboxEntry]:
        """Write the alert's outbox entries (call while the agent handles its input)."""
        return self.partition(partition).accept(alert)

    def start(self, partitions: Iterable[int]) -> None:
        """Run a relay for each partition that has none (the partitions are recovered)."""
        for partition in sorted(set(partitions)):
            if partition in self._relays:
                continue
            delivery = self.partition(partition)
            stop = asyncio.Event()
            task = asyncio.ensure_future(self._run(partition, delivery, stop))
            self._relays[partition] = (task, stop)
            pending = len(delivery.relay.outbox.pending())
            log.info("delivery started for partition %d (%d pending)", partition, pending)

    async def _run(self, partition: int, delivery: AlertDelivery, stop: asyncio.Event) -> None:
        prune = asyncio.ensure_future(self._prune(delivery, stop))
        try:
            await delivery.relay.run(stop, delivery.wake)
        except Exception:
            log.exception("delivery relay of partition %d stopped", partition)
        finally:
            prune.cancel()

    async def _prune(self, delivery: AlertDelivery, stop: asyncio.Event) -> None:
        while not stop.is_set():
            delivery.relay.outbox.prune(self.clock.now(), DONE_MARKER_HORIZON_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PRUNE_INTERVAL_SECONDS)

    async def revoke(self, partitions: Iterable[int]) -> None:
        """Stop delivering for partitions this worker no longer owns; their owner takes over.

        Waits for the partitions' relays to finish the pass they are in and flushes what they
        wrote. Faust rebuilds a memory-store table from its changelog when a partition comes
        back, so a write still in the producer then would be overwritten by the older value
        (and the next owner would not see it either).
        """
        stopping = []
        for partition in partitions:
            self._partitions.pop(partition, None)
            relay = self._relays.pop(partition, None)
            if relay is not None:
                relay[1].set()
                stopping.append(relay[0])
                log.info("delivery stopped for partition %d", partition)
        if stopping:
            _, late = await asyncio.wait(stopping, timeout=RELAY_STOP_TIMEOUT_SECONDS)
            for task in late:
                task.cancel()
        await self.barrier()

    async def close(self) -> None:
        """Stop every relay and close network resources."""
        relays = list(self._relays.values())
        self._relays.clear()
        for _, stop in relays:
            stop.set()
        tasks = [task for task, _ in relays]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=RELAY_STOP_TIMEOUT_SECONDS)
            for task in late:
                task.cancel()
        await self.transport.close()
