"""How long the broker may hold the worker's fetch requests.

Faust's consumer runs in a thread of its own, so aiokafka's fetcher keeps going while the agent
is busy. aiokafka sends one fetch request per broker at a time. Records fetched for a partition
and not yet taken by the agent keep that partition out of the next request; for their first
100 ms (its prefetch backoff) they hold back the whole broker's request, and after that the
request goes out without them. When the agent is busy for longer than that (a checkpoint takes
0.25-0.65 s at 5,000 events/s), every busy usage partition still has records waiting, so the
request asks only for the quiet ones (the organisation budget topic, the silences). The broker
holds it until data arrives for them or ``fetch.max.wait.ms`` passes, and no request for the
usage topic can go out meanwhile. Faust creates its consumer with 1,500 ms: the agent received
the usage topic in chunks up to 1.5 s apart, and every alert waited for them
(docs/benchmark.md, "Spread windows and the consumer's fetch wait"; the test in
tests/integration/test_fetch_wait.py shows it on the broker).

:class:`FetchWaitTransport` is Faust's aiokafka transport with that wait taken from the settings
(``TOKENRADAR_CONSUMER_FETCH_MAX_WAIT_MS``). The consumer reads it when it starts, so it is set
on the consumer Faust creates, before the start.
"""

from __future__ import annotations

from typing import Any, ClassVar

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka


class FetchWaitConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, whose aiokafka consumer gets the transport's fetch wait."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        wait_ms = getattr(self.transport, "fetch_max_wait_ms", None)
        if wait_ms is not None:
            set_fetch_max_wait(consumer, wait_ms)
        return consumer


class FetchWaitConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, in a :class:`FetchWaitConsumerThread`."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return FetchWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)


class FetchWaitTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport whose worker consumer fetches with ``fetch_max_wait_ms``."""

    Consumer: ClassVar[Any] = FetchWaitConsumer

    def __init__(self, *args: Any, fetch_max_wait_ms: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fetch_max_wait_ms = fetch_max_wait_ms


def set_fetch_max_wait(consumer: aiokafka.AIOKafkaConsumer, wait_ms: int) -> None:
    """Set the fetch wait of a consumer that has not started (its fetcher is built then)."""
    if getattr(consumer, "_fetcher", None) is not None:
        raise RuntimeError("the consumer has started: its fetch wait can no longer change")
    if not hasattr(consumer, "_fetch_max_wait_ms"):
        raise RuntimeError("this aiokafka keeps the fetch wait elsewhere; see stream/fetching.py")
    consumer._fetch_max_wait_ms = int(wait_ms)


def fetch_max_wait_of(consumer: aiokafka.AIOKafkaConsumer) -> int:
    """The fetch wait a consumer's fetcher uses (or will use once started)."""
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is not None:
        return int(fetcher._fetch_max_wait_ms)
    return int(consumer._fetch_max_wait_ms)
