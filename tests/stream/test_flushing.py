"""The producer flush barrier, against Faust's own producer buffer with a slow hand-over."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.producer import ProducerBuffer

from stream import flushing

HAND_OVER_SECONDS = 0.25  # longer than the 0.1 s after which Faust's buffer flush gives up


class SlowBuffer(ProducerBuffer):
    """Faust's buffer whose hand-over to the client takes a while, as when it is backlogged."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.handed: list[Any] = []

    async def _send_pending(self, fut: Any) -> None:
        await asyncio.sleep(HAND_OVER_SECONDS)
        self.handed.append(fut)


class Producer:
    """The two things :func:`stream.flushing.flush` uses: the buffer and the client's flush."""

    def __init__(self, buffer: SlowBuffer) -> None:
        self.app = buffer.app
        self.buffer = buffer
        self.handed_at_client_flush: int | None = None

    async def flush(self) -> None:
        # The client's flush covers only what was handed to it by now.
        self.handed_at_client_flush = len(self.buffer.handed)


@pytest.fixture
async def buffer() -> Any:
    buffer = SlowBuffer()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))
    await buffer.start()
    yield buffer
    while not buffer.pending.empty():  # what a test left behind is not sent on stop
        buffer.pending.get_nowait()
    await buffer.stop()


async def test_fausts_buffer_flush_returns_before_the_buffer_is_drained(buffer: SlowBuffer) -> None:
    for n in range(3):
        buffer.put(n)
    await buffer.flush()
    assert len(buffer.handed) < 3


async def test_flush_waits_until_every_message_was_handed_to_the_client(buffer: SlowBuffer) -> None:
    producer = Producer(buffer)
    for n in range(3):
        buffer.put(n)
    await flushing.flush(producer)
    assert buffer.handed == [0, 1, 2]
    assert producer.handed_at_client_flush == 3


async def test_flush_waits_for_the_message_the_sender_holds(buffer: SlowBuffer) -> None:
    producer = Producer(buffer)
    buffer.put("only")
    await asyncio.sleep(0.01)  # the sender took it: the queue is empty, the hand-over is not done
    assert buffer.size == 0
    await flushing.flush(producer)
    assert producer.handed_at_client_flush == 1


async def test_a_buffer_that_does_not_drain_is_reported(buffer: SlowBuffer) -> None:
    producer = Producer(buffer)
    for n in range(20):
        buffer.put(n)
    with pytest.raises(flushing.ProducerStuck, match="still in the producer buffer"):
        await flushing.flush(producer, deadline=0.3)
