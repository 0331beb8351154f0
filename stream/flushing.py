"""Waiting until everything handed to Faust's producer is on the broker.

Faust's ``Producer.flush()`` is not a barrier. Table writes do not reach the Kafka client
directly: ``table[key] = value`` puts the changelog message in a buffer that a background task
hands to the client one message at a time, and the buffer's ``flush()`` gives up as soon as no
message has left it for 0.1 s (faust-streaming 0.15). On a loaded machine, or while the client's
accumulator is full and the hand-over itself waits, ``flush()`` therefore returns with messages
still in the buffer or on their way to the client, and the client's own flush, which comes next,
does not wait for them. The checkpoint relies on the barrier being real: team states must be on
the broker before the stream time that goes with them, and an alert's outbox entry before it is
published.

:func:`flush` keeps draining until the buffer is empty and its sender is idle, then waits for
the client.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

DEADLINE_SECONDS = 120.0
"""How long :func:`flush` waits for the buffer to drain before it reports a stuck producer."""


class ProducerStuck(RuntimeError):
    """The producer's buffer did not drain within the deadline."""


def _sender_idle(buffer: Any) -> bool:
    """Whether the buffer's sender task is waiting for a message (so none is in its hands).

    The sender takes a message off the queue and then awaits the hand-over to the client; while
    it does, the queue is empty although the message has not reached the client. A sender that
    waits on ``get()`` is registered among the queue's getters.
    """
    getters = getattr(buffer.pending, "_getters", None)
    if getters is None:  # another asyncio: fall back to the queue being empty
        return True
    return any(not waiter.done() for waiter in getters)


async def flush(producer: Any, deadline: float = DEADLINE_SECONDS) -> None:
    """Return once every message handed to ``producer`` before the call is on the broker.

    ``producer`` is Faust's producer (``app.producer``). Raises :class:`ProducerStuck` when its
    buffer has not drained within ``deadline`` seconds.
    """
    buffer = producer.buffer
    if not producer.app.conf.producer_threaded:
        give_up = time.monotonic() + deadline
        while buffer.size or not _sender_idle(buffer):
            if time.monotonic() > give_up:
                raise ProducerStuck(
                    f"{buffer.size} messages still in the producer buffer after {deadline:.0f} s"
                )
            await buffer.flush()
            # Let the sender finish the hand-over it started and return to waiting.
            await asyncio.sleep(0.001)
    await producer.flush()
