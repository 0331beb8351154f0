"""The one place that decides which delivery failures are retried, and when.

* **Retryable**: network errors before the request reached the server, HTTP 5xx, HTTP 429 (and
  Slack's ``ok: false`` codes that mean the same). ``Retry-After`` is honoured.
* **Permanent**: every other 4xx and every Slack error code that will not change on its own
  (``channel_not_found``, ``invalid_auth``, ``invalid_blocks``, ...). Retrying cannot help; the
  notification is dead-lettered.
* **Ambiguous**: the request may have been processed but no answer came (a timeout, a dropped
  connection). Idempotent calls (PagerDuty events, ``chat.update``) treat it as retryable;
  calls that would duplicate a message (``chat.postMessage``) first look for the message.

Backoff is exponential with full jitter (a uniformly random wait between zero and the exponential
cap) so workers that failed together do not retry together; a deadline bounds the whole effort.
"""

from __future__ import annotations

import asyncio
import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from alerts.config import (
    DEFAULT_DELIVERY_DEADLINE_SECONDS,
    DEFAULT_RETRY_BASE_DELAY_SECONDS,
    DEFAULT_RETRY_MAX_DELAY_SECONDS,
    AlertingConfig,
)

# Slack answers some transient problems with HTTP 200 and ok=false.
SLACK_RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
     "request_timeout"}
)  # fmt: skip


class FailureKind(enum.StrEnum):
    """How a failed delivery attempt is handled."""

    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    AMBIGUOUS = "ambiguous"


class DeliveryFailure(Exception):
    """A failed attempt, classified. ``reason`` never contains a secret."""

    def __init__(
        self,
        kind: FailureKind,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.status = status
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"DeliveryFailure({self.kind.value}, {self.reason!r}, status={self.status})"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Examples
    --------
    >>> parse_retry_after("7")
    7.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
    10.0
    >>> parse_retry_after("soon") is None
    True
    """
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - reference)


def classify_http(
    status: int, headers: Mapping[str, str] | None = None, detail: str = ""
) -> DeliveryFailure | None:
    """``None`` for a 2xx answer, otherwise the classified failure."""
    if 200 <= status < 300:
        return None
    retry_after = parse_retry_after((headers or {}).get("Retry-After"))
    reason = f"HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429 or status >= 500:
        return DeliveryFailure(
            FailureKind.RETRYABLE, reason, status=status, retry_after=retry_after
        )
    return DeliveryFailure(FailureKind.PERMANENT, reason, status=status)


def classify_slack_error(
    status: int, error: str | None, headers: Mapping[str, str] | None = None
) -> DeliveryFailure:
    """Classify a failed Slack Web API answer (HTTP status and the ``error`` code)."""
    by_status = classify_http(status, headers, error or "")
    if by_status is not None:
        return by_status
    code = error or "unknown_error"
    if code in SLACK_RETRYABLE_ERRORS:
        retry_after = parse_retry_after((headers or {}).get("Retry-After"))
        return DeliveryFailure(
            FailureKind.RETRYABLE, f"slack: {code}", status=status, retry_after=retry_after
        )
    return DeliveryFailure(FailureKind.PERMANENT, f"slack: {code}", status=status)


def classify_exception(exc: BaseException) -> DeliveryFailure:
    """Classify an exception raised while talking to a service.

    The reason names the exception type and, for connection errors, the host; it never repeats
    the exception's message, which for some errors contains the full URL (and a webhook URL is a
    secret).
    """
    if isinstance(exc, DeliveryFailure):
        return exc
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError):
        # The connection was never made: the server cannot have seen the request.
        return DeliveryFailure(FailureKind.RETRYABLE, f"cannot connect to {exc.host}: {name}")
    if isinstance(exc, aiohttp.ClientResponseError):
        failure = classify_http(exc.status, exc.headers or {})
        return failure or DeliveryFailure(FailureKind.PERMANENT, f"unexpected {name}")
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return DeliveryFailure(FailureKind.AMBIGUOUS, f"no answer in time ({name})")
    if isinstance(exc, aiohttp.ClientError | OSError):
        # Disconnected or reset after the request went out: it may have been processed.
        return DeliveryFailure(FailureKind.AMBIGUOUS, f"connection lost ({name})")
    # A bug or an unexpected answer: retrying the same thing would fail the same way.
    return DeliveryFailure(FailureKind.PERMANENT, f"unexpected error ({name})")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, ``Retry-After`` and a deadline.

    Parameters
    ----------
    base_delay
        Cap of the first wait; the cap doubles with every attempt.
    max_delay
        Largest cap.
    deadline
        Seconds after the first attempt after which a notification is given up (dead-lettered).
    rng
        Random source of the jitter (seeded in tests).

    Examples
    --------
    >>> policy = RetryPolicy(base_delay=1.0, max_delay=8.0, rng=random.Random(1))
    >>> all(0 <= policy.backoff(n) <= min(8.0, 2 ** (n - 1)) for n in range(1, 10))
    True
    """

    base_delay: float = DEFAULT_RETRY_BASE_DELAY_SECONDS
    max_delay: float = DEFAULT_RETRY_MAX_DELAY_SECONDS
    deadline: float = DEFAULT_DELIVERY_DEADLINE_SECONDS
    rng: random.Random = random.Random()  # noqa: RUF009 - shared default is fine: jitter only

    @classmethod
    def from_config(cls, config: AlertingConfig, rng: random.Random | None = None) -> RetryPolicy:
        """The retry part of the alerting settings."""
        return cls(
            base_delay=config.retry_base_delay_seconds,
            max_delay=config.retry_max_delay_seconds,
            deadline=config.delivery_deadline_seconds,
            rng=rng or random.Random(),
        )

    def backoff(self, attempt: int) -> float:
        """A jittered wait after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.max_delay, self.base_delay * 2 ** min(max(attempt - 1, 0), 60))
        return self.rng.uniform(0.0, cap)

    def next_attempt_at(
        self, failure: DeliveryFailure, attempt: int, first_attempt_at: float, now: float
    ) -> float | None:
        """When to try again after ``failure``, or ``None`` to give up.

        Gives up on permanent failures and when the next attempt would fall after the deadline.
        """
        if failure.kind is FailureKind.PERMANENT:
            return None
        if failure.retry_after is not None:
            # The server said when; a little jitter keeps workers from returning in lockstep.
            wait = failure.retry_after + self.rng.uniform(0.0, self.base_delay)
        else:
            wait = self.backoff(attempt)
        at = now + wait
        if at - first_attempt_at > self.deadline:
            return None
        return at
