"""The offline driver: a file of events through the same core as the live worker, no broker.

Each line of the input is one message, as a producer would have sent it (an event object or an
array of events). Events go to the partition Kafka's default partitioner gives their team, with
the same number of partitions as the live topic, so ``replay`` and the worker see each
partition's events in the same order and raise the same alerts.

The organisation's budget (:mod:`tokenradar.core.org_budget`) sees the team snapshots after
every message here, after every checkpoint in the worker: both announce the same crossings (same
``alert_id``), each with the figures as of the snapshot that crossed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson

from alerts.model import Alert
from detectors.base import TeamDetectorFactory
from tokenradar.core.engine import ClosedWindow, CoreConfig, PartitionCounters
from tokenradar.core.org_budget import OrgBudget
from tokenradar.core.router import Core, MessageResult
from tokenradar.events import DEFAULT_LIMITS, Limits, ParsedEvent, Rejection, parse_message

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ReplayResult:
    """Everything a replay produced, in a stable order."""

    alerts: list[Alert] = field(default_factory=list)
    windows: list[ClosedWindow] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    messages: int = 0
    counters: PartitionCounters = field(default_factory=PartitionCounters)


def alert_sort_key(alert: Alert) -> tuple[object, ...]:
    """Order alerts by event time of detection, then window, then key: the same in any driver."""
    return (alert.detected_at, alert.window_end, alert.dedup_key, alert.status, alert.alert_id)


def replay_messages(
    messages: Iterable[bytes],
    config: CoreConfig,
    factory: TeamDetectorFactory,
    partitions: int,
    *,
    limits: Limits = DEFAULT_LIMITS,
    flush: bool = False,
    on_message: Callable[[int], None] | None = None,
    on_alert: Callable[[Alert], None] | None = None,
) -> ReplayResult:
    """Run raw messages (one event or a JSON array of events each) through the core.

    ``flush`` closes the windows still open at the end, which the live worker would only close
    once later events arrive; leave it off to get exactly what the worker raises.
    """
    core = Core(config, factory, partitions, limits=limits)
    org = OrgBudget() if config.budgets.org_monthly_budget_usd is not None else None
    result = ReplayResult()
    next_offset = [0] * partitions
    for raw in messages:
        result.messages += 1
        if on_message is not None:
            on_message(len(raw))
        events, rejections = parse_message(raw, limits, core.prices)
        result.rejections.extend(rejections)
        for partition, group in _by_partition(core, events):
            message_result = MessageResult()
            core.apply(partition, next_offset[partition], group, message_result)
            next_offset[partition] += 1
            if org is not None:
                message_result.alerts.extend(_org_alerts(org, core, partition))
            _collect(result, message_result, on_alert)
    if flush:
        for partition in sorted(core.processors):
            processor = core.processors[partition]
            processor.flush()
            outputs = processor.drain()
            message_result = MessageResult(windows=outputs.windows, alerts=outputs.alerts)
            if org is not None:
                message_result.alerts.extend(_org_alerts(org, core, partition))
            _collect(result, message_result, on_alert)
    for processor in core.processors.values():
        counters = processor.counters
        for name in counters.__slots__:
            setattr(result.counters, name, getattr(result.counters, name) + getattr(counters, name))
    result.counters.rejected = len(result.rejections)
    result.alerts.sort(key=alert_sort_key)
    result.windows.sort(key=lambda w: (w.summary.end, w.summary.team))
    return result


def _org_alerts(org: OrgBudget, core: Core, partition: int) -> list[Alert]:
    processor = core.processors.get(partition)
    if processor is None:
        return []
    budgets = core.config.budgets
    return [a for doc in processor.changed_budgets() for a in org.observe(doc, budgets).alerts]


def _by_partition(core: Core, events: list[ParsedEvent]) -> Iterator[tuple[int, list[ParsedEvent]]]:
    if not events:
        return
    first = core.partition_of(events[0].team)
    if all(core.partition_of(event.team) == first for event in events):
        yield first, events
        return
    groups: dict[int, list[ParsedEvent]] = {}
    for event in events:
        groups.setdefault(core.partition_of(event.team), []).append(event)
    yield from groups.items()


def _collect(
    result: ReplayResult, message_result: MessageResult, on_alert: Callable[[Alert], None] | None
) -> None:
    result.windows.extend(message_result.windows)
    result.rejections.extend(message_result.rejections)
    for alert in message_result.alerts:
        result.alerts.append(alert)
        if on_alert is not None:
            on_alert(alert)


def read_messages(path: Path) -> Iterator[bytes]:
    """Non-empty lines of a JSONL file, as raw messages."""
    with path.open("rb") as handle:
        for line in handle:
            line = line.strip()
            if line:
                yield line


def write_jsonl(handle: IO[bytes], records: Iterable[dict[str, object]]) -> int:
    """Write records as JSON lines; returns how many."""
    count = 0
    for record in records:
        handle.write(orjson.dumps(record))
        handle.write(b"\n")
        count += 1
    return count
