"""Messages in, per-partition processing, outputs out: what both drivers share.

:class:`Core` parses a raw message, sends each event to the processor of the partition its team
belongs to, and collects what the processors produced. The Faust worker calls it per consumed
message; ``replay`` calls it per line of a file, assigning partitions the way Kafka's default
partitioner would have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from alerts.lifecycle import LifecyclePolicy
from alerts.model import Alert
from detectors.base import TeamDetectorFactory
from tokenradar.core.budgets import BudgetConfig
from tokenradar.core.engine import ClosedWindow, CoreConfig, PartitionProcessor
from tokenradar.core.partitioning import partition_for_key
from tokenradar.events import DEFAULT_LIMITS, Limits, ParsedEvent, Rejection, parse_message
from tokenradar.pricing import DEFAULT_PRICES, ModelPrice
from tokenradar.settings import Settings


def core_config(settings: Settings) -> CoreConfig:
    """The core's event-time settings, and the budgets of the teams file, from the settings."""
    return CoreConfig(
        window_seconds=float(settings.window_seconds),
        allowed_lateness_seconds=float(settings.allowed_lateness_seconds),
        dedup_horizon_seconds=float(settings.dedup_horizon_seconds),
        max_future_skew_seconds=float(settings.max_future_skew_seconds),
        window_phase=settings.window_phase,
        budgets=BudgetConfig.load(settings.teams_file),
        lifecycle=LifecyclePolicy.from_config(settings.alerting_config()),
    )


def limits_from(settings: Settings) -> Limits:
    """The parser's limits from the service settings."""
    return Limits(
        max_message_bytes=settings.max_message_bytes,
        max_event_bytes=settings.max_event_bytes,
        max_tokens_per_event=settings.max_tokens_per_event,
        max_cost_per_event_usd=settings.max_cost_per_event_usd,
    )


def event_to_json(event: ParsedEvent) -> bytes:
    """A parsed event back in the contract's shape (cost included), e.g. to re-key it."""
    document: dict[str, Any] = {
        "ts": event.ts,
        "team": event.team,
        "user": event.user,
        "model": event.model,
        "tool": event.tool,
        "input_tokens": event.input_tokens,
        "output_tokens": event.output_tokens,
        "cached_input_tokens": event.cached_input_tokens,
        "cost_usd": event.cost_usd,
    }
    if event.event_id is not None:
        document["event_id"] = event.event_id
    return orjson.dumps(document)


@dataclass(slots=True)
class MessageResult:
    """What one message produced."""

    windows: list[ClosedWindow] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    # Events whose team belongs to another partition (the producer did not key by team).
    misrouted: list[ParsedEvent] = field(default_factory=list)
    events: int = 0


class Core:
    """Parses messages and drives one :class:`PartitionProcessor` per partition."""

    def __init__(
        self,
        config: CoreConfig,
        factory: TeamDetectorFactory,
        partitions: int,
        *,
        limits: Limits = DEFAULT_LIMITS,
        prices: Mapping[str, ModelPrice] = DEFAULT_PRICES,
        restore: Callable[[int], PartitionProcessor] | None = None,
    ) -> None:
        self.config = config
        self.factory = factory
        self.partitions = partitions
        self.limits = limits
        self.prices = prices
        self.processors: dict[int, PartitionProcessor] = {}
        # Where a partition seen for the first time gets its state (the worker: its tables).
        self.restore = restore
        self._partition_cache: dict[str, int] = {}

    def partition_of(self, team: str) -> int:
        """The partition a team's events belong to."""
        partition = self._partition_cache.get(team)
        if partition is None:
            partition = partition_for_key(team.encode(), self.partitions)
            self._partition_cache[team] = partition
        return partition

    def processor(self, partition: int) -> PartitionProcessor:
        """The processor of a partition, restored from its checkpoint on first use."""
        processor = self.processors.get(partition)
        if processor is None:
            if self.restore is not None:
                processor = self.restore(partition)
            else:
                processor = PartitionProcessor(partition, self.config, self.factory)
            self.processors[partition] = processor
        return processor

    def forget(self, partition: int) -> None:
        """Drop a partition's processor (the partition moved to another worker)."""
        self.processors.pop(partition, None)

    def handle(self, partition: int, offset: int, raw: bytes) -> MessageResult:
        """Parse and apply one message read at ``offset`` of ``partition``."""
        events, rejections = parse_message(raw, self.limits, self.prices)
        result = MessageResult(rejections=rejections)
        if events:
            self.apply(partition, offset, events, result)
        return result

    def apply(
        self,
        partition: int,
        offset: int,
        events: list[ParsedEvent],
        result: MessageResult,
    ) -> None:
        """Apply parsed events of one message read at ``offset`` of ``partition``."""
        processor = self.processor(partition)
        process = processor.process
        known_partitions = self._partition_cache
        applied = 0
        for index, event in enumerate(events):
            team_partition = known_partitions.get(event.team)
            if team_partition is None:
                team_partition = self.partition_of(event.team)
            if team_partition != partition:
                result.misrouted.append(event)
                continue
            process(event, offset, index)
            applied += 1
        result.events += applied
        if processor.outputs:
            outputs = processor.drain()
            result.windows.extend(outputs.windows)
            result.alerts.extend(outputs.alerts)
            result.rejections.extend(
                Rejection(reason, event_to_json(event)) for event, reason in outputs.rejected
            )
