"""The same messages through the core in-process, without Kafka or Faust, step by step.

This splits the worker's cost: how fast the parser alone goes, the parser plus the core (windows,
detector, alert lifecycle), and that plus the checkpoint serialisation the worker does every
second (every changed team's head, and its closed part when one of its windows closed, packed
with msgpack as the worker writes them).
"""

from __future__ import annotations

import logging
import time

import msgpack

from tokenradar.core.detection import default_detector_factory
from tokenradar.core.engine import CoreConfig
from tokenradar.core.router import Core
from tokenradar.events import parse_message

log = logging.getLogger(__name__)

pack_head = msgpack.Packer(use_bin_type=True).pack


def measure(
    messages: list[list[tuple[bytes, bytes]]], checkpoint_seconds: float = 1.0
) -> dict[str, float]:
    """Events per second of each step over ``messages`` (partition by partition, interleaved)."""
    # Interleave partitions the way a consumer would see them: round-robin chunks.
    chunk = 500
    order: list[tuple[int, int, bytes]] = []
    cursors = [0] * len(messages)
    remaining = True
    while remaining:
        remaining = False
        for partition, records in enumerate(messages):
            start = cursors[partition]
            if start < len(records):
                remaining = True
                for offset in range(start, min(start + chunk, len(records))):
                    order.append((partition, offset, records[offset][1]))
                cursors[partition] = start + chunk
    results: dict[str, float] = {}

    started = time.perf_counter()
    events = 0
    for _, _, raw in order:
        events += len(parse_message(raw)[0])
    results["parse_events_per_second"] = events / (time.perf_counter() - started)

    for with_checkpoint in (False, True):
        core = Core(CoreConfig(), default_detector_factory(), len(messages))
        started = last = time.perf_counter()
        packed = 0
        for partition, offset, raw in order:
            core.handle(partition, offset, raw)
            if with_checkpoint:
                now = time.perf_counter()
                if now - last >= checkpoint_seconds:
                    for processor in core.processors.values():
                        # What the worker writes: each changed head, and the closed parts of
                        # the teams a window of which closed (stream/runtime.py).
                        for state in processor.dirty_teams():
                            closed = state.closed_part_if_changed()
                            packed += len(pack_head(state.head()))
                            packed += len(closed) if closed is not None else 0
                    last = now
        seconds = time.perf_counter() - started
        key = "core_with_checkpoint" if with_checkpoint else "core"
        results[f"{key}_events_per_second"] = events / seconds
        if with_checkpoint:
            results["checkpoint_mib_per_second"] = packed / seconds / 2**20
    log.info("core only: %s", results)
    return {k: round(v, 1) for k, v in results.items()}
