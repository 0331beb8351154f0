"""Checkpoint bytes per consumed event: what the worker writes to its changelog, in-process.

The worker checkpoints each partition about once a second: every team that received an event
since the last checkpoint writes its head, and a team one of whose windows closed also writes its
closed part (``stream/runtime.py``). This replays the benchmark organisation through the core,
checkpointing each partition every ``rate / partitions`` events as a worker consuming ``rate``
events per second would, and counts the bytes written per event: as written now (head + closed
part when changed) and as one whole state per changed team (``TeamState.to_bytes``).

``--live`` spreads the events over ``events / rate`` seconds of event time, as live traffic at
that rate has; without it they span 900 s like the throughput topic (a backlog replayed faster
than real time, where windows close every few seconds of wall time).

Run: ``PYTHONPATH=. python -m bench.state_volume --rate 1000 --events 300000 --live``
"""

from __future__ import annotations

import argparse

import msgpack

from bench import generate
from tokenradar.core.detection import default_detector_factory
from tokenradar.core.engine import CoreConfig
from tokenradar.core.router import Core

PARTITIONS = 6


def measure(rate: float, events: int, live: bool, teams: int, users: int) -> dict[str, float]:
    org = generate.organisation(teams, users, PARTITIONS, seed=1)
    span = events / rate if live else 900.0
    messages = generate.object_form(org, generate.events(org, events, span), PARTITIONS).messages
    order: list[tuple[int, int, bytes]] = []
    cursors = [0] * PARTITIONS
    while any(cursors[p] < len(messages[p]) for p in range(PARTITIONS)):
        for p in range(PARTITIONS):
            for offset in range(cursors[p], min(cursors[p] + 50, len(messages[p]))):
                order.append((p, offset, messages[p][offset][1]))
            cursors[p] += 50
    core = Core(CoreConfig(), default_detector_factory(), PARTITIONS)
    pack = msgpack.Packer(use_bin_type=True).pack
    per_checkpoint = max(1, int(rate / PARTITIONS))
    since = [0] * PARTITIONS
    totals = {"heads": 0, "closed_parts": 0, "written_bytes": 0, "whole_state_bytes": 0}
    for partition, offset, raw in order:
        core.handle(partition, offset, raw)
        since[partition] += 1
        if since[partition] < per_checkpoint:
            continue
        since[partition] = 0
        for state in core.processors[partition].dirty_teams():
            closed = state.closed_part_if_changed()
            totals["heads"] += 1
            totals["written_bytes"] += len(pack(state.head()))
            if closed is not None:
                totals["closed_parts"] += 1
                totals["written_bytes"] += len(closed)
            totals["whole_state_bytes"] += len(state.to_bytes())
    count = len(order)
    return {f"{name}_per_event": round(value / count, 3) for name, value in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="consumed events/s")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--teams", type=int, default=5_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--live", action="store_true", help="event time advances at --rate")
    args = parser.parse_args()
    print(measure(args.rate, args.events, args.live, args.teams, args.users))


if __name__ == "__main__":
    main()
