"""Where simulated events go: a JSONL file, or Kafka in (sped-up) real time."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from tokenradar.events import parse_event_time
from tokenradar.simulator.generator import Simulation
from tokenradar.simulator.organisation import Incident

log = logging.getLogger(__name__)


def labels_document(simulation: Simulation) -> dict[str, Any]:
    """The ground truth of a stream, as written next to a JSONL file."""
    config = simulation.config
    return {
        "seed": config.seed,
        "start": config.start.isoformat(),
        "duration_seconds": config.duration_seconds,
        "variation": dataclasses.asdict(config.variation),
        "teams": {
            team.name: {"users": len(team.users), "utc_offset_hours": team.utc_offset_hours}
            for team in simulation.organisation.teams
        },
        "incidents": [dataclasses.asdict(incident) for incident in simulation.incidents],
    }


def load_labels(path: Path) -> list[Incident]:
    """Incidents from a labels file written by :func:`write_jsonl`."""
    document = orjson.loads(path.read_bytes())
    return [Incident(**row) for row in document["incidents"]]


def labels_path(events_path: Path) -> Path:
    """Where the labels of an events file live."""
    return events_path.with_name(events_path.name + ".labels.json")


def write_jsonl(
    simulation: Simulation, path: Path, on_event: Callable[[], None] | None = None
) -> int:
    """Write the stream to ``path`` (one event per line) and its labels beside it."""
    count = 0
    with path.open("wb") as handle:
        buffer: list[bytes] = []
        for event in simulation.events():
            buffer.append(orjson.dumps(event))
            count += 1
            if len(buffer) >= 10_000:
                handle.write(b"\n".join(buffer) + b"\n")
                buffer.clear()
            if on_event is not None:
                on_event()
        if buffer:
            handle.write(b"\n".join(buffer) + b"\n")
    labels_path(path).write_bytes(
        orjson.dumps(labels_document(simulation), option=orjson.OPT_INDENT_2)
    )
    return count


def paced(
    events: Iterable[dict[str, Any]],
    live_from: float,
    speedup: float,
    rate: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Events before ``live_from`` (event time) at once, later ones as event time passes at
    ``speedup`` times the wall clock; at most ``rate`` events per second if given."""
    wall_start: float | None = None
    rate_start = clock()
    for sent, event in enumerate(events):
        ts = parse_event_time(event["ts"])
        if ts >= live_from:
            if wall_start is None:
                wall_start = clock()
            due = wall_start + (ts - live_from) / speedup
            delay = due - clock()
            if delay > 0:
                sleep(delay)
        if rate is not None:
            due = rate_start + sent / rate
            delay = due - clock()
            if delay > 0:
                sleep(delay)
        yield event


class KafkaSink:
    """Sends events keyed by team with kafka-python; flushes and closes on exit."""

    def __init__(self, bootstrap: list[str], topic: str) -> None:
        from kafka import KafkaProducer

        self.topic = topic
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=20,
            batch_size=256 * 1024,
            retries=10,
            key_serializer=str.encode,
            value_serializer=orjson.dumps,
        )
        self.sent = 0

    def send(self, event: dict[str, Any]) -> None:
        self.producer.send(self.topic, key=event["team"], value=event)
        self.sent += 1

    def close(self) -> None:
        self.producer.flush()
        self.producer.close()

    def __enter__(self) -> KafkaSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
