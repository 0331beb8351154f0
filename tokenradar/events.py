"""The usage event contract and the parser that guards the door.

A message on the usage topic holds one event (a JSON object) or a batch of events (a JSON array of
objects). :func:`parse_message` turns the raw bytes into valid :class:`UsageEvent` objects and a
:class:`Rejection` for everything else, with the reason and the original bytes, so nothing is
dropped silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from tokenradar.pricing import DEFAULT_PRICES, ModelPrice, cost_usd

USAGE_EVENT_SCHEMA_ID = "https://tokenradar.dev/schemas/usage-event.schema.json"
# Event times outside these bounds are typos or unit mix-ups (milliseconds sent as seconds).
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
LATEST_EVENT_TIME = datetime(2100, 1, 1, tzinfo=UTC).timestamp()


def parse_event_time(value: Any) -> float:
    """Event time as seconds since the epoch, from RFC 3339 text or a number of seconds.

    >>> parse_event_time("2026-11-02T09:00:00Z")
    1793610000.0
    >>> parse_event_time(1793610000)
    1793610000.0
    """
    if isinstance(value, bool):
        raise ValueError("ts must be an RFC 3339 string or epoch seconds, not a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"ts is not RFC 3339: {value[:64]!r}") from None
        if parsed.tzinfo is None:
            raise ValueError("ts has no time zone offset (RFC 3339 requires one, e.g. 'Z')")
        seconds = parsed.timestamp()
    else:
        raise ValueError("ts must be an RFC 3339 string or epoch seconds")
    if not math.isfinite(seconds) or not EARLIEST_EVENT_TIME <= seconds < LATEST_EVENT_TIME:
        raise ValueError("ts is outside 2000-01-01..2100-01-01 (milliseconds sent as seconds?)")
    return seconds


EventTime = Annotated[
    float,
    BeforeValidator(parse_event_time),
    WithJsonSchema(
        {
            "description": "Event time: RFC 3339 with an offset, or seconds since the epoch.",
            "anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
        }
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f]+$")]
TokenCount = Annotated[StrictInt, Field(ge=0)]


class UsageEvent(BaseModel):
    """One request through the AI gateway. Producers key events by ``team``."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    ts: EventTime
    team: Name
    user: Name
    model: Name
    input_tokens: TokenCount
    output_tokens: TokenCount
    event_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    tool: Name | None = None
    cached_input_tokens: TokenCount | None = Field(
        None, description="Part of input_tokens that was served from the prompt cache."
    )
    cost_usd: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        None, description="Computed from the price table when absent."
    )

    @model_validator(mode="after")
    def _cached_within_input(self) -> UsageEvent:
        if self.cached_input_tokens is not None and self.cached_input_tokens > self.input_tokens:
            raise ValueError("cached_input_tokens exceeds input_tokens")
        return self


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    """A validated event in the core's terms: event time in seconds, cost always known."""

    ts: float
    team: str
    user: str
    model: str
    tool: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_usd: float
    event_id: str | None


@dataclass(frozen=True, slots=True)
class Rejection:
    """Input that did not make it into the stream, and why."""

    reason: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Limits:
    """What the parser accepts."""

    max_message_bytes: int = 1_048_576
    max_event_bytes: int = 16_384
    max_tokens_per_event: int = 10_000_000
    max_cost_per_event_usd: float = 10_000.0


DEFAULT_LIMITS = Limits()
NO_TOOL = "unknown"


def parse_message(
    raw: bytes,
    limits: Limits = DEFAULT_LIMITS,
    prices: Mapping[str, ModelPrice] = DEFAULT_PRICES,
) -> tuple[list[ParsedEvent], list[Rejection]]:
    """Split one message into valid events and rejections.

    >>> events, rejected = parse_message(b'{"ts": 1793610000, "team": "a", "user": "u",'
    ...     b' "model": "m", "input_tokens": 10, "output_tokens": 5}')
    >>> (len(events), len(rejected), events[0].team)
    (1, 0, 'a')
    >>> parse_message(b'not json')[1][0].reason[:12]
    'invalid JSON'
    """
    if len(raw) > limits.max_message_bytes:
        return [], [
            Rejection(f"message of {len(raw)} bytes exceeds {limits.max_message_bytes}", raw)
        ]
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return [], [Rejection(f"invalid JSON: {exc}", raw)]
    if isinstance(document, dict):
        if len(raw) > limits.max_event_bytes:
            return [], [
                Rejection(f"event of {len(raw)} bytes exceeds {limits.max_event_bytes}", raw)
            ]
        return _one(document, raw, limits, prices)
    if isinstance(document, list):
        events: list[ParsedEvent] = []
        rejections: list[Rejection] = []
        for index, item in enumerate(document):
            item_raw = orjson.dumps(item)
            if not isinstance(item, dict):
                rejections.append(Rejection(f"batch item {index} is not a JSON object", item_raw))
                continue
            if len(item_raw) > limits.max_event_bytes:
                reason = (
                    f"batch item {index} of {len(item_raw)} bytes exceeds {limits.max_event_bytes}"
                )
                rejections.append(Rejection(reason, item_raw))
                continue
            ok, bad = _one(item, item_raw, limits, prices)
            events.extend(ok)
            rejections.extend(Rejection(f"batch item {index}: {r.reason}", r.raw) for r in bad)
        return events, rejections
    return [], [Rejection("message is neither a JSON object nor an array of objects", raw)]


def _one(
    document: dict[str, Any],
    raw: bytes,
    limits: Limits,
    prices: Mapping[str, ModelPrice],
) -> tuple[list[ParsedEvent], list[Rejection]]:
    try:
        event = UsageEvent.model_validate(document)
    except ValidationError as exc:
        return [], [Rejection(_describe(exc), raw)]
    if event.input_tokens + event.output_tokens > limits.max_tokens_per_event:
        reason = (
            f"{event.input_tokens + event.output_tokens} tokens in one event exceeds "
            f"{limits.max_tokens_per_event}"
        )
        return [], [Rejection(reason, raw)]
    cached = event.cached_input_tokens or 0
    cost = event.cost_usd
    if cost is None:
        cost = cost_usd(event.model, event.input_tokens, cached, event.output_tokens, prices)
    if cost > limits.max_cost_per_event_usd:
        return [], [Rejection(f"cost_usd {cost} exceeds {limits.max_cost_per_event_usd}", raw)]
    return [
        ParsedEvent(
            ts=event.ts,
            team=event.team,
            user=event.user,
            model=event.model,
            tool=event.tool or NO_TOOL,
            input_tokens=event.input_tokens,
            output_tokens=event.output_tokens,
            cached_input_tokens=cached,
            cost_usd=cost,
            event_id=event.event_id,
        )
    ], []


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:5]:
        location = ".".join(str(part) for part in error["loc"]) or "event"
        parts.append(f"{location}: {error['msg']}")
    return "invalid event: " + "; ".join(parts)


def usage_event_json_schema() -> dict[str, Any]:
    """JSON Schema of the usage event (written to ``docs/schemas/usage-event.schema.json``)."""
    schema = UsageEvent.model_json_schema(mode="validation")
    schema["$id"] = USAGE_EVENT_SCHEMA_ID
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
