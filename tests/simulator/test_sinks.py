"""The JSONL sink and its labels sidecar, the Kafka sink (with a stand-in producer), pacing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tokenradar.simulator import Incident, IncidentSpec, SimulationConfig, generate
from tokenradar.simulator.sinks import (
    KafkaSink,
    Pacing,
    event_time_of,
    labels_path_for,
    paced,
    read_jsonl,
    write_jsonl,
)


def _small_simulation() -> Any:
    return generate(
        SimulationConfig(
            seed=9,
            teams=3,
            duration=timedelta(hours=4),
            incidents=(IncidentSpec("team_surge", at=timedelta(hours=2), magnitude=4.0),),
        )
    )


def test_jsonl_round_trip_with_labels(tmp_path: Path) -> None:
    simulation = _small_simulation()
    path = tmp_path / "events.jsonl"
    summary = write_jsonl(simulation, path)
    events = list(read_jsonl(path))
    assert events == list(simulation.events())
    assert summary.events == len(events) > 0
    assert not summary.interrupted
    labels_path = labels_path_for(path)
    assert labels_path.name == "events.jsonl.labels.json"
    document = orjson.loads(labels_path.read_bytes())
    incidents = tuple(Incident.from_dict(item) for item in document["incidents"])
    assert incidents == simulation.incidents
    assert document["config"]["seed"] == 9
    assert document["incidents"][0]["start_time"].endswith("Z")
    assert len(document["organisation"]["teams"]) == 3


class _FakeFuture:
    def __init__(self, error: BaseException | None) -> None:
        self._error = error

    def add_errback(self, callback: Any) -> _FakeFuture:
        if self._error is not None:
            callback(self._error)
        return self


class _FakeProducer:
    instances: list[_FakeProducer] = []

    def __init__(self, **configs: Any) -> None:
        self.configs = configs
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.flushed = False
        self.closed = False
        self.fail_every: int | None = None
        _FakeProducer.instances.append(self)

    def send(self, topic: str, value: bytes, key: bytes) -> _FakeFuture:
        assert isinstance(value, bytes) and isinstance(key, bytes)
        self.sent.append((topic, key, value))
        failing = self.fail_every is not None and len(self.sent) % self.fail_every == 0
        return _FakeFuture(RuntimeError("broker said no") if failing else None)

    def flush(self, timeout: float | None = None) -> None:
        self.flushed = True

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


def test_kafka_sink_keys_by_team_and_closes_cleanly() -> None:
    simulation = _small_simulation()
    sink = KafkaSink("broker-a:9092,broker-b:9092", topic="usage", producer_factory=_FakeProducer)
    producer = _FakeProducer.instances[-1]
    assert producer.configs["acks"] == "all"
    assert producer.configs["bootstrap_servers"] == ["broker-a:9092", "broker-b:9092"]
    assert producer.configs["compression_type"] is None
    summary = sink.send_all(simulation.events())
    assert producer.flushed and producer.closed
    assert summary.events == len(producer.sent) > 0 and summary.failed == 0
    for topic, key, value in producer.sent[:200]:
        event = orjson.loads(value)
        assert topic == "usage"
        assert key == event["team"].encode("utf-8")


def test_kafka_sink_counts_failed_sends() -> None:
    sink = KafkaSink("localhost:9092", producer_factory=_FakeProducer)
    _FakeProducer.instances[-1].fail_every = 10
    summary = sink.send_all(_small_simulation().events())
    assert summary.failed == summary.events // 10


def test_kafka_sink_stops_cleanly_on_interrupt() -> None:
    sink = KafkaSink("localhost:9092", compression_type="gzip", producer_factory=_FakeProducer)
    producer = _FakeProducer.instances[-1]
    assert producer.configs["compression_type"] == "gzip"

    def interrupted_stream() -> Any:
        yield from [{"team": "a", "ts": 0}] * 5
        raise KeyboardInterrupt

    summary = sink.send_all(interrupted_stream())
    assert summary.interrupted and summary.events == 5
    assert producer.flushed and producer.closed


def test_kafka_sink_rejects_other_compression() -> None:
    with pytest.raises(ValueError, match="gzip"):
        KafkaSink("localhost:9092", compression_type="lz4", producer_factory=_FakeProducer)


class _FakeClock:
    def __init__(self) -> None:
        self.time = 1000.0

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += seconds


def test_pacing_sends_history_at_once_then_follows_the_clock_times_speedup() -> None:
    clock = _FakeClock()
    events = [{"ts": float(second)} for second in range(0, 100, 10)]
    sent_at: list[tuple[float, float]] = []
    pacing = Pacing(live_from=50.0, speedup=10.0)
    for event in paced(events, event_time_of, pacing, clock=clock):
        sent_at.append((event["ts"], clock.time - 1000.0))
    history = [wall for ts, wall in sent_at if ts < 50]
    assert history == [0.0] * 5
    live = [(ts, wall) for ts, wall in sent_at if ts >= 50]
    # Event time advances 10 s per wall-clock second from the first live event on.
    for ts, wall in live:
        assert wall == pytest.approx((ts - 50) / 10.0, abs=0.01)


def test_pacing_rate_limit() -> None:
    clock = _FakeClock()
    events = [{"ts": 0.0}] * 50
    pacing = Pacing(max_events_per_second=10.0)
    consumed = list(paced(events, event_time_of, pacing, clock=clock))
    assert len(consumed) == 50
    assert clock.time - 1000.0 == pytest.approx(4.9, abs=0.01)


def test_pacing_can_be_stopped() -> None:
    clock = _FakeClock()
    events = [{"ts": float(second)} for second in range(100)]
    stop_after = {"count": 0}

    def should_stop() -> bool:
        return clock.time - 1000.0 > 3.0

    pacing = Pacing(live_from=0.0, speedup=1.0)
    for _ in paced(events, event_time_of, pacing, clock=clock, should_stop=should_stop):
        stop_after["count"] += 1
    assert 3 <= stop_after["count"] <= 5


def test_event_time_of_accepts_strings_and_epoch_seconds() -> None:
    assert event_time_of({"ts": "2026-11-02T00:00:01.500Z"}) == pytest.approx(1793577601.5)
    assert event_time_of({"ts": 12.5}) == 12.5
