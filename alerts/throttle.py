"""A token bucket per destination: Slack about one message a second a channel, PagerDuty two
events a second a routing key. Staying under the limits avoids 429s; the retry policy handles
the 429s that still come (other workers share the same channels)."""

from __future__ import annotations

from dataclasses import dataclass

from alerts.clock import Clock


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class Throttle:
    """Token buckets keyed by destination.

    Parameters
    ----------
    rate
        Tokens added per second (sustained requests per second).
    burst
        Bucket size: requests allowed back to back after a quiet spell.
    clock
        Time source; ``acquire`` waits with ``clock.sleep``.

    Examples
    --------
    >>> from alerts.clock import ManualClock
    >>> t = Throttle(rate=1.0, burst=1, clock=ManualClock())
    >>> t.delay("#c"), t.take("#c"), t.delay("#c")
    (0.0, None, 1.0)
    """

    def __init__(self, rate: float, clock: Clock, burst: int = 1) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _refill(self, key: str) -> _Bucket:
        now = self.clock.now()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
        bucket.updated = now
        return bucket

    def delay(self, key: str) -> float:
        """Seconds until ``key`` has a token (0 when it has one now)."""
        bucket = self._refill(key)
        return 0.0 if bucket.tokens >= 1.0 else (1.0 - bucket.tokens) / self.rate

    def take(self, key: str) -> None:
        """Spend a token (the bucket may go negative, which delays later callers)."""
        self._refill(key).tokens -= 1.0

    async def acquire(self, key: str) -> None:
        """Wait until ``key`` has a token, then spend it."""
        wait = self.delay(key)
        while wait > 0:
            await self.clock.sleep(wait)
            wait = self.delay(key)
        self.take(key)
