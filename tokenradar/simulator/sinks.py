"""Where simulated traffic goes: a JSONL file (with a labels sidecar) or a Kafka topic.

The Kafka sink can pace the stream: a stretch of *history* is sent as fast as possible, with
event times ending at the moment sending starts, and the rest is sent *live*, with event time
advancing ``speedup`` times as fast as the wall clock. An optional rate limit caps events per
second in both phases.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from tokenradar.simulator.generator import Simulation

logger = logging.getLogger(__name__)

DEFAULT_TOPIC = "tokenradar-usage"


@dataclass(frozen=True, slots=True)
class SendSummary:
    """What a sink did."""

    events: int
    seconds: float
    interrupted: bool = False
    failed: int = 0
    """Events the broker did not acknowledge (Kafka only)."""

    @property
    def events_per_second(self) -> float:
        """Throughput, 0 for an empty run."""
        return self.events / self.seconds if self.seconds > 0 else 0.0


def labels_path_for(path: str | Path) -> Path:
    """The sidecar labels file of an events file: ``<file>.labels.json``."""
    path = Path(path)
    return path.with_name(path.name + ".labels.json")


def write_labels(simulation: Simulation, path: str | Path) -> Path:
    """Write the simulation's config, organisation and labels as JSON to ``path``."""
    target = Path(path)
    target.write_bytes(orjson.dumps(simulation.labels_document(), option=orjson.OPT_INDENT_2))
    return target


def write_jsonl(
    simulation: Simulation,
    path: str | Path,
    progress: Callable[[int], None] | None = None,
) -> SendSummary:
    """Write every event as one JSON line to ``path`` and the labels to its sidecar.

    Parameters
    ----------
    simulation
        The run to write.
    path
        The events file; the labels go to ``<path>.labels.json``.
    progress
        Called now and then with the number of events written so far.

    Returns
    -------
    SendSummary
        Events written and time taken (``interrupted`` if stopped with Ctrl-C; the file then
        holds the events up to that point).
    """
    target = Path(path)
    write_labels(simulation, labels_path_for(target))
    started = time.perf_counter()
    written = 0
    interrupted = False
    dumps = orjson.dumps
    try:
        with target.open("wb") as handle:
            buffer: list[bytes] = []
            for event in simulation.events():
                buffer.append(dumps(event))
                if len(buffer) >= 10_000:
                    handle.write(b"\n".join(buffer) + b"\n")
                    written += len(buffer)
                    buffer.clear()
                    if progress is not None:
                        progress(written)
            if buffer:
                handle.write(b"\n".join(buffer) + b"\n")
                written += len(buffer)
    except KeyboardInterrupt:
        interrupted = True
        logger.info("interrupted after %d events", written)
    return SendSummary(written, time.perf_counter() - started, interrupted=interrupted)


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Read events written by :func:`write_jsonl`."""
    with Path(path).open("rb") as handle:
        for line in handle:
            if line.strip():
                yield orjson.loads(line)


class Clock(Protocol):
    """Wall clock and sleep, replaceable in tests."""

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Wait."""
        time.sleep(seconds)


@dataclass(frozen=True, slots=True)
class Pacing:
    """How fast to send.

    Parameters
    ----------
    live_from
        Event time (epoch seconds) from which events are paced; earlier ones are history and go
        out as fast as possible. ``None`` sends everything as fast as possible.
    speedup
        Event-time seconds per wall-clock second in the live phase.
    max_events_per_second
        Optional cap on the send rate in both phases.
    """

    live_from: float | None = None
    speedup: float = 1.0
    max_events_per_second: float | None = None

    def __post_init__(self) -> None:
        if self.speedup <= 0:
            raise ValueError(f"speedup must be positive, got {self.speedup}")
        if self.max_events_per_second is not None and self.max_events_per_second <= 0:
            raise ValueError(f"rate must be positive, got {self.max_events_per_second}")


# How far ahead of its due time an event may go out; sleeping for less is not worth it.
_PACING_SLACK_SECONDS = 0.005
# Longest single sleep, so that Ctrl-C and the stop flag are noticed promptly.
_LONGEST_SLEEP_SECONDS = 0.25


def paced(
    events: Iterable[Mapping[str, Any]],
    event_times: Callable[[Mapping[str, Any]], float],
    pacing: Pacing,
    clock: Clock | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[Mapping[str, Any]]:
    """Yield ``events`` no faster than ``pacing`` allows.

    Parameters
    ----------
    events
        Events in event-time order.
    event_times
        The event time (epoch seconds) of an event.
    pacing
        The pacing rules.
    clock
        Clock to use; the system clock by default.
    should_stop
        Checked while waiting; returning True ends the stream.
    """
    clock = clock or SystemClock()
    started = clock.now()
    live_started: float | None = None
    for sent, event in enumerate(events):
        due = started
        if pacing.live_from is not None:
            event_time = event_times(event)
            if event_time >= pacing.live_from:
                if live_started is None:
                    live_started = clock.now()
                due = live_started + (event_time - pacing.live_from) / pacing.speedup
        if pacing.max_events_per_second is not None:
            due = max(due, started + sent / pacing.max_events_per_second)
        while True:
            wait = due - clock.now()
            if wait <= _PACING_SLACK_SECONDS:
                break
            if should_stop():
                return
            clock.sleep(min(wait, _LONGEST_SLEEP_SECONDS))
        if should_stop():
            return
        yield event


def event_time_of(event: Mapping[str, Any]) -> float:
    """Epoch seconds of a simulated event's ``ts`` (fast path for the simulator's own format)."""
    from datetime import datetime

    stamp = event["ts"]
    if isinstance(stamp, int | float):
        return float(stamp)
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()


class KafkaSink:
    """Sends events to a Kafka topic with kafka-python, keyed by team.

    Parameters
    ----------
    bootstrap_servers
        ``host:port[,host:port...]``.
    topic
        The usage topic.
    linger_ms
        How long the producer waits to fill a batch.
    compression_type
        ``None`` or ``"gzip"``.
    batch_size
        Producer batch size in bytes.
    connect_timeout_ms
        How long to wait for the first broker connection before giving up.
    producer_factory
        Creates the producer from keyword arguments; ``kafka.KafkaProducer`` by default
        (replaceable in tests).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str = DEFAULT_TOPIC,
        linger_ms: int = 20,
        compression_type: str | None = None,
        batch_size: int = 64 * 1024,
        connect_timeout_ms: int = 30_000,
        producer_factory: Callable[..., Any] | None = None,
    ) -> None:
        if compression_type not in (None, "gzip"):
            raise ValueError(f"compression_type must be None or 'gzip', got {compression_type!r}")
        if producer_factory is None:
            from kafka import KafkaProducer

            producer_factory = KafkaProducer
        self.topic = topic
        self._failed = 0
        self._first_error: BaseException | None = None
        self._error_lock = threading.Lock()
        # acks='all' with the default idempotence: a retried batch is never written twice.
        self._producer = producer_factory(
            bootstrap_servers=bootstrap_servers.split(","),
            client_id="tokenradar-simulator",
            acks="all",
            linger_ms=linger_ms,
            compression_type=compression_type,
            batch_size=batch_size,
            bootstrap_timeout_ms=connect_timeout_ms,
        )

    def _on_error(self, error: BaseException) -> None:
        # Runs on the producer's I/O thread: record, do not raise.
        with self._error_lock:
            self._failed += 1
            first = self._first_error is None
            if first:
                self._first_error = error
        if first:
            logger.error("kafka send failed: %s", error)

    def send_all(
        self,
        events: Iterable[Mapping[str, Any]],
        progress: Callable[[int], None] | None = None,
        progress_every: int = 50_000,
    ) -> SendSummary:
        """Send ``events``, flush and close. Ctrl-C stops sending, flushes and closes cleanly.

        Parameters
        ----------
        events
            Events in the order to send them (already paced if pacing is wanted).
        progress
            Called every ``progress_every`` events with the count so far.
        progress_every
            See ``progress``.
        """
        started = time.perf_counter()
        sent = 0
        interrupted = False
        dumps = orjson.dumps
        try:
            for event in events:
                future = self._producer.send(
                    self.topic, value=dumps(event), key=str(event["team"]).encode("utf-8")
                )
                future.add_errback(self._on_error)
                sent += 1
                if progress is not None and sent % progress_every == 0:
                    progress(sent)
        except KeyboardInterrupt:
            interrupted = True
            logger.info("interrupted after %d events; flushing", sent)
        finally:
            self.close()
        return SendSummary(
            sent, time.perf_counter() - started, interrupted=interrupted, failed=self._failed
        )

    def close(self, timeout_seconds: float = 30.0) -> None:
        """Flush outstanding sends and close the producer (idempotent)."""
        try:
            self._producer.flush(timeout=timeout_seconds)
        except KeyboardInterrupt:
            logger.warning("second interrupt while flushing; closing without waiting")
            self._producer.close(timeout=0)
            return
        except Exception as error:  # the close below must still happen
            logger.error("flush failed: %s", error)
        self._producer.close(timeout=timeout_seconds)
