"""The Faust side of the core: one consumed message in, its outputs out, checkpoints, acks.

Delivery works like this. Every message is applied to the partition's in-memory processor at
once, and what it produces (closed windows, alerts, dead letters) is handed to the producer. The
message is not acknowledged yet. Every ``checkpoint_interval_seconds`` (or
``checkpoint_every_events``) a partition is checkpointed, together with every other partition
that has unacknowledged messages (one flush barrier for all): the producer is flushed, so every
output of the processed messages is on the broker; the changed team states and the partition's
stream time are written to Faust tables (changelog topics, rocksdb locally); and only then are
the messages acknowledged, so Faust commits offsets no further than the checkpoint.

Checkpoints are due when a message arrives (:meth:`StreamRuntime.on_event`) and, for a partition
that goes quiet, from a timer (:meth:`StreamRuntime.checkpoint_quiet_partitions`, an app task):
otherwise the last messages before a pause would stay unacknowledged, their team states
unwritten and their budget snapshots unsent until more input came. Both take the runtime's
lock, so a timer's checkpoint never runs while the agent handles a message or checkpoints, and
it writes as if handling the partition's last pending message like any other checkpoint.
Revocation forgets a partition under the same lock, and the timer checkpoints nothing during a
rebalance: a checkpoint covers only partitions the worker still owns.

After a crash the worker restores each partition from its tables and Faust re-delivers the
messages after the last commit. A team skips messages at or below the offset its restored state
already includes, so nothing is counted twice. Outputs produced after the last checkpoint are
produced again, with the same ids (at-least-once on the topics; consumers dedupe by
``alert_id``).

A team's state is written in two records. Its closed part (detector, alert lifecycle, budget,
and the event ids seen until it was packed: nearly all of its bytes) changes only when one of its
windows closes and is written only then, under a new generation; its head (open windows,
position, the event ids seen since) is written at every checkpoint after an event of the team and
names the closed part it goes with. A team that sends an event a second but closes a window a
minute writes its closed part once a minute instead of sixty times.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgpack
import orjson
from faust import streams as faust_streams

from alerts.model import Alert
from tokenradar.core.engine import ClosedWindow, PartitionProcessor, TeamState
from tokenradar.core.router import Core, MessageResult, event_to_json
from tokenradar.settings import Settings

from . import flushing, metrics, state_chunks
from .table_writes import ChangelogWrites, TableWrites

log = logging.getLogger(__name__)

# The entry of a team's head record that names its closed part (see StreamRuntime._write_team).
CLOSED_PART = "closed_part"
# Generations of closed parts start with this, so they never equal a large head's generation.
CLOSED_GENERATION_PREFIX = "c"
_PACK_HEAD = msgpack.Packer(use_bin_type=True).pack


def team_key(partition: int, team: str) -> bytes:
    """Table key of a team's state: the partition first, so a partition's teams are a prefix."""
    return f"{partition}/{team}".encode()


def meta_key(partition: int) -> bytes:
    """Table key of a partition's own state."""
    return f"{partition}".encode()


async def publish_alert(alerts_topic: Any, alert: Alert) -> None:
    """Send a lifecycle change to the alerts topic keyed by its ``dedup_key``; count and log it."""
    await alerts_topic.send(key=alert.dedup_key.encode(), value=alert.to_json())
    metrics.ALERTS_RAISED.labels(alert.status, alert.severity).inc()
    log.warning(
        "alert %s %s [%s] %s",
        alert.status,
        alert.dedup_key,
        alert.severity,
        alert.summary,
        extra={"alert_id": alert.alert_id, "team": alert.team},
    )


class StreamRuntime:
    """Glue between Faust (events, topics, tables) and :class:`Core`."""

    def __init__(
        self,
        settings: Settings,
        core: Core,
        *,
        team_table: Any,
        meta_table: Any,
        alerts_topic: Any,
        windows_topic: Any,
        dead_letter_topic: Any,
        budgets_topic: Any,
        usage_topic: Any,
        org_topic: Any = None,
        org_partition: int = 0,
        producer: Callable[[], Any],
        highwater: Callable[[Any], int | None],
        on_alert: Callable[[Alert], None] | None = None,
        on_window: Callable[[ClosedWindow], None] | None = None,
        team_writes: TableWrites | None = None,
        rebalancing: Callable[[], bool] = lambda: False,
    ) -> None:
        self.settings = settings
        self.core = core
        self.team_table = team_table
        # Where checkpoints write team states: the table itself, or ChangelogWrites over it,
        # which hands a checkpoint's changelog records to the producer in one go.
        self._team_writes: TableWrites = team_writes if team_writes is not None else team_table
        self.meta_table = meta_table
        self.alerts_topic = alerts_topic
        self.windows_topic = windows_topic
        self.dead_letter_topic = dead_letter_topic
        self.budgets_topic = budgets_topic
        self.usage_topic = usage_topic
        # Where snapshots also go when the organisation has a budget (stream/org_budget.py).
        self.org_topic = org_topic
        self.org_partition = org_partition
        self._producer = producer
        self._highwater = highwater
        # Whether Faust is rebalancing (``app.rebalancing``): revoked partitions are not
        # forgotten yet, so the timer leaves every partition alone until it is over.
        self._rebalancing = rebalancing
        self._on_alert = on_alert
        self._on_window = on_window
        self._pending: dict[int, list[Any]] = defaultdict(list)
        self._since_checkpoint: dict[int, int] = defaultdict(int)
        self._last_checkpoint: dict[int, float] = {}
        # Checkpoints completed per partition (its position and every team state written).
        self._checkpoints: dict[int, int] = defaultdict(int)
        self._last_offset: dict[int, int] = {}
        self._reported: dict[int, tuple[int, int]] = {}
        # Keys of the parts of team states too large for one record (see state_chunks).
        self._state_parts: dict[bytes, list[bytes]] = {}
        # Per partition: when its oldest unacknowledged message arrived, and the changed teams
        # the last checkpoint left for the next (checkpoint_round_bytes).
        self._pending_since: dict[int, float] = {}
        self._unwritten: dict[int, deque[TeamState]] = {}
        # The header of each team's closed part as last written (it names the part keys).
        self._closed_parts: dict[bytes, dict[str, Any]] = {}
        self.last_message_at: float | None = None
        # Held while the agent handles a message (its checkpoint included), while the timer
        # checkpoints quiet partitions, and while revoked partitions are forgotten.
        self.lock = asyncio.Lock()
        # The agent's manual-ack stream, for the timer's acks (the last one that handed a message).
        self._stream: Any = None
        core.restore = self.restore_partition

    # -- restore ------------------------------------------------------------------------------

    def restore_partition(self, partition: int) -> PartitionProcessor:
        """Rebuild a partition's processor from the tables (empty on a first start)."""
        prefix = f"{partition}/".encode()
        rows = {key: value for key, value in self.team_table.items() if key.startswith(prefix)}
        config, factory = self.core.config, self.core.factory
        states: list[bytes | TeamState] = []
        for key, value, parts in state_chunks.assemble(rows.items()):
            if parts:
                self._state_parts[key] = parts
            plain = msgpack.unpackb(value, raw=False, strict_map_key=False)
            header = plain.pop(CLOSED_PART, None)
            if header is None:
                # A whole state, as written before team states were split.
                states.append(value)
                continue
            closed = state_chunks.join(key, header, rows)
            self._closed_parts[key] = header
            states.append(TeamState.from_head_and_closed(plain, closed, factory, config))
        meta = self.meta_table.get(meta_key(partition))
        processor = PartitionProcessor.restore(partition, config, factory, meta, states)
        log.info(
            "partition %d restored: %d teams, watermark %s",
            partition,
            len(processor.teams),
            processor.watermark,
        )
        return processor

    async def revoke_partitions(self, partitions: Iterable[int]) -> None:
        """Forget revoked partitions once no message is being handled and no checkpoint runs."""
        async with self.lock:
            self.forget_partitions(partitions)

    def forget_partitions(self, partitions: Iterable[int]) -> None:
        """Drop state of partitions this worker no longer owns; their owner re-reads them.

        Not while a checkpoint runs (:meth:`revoke_partitions` waits for it).
        """
        for partition in partitions:
            self.core.forget(partition)
            self._pending.pop(partition, None)
            self._since_checkpoint.pop(partition, None)
            self._last_checkpoint.pop(partition, None)
            self._checkpoints.pop(partition, None)
            self._pending_since.pop(partition, None)
            self._unwritten.pop(partition, None)
            self._reported.pop(partition, None)
            prefix = f"{partition}/".encode()
            for key in [key for key in self._state_parts if key.startswith(prefix)]:
                del self._state_parts[key]
            for key in [key for key in self._closed_parts if key.startswith(prefix)]:
                del self._closed_parts[key]
            self._last_offset.pop(partition, None)

    # -- the per-message path -----------------------------------------------------------------

    async def on_event(self, stream: Any, event: Any) -> None:
        """Handle one consumed message (its ack waits for the next checkpoint)."""
        async with self.lock:
            self._stream = stream
            await self._handle(stream, event)

    async def _handle(self, stream: Any, event: Any) -> None:
        message = event.message
        partition, offset = message.partition, message.offset
        raw = event.value
        if not isinstance(raw, bytes | bytearray):
            raw = bytes(raw or b"")
        metrics.MESSAGES_IN.inc()
        self.last_message_at = time.time()
        previous = self._last_offset.get(partition)
        if previous is not None and offset > previous + 1:
            # Legitimate after transaction markers or compaction; anything else means messages
            # were lost between the consumer and this agent (see docs/kafka.md).
            log.warning(
                "%s[%d]: offsets %d..%d were not delivered to the agent",
                message.topic,
                partition,
                previous + 1,
                offset - 1,
            )
        result = self.core.handle(partition, offset, bytes(raw))
        await self._publish(result, message)
        now = time.monotonic()
        self._pending[partition].append(event)
        self._pending_since.setdefault(partition, now)
        self._last_offset[partition] = offset
        self._since_checkpoint[partition] += 1
        last = self._last_checkpoint.setdefault(partition, now)
        if (
            self._since_checkpoint[partition] >= self.settings.checkpoint_every_events
            or now - last >= self.settings.checkpoint_interval_seconds
        ):
            # Every partition with unacknowledged messages goes along: one flush barrier for all
            # of them instead of one per partition, so the agent waits for the broker once.
            await self.checkpoint(
                stream, sorted(p for p, events in self._pending.items() if events)
            )

    async def _publish(self, result: MessageResult, message: Any) -> None:
        if result.events:
            metrics.EVENTS_IN.inc(result.events)
        if self._on_window is not None:
            # Before the alerts: an alert's notification shows the series up to its window.
            for window in result.windows:
                self._on_window(window)
        # Alerts before window records: when every team's window closes at once, an alert
        # waits for no one else's window record.
        for alert in result.alerts:
            await publish_alert(self.alerts_topic, alert)
            if self._on_alert is not None:
                self._on_alert(alert)
        for window in result.windows:
            await self._send_window(window)
        for rejection in result.rejections:
            metrics.EVENTS_INVALID.inc()
            log.info(
                "dead-lettered input from %s[%d]@%d: %s",
                message.topic,
                message.partition,
                message.offset,
                rejection.reason,
            )
            await self.dead_letter_topic.send(
                key=message.key,
                value=rejection.raw,
                headers=[
                    ("reason", rejection.reason.encode()),
                    ("source", f"{message.topic}:{message.partition}:{message.offset}".encode()),
                ],
            )
        for event in result.misrouted:
            metrics.EVENTS_REKEYED.inc()
            await self.usage_topic.send(key=event.team.encode(), value=event_to_json(event))

    async def _send_window(self, window: ClosedWindow) -> None:
        metrics.WINDOWS_CLOSED.inc()
        await self._produce(
            self.windows_topic, window.summary.team.encode(), orjson.dumps(window.to_record())
        )

    async def _produce(
        self, topic: Any, key: bytes, value: bytes, partition: int | None = None
    ) -> None:
        """Hand a record straight to the Kafka client through Faust's producer.

        ``Topic.send`` wraps every record in a ``FutureMessage`` with sensors and a done-callback
        (stream/table_writes.py); windows and budget snapshots, one per closed window and per
        changed team, need none of it. Partitioning by key is the client's, as with
        ``Topic.send``; the checkpoint's flush waits for these records like for any other.
        """
        await self._producer().send(topic.get_topic_name(), key, value, partition, None, None)

    # -- checkpoints --------------------------------------------------------------------------

    def _quiet_due_in(self, now: float) -> float | None:
        """Seconds until a partition with unacknowledged messages is due a checkpoint (None
        when there is no such partition)."""
        interval = self.settings.checkpoint_interval_seconds
        due = [self._last_checkpoint.get(p, now) + interval - now for p in self._pending_since]
        return min(due) if due else None

    async def checkpoint_quiet_partitions(self) -> None:
        """Checkpoint partitions that went quiet, for ever (the worker runs it as a task).

        A partition whose unacknowledged messages have waited ``checkpoint_interval_seconds``
        since its last checkpoint is checkpointed, with every other partition that has any,
        as the next message would have done: so within about an interval of the last message.
        """
        interval = self.settings.checkpoint_interval_seconds
        while True:
            due_in = self._quiet_due_in(time.monotonic())
            # At most ten looks an interval, however overdue a partition is (a rebalance).
            await asyncio.sleep(max(interval / 10, due_in if due_in is not None else interval))
            await self.checkpoint_quiet()

    async def checkpoint_quiet(self) -> bool:
        """Checkpoint now if a partition is due, under the lock; whether it did."""
        async with self.lock:
            due_in = self._quiet_due_in(time.monotonic())
            if due_in is None or due_in > 0 or self._stream is None or self._rebalancing():
                return False
            await self.checkpoint(
                self._stream, sorted(p for p, events in self._pending.items() if events)
            )
            return True

    async def checkpoint(self, stream: Any, partitions: list[int]) -> None:
        """Make these partitions' outputs durable, write their state, then ack their messages.

        Each partition needs an unacknowledged message: Faust writes a table change to the
        changelog partition (and local store) of the event being processed, so each
        partition's writes are made as if handling its last pending message.
        """
        started = time.perf_counter()
        processors = [(p, proc) for p in partitions if (proc := self.core.processors.get(p))]
        for _, processor in processors:
            # Snapshots are a view derived from the team states: at-least-once is enough, and
            # sending them once per checkpoint rather than per window keeps the topic small.
            for document in processor.changed_budgets():
                key, value = str(document["team"]).encode(), orjson.dumps(document)
                await self._produce(self.budgets_topic, key, value)
                if self.org_topic is not None:
                    await self._produce(self.org_topic, key, value, self.org_partition)
        await flushing.flush(self._producer())
        now = time.monotonic()
        budget = self.settings.checkpoint_round_bytes
        written = 0
        complete: list[tuple[int, PartitionProcessor]] = []
        for partition, processor in processors:
            # Teams left over by the last checkpoint first, so none waits behind busier ones.
            queue = self._unwritten.pop(partition, deque())
            queued = {state.team for state in queue}
            queue.extend(team for team in processor.dirty_teams() if team.team not in queued)
            overdue = now - self._pending_since.get(partition, now) >= (
                self.settings.checkpoint_max_delay_seconds
            )
            with self._writing_for(partition):
                while queue and (written < budget or overdue):
                    state = queue.popleft()
                    written += self._write_team(team_key(partition, state.team), state)
            if queue:
                self._unwritten[partition] = queue
            else:
                complete.append((partition, processor))
        bulk = self._team_writes if isinstance(self._team_writes, ChangelogWrites) else None
        if bulk is not None:
            await bulk.send()
        if written:
            # Team states must be on the broker before the partition's stream time that goes
            # with them: a crash may keep any subset of unflushed writes, and a restored
            # watermark ahead of a team's state would misjudge its re-delivered events as late.
            # Teams ahead of the watermark are harmless: they skip what they already hold.
            await flushing.flush(self._producer())
            if bulk is not None:
                bulk.persist()
        for partition, processor in complete:
            with self._writing_for(partition):
                self.meta_table[meta_key(partition)] = processor.meta_bytes()
            self._checkpoints[partition] += 1
            metrics.WATERMARK.labels(str(partition)).set(max(processor.watermark, 0.0))
            self._report_counts(partition, processor)
        for partition in partitions:
            self._since_checkpoint[partition] = 0
            self._last_checkpoint[partition] = now
        for partition, _ in complete:
            # Every change these messages made is written: they may be acknowledged.
            pending, self._pending[partition] = self._pending[partition], []
            self._pending_since.pop(partition, None)
            for event in pending:
                await stream.ack(event)
            highwater = self._highwater(partition)
            if highwater is not None and partition in self._last_offset:
                lag = max(0, highwater - self._last_offset[partition] - 1)
                metrics.CONSUMER_LAG.labels(str(partition)).set(lag)
        metrics.CHECKPOINT_SECONDS.observe(time.perf_counter() - started)

    @contextlib.contextmanager
    def _writing_for(self, partition: int) -> Iterator[None]:
        """Table writes inside go to ``partition``'s changelog partition and local store."""
        token = faust_streams._current_event.set(weakref.ref(self._pending[partition][-1]))
        try:
            yield
        finally:
            faust_streams._current_event.reset(token)

    def _write_team(self, key: bytes, state: TeamState) -> int:
        """Write a team's state: its closed part if it changed, then its head naming that part.

        The closed part (detector, lifecycle, budget, the event ids sealed with it: nearly all of
        the bytes) changes only when one of the team's windows closes, while the head (open
        windows, position, the ids seen since) changes with every event. Each closed part is
        written under a new generation and never overwritten, so a head always names a complete
        closed part; the parts the previous head named are deleted after the new head, like the
        parts of a large state (state_chunks).
        """
        closed = state.closed_part_if_changed()
        if closed is None and key not in self._closed_parts:
            closed = state.closed_part()
        stale: list[bytes] = []
        if closed is not None:
            header, writes = state_chunks.parts_of(
                key, closed, CLOSED_GENERATION_PREFIX + state_chunks.new_generation()
            )
            for write_key, value in writes:
                self._team_writes[write_key] = value
            previous = self._closed_parts.get(key)
            if previous is not None:
                stale = state_chunks.part_keys(key, previous)
            self._closed_parts[key] = header
        head = state.head()
        head[CLOSED_PART] = self._closed_parts[key]
        packed_head = _PACK_HEAD(head)
        self._write_state(key, packed_head)
        for stale_key in stale:
            del self._team_writes[stale_key]
        return len(packed_head) + (len(closed) if closed is not None else 0)

    def _write_state(self, key: bytes, data: bytes) -> None:
        """Write one team's state: one record, or parts and then their header (state_chunks)."""
        writes = state_chunks.split(key, data)
        for write_key, value in writes:
            self._team_writes[write_key] = value
        # The header that named the old parts is replaced: they are garbage now.
        for stale in self._state_parts.pop(key, ()):
            del self._team_writes[stale]
        if len(writes) > 1:
            self._state_parts[key] = [write_key for write_key, _ in writes[:-1]]

    def _report_counts(self, partition: int, processor: PartitionProcessor) -> None:
        late, duplicates = processor.counters.late, processor.counters.duplicates
        reported_late, reported_duplicates = self._reported.get(partition, (0, 0))
        metrics.EVENTS_LATE.inc(max(0, late - reported_late))
        metrics.EVENTS_DUPLICATE.inc(max(0, duplicates - reported_duplicates))
        self._reported[partition] = (late, duplicates)

    def budgets(self) -> list[dict[str, Any]]:
        """What ``/budgets`` reports: the budget snapshot of every team this worker owns."""
        documents = [
            processor.budget_snapshot(team)
            for processor in self.core.processors.values()
            for team in processor.teams
        ]
        return sorted(documents, key=lambda d: str(d["team"]))

    def health(self) -> dict[str, Any]:
        """What ``/health`` reports."""
        return {
            "status": "ok",
            "partitions": {
                str(p): {
                    "teams": len(proc.teams),
                    "watermark": proc.watermark if proc.watermark > 0 else None,
                    "events": proc.counters.events,
                    "windows_closed": proc.counters.windows_closed,
                    "alerts": proc.counters.alerts,
                    "checkpoints": self._checkpoints.get(p, 0),
                }
                for p, proc in sorted(self.core.processors.items())
            },
            "last_message_at": self.last_message_at,
        }
