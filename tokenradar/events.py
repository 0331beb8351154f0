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
    # Text first: it is what producers send.
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"ts is not RFC 3339: {value[:64]!r}") from None
        if parsed.tzinfo is None:
            raise ValueError("ts has no time zone offset (RFC 3339 requires one, e.g. 'Z')")
        seconds = parsed.timestamp()
    elif isinstance(value, bool):
        raise ValueError("ts must be an RFC 3339 string or epoch seconds, not a boolean")
    elif isinstance(value, int | float):
        seconds = float(value)
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


# The slot descriptors' setters, in field order (the unpacking fails if a field is added).
_new_object = object.__new__
(
    _set_ts,
    _set_team,
    _set_user,
    _set_model,
    _set_tool,
    _set_input_tokens,
    _set_output_tokens,
    _set_cached_input_tokens,
    _set_cost_usd,
    _set_event_id,
) = (getattr(ParsedEvent, name).__set__ for name in ParsedEvent.__slots__)


def _parsed_event(
    ts: float,
    team: str,
    user: str,
    model: str,
    tool: str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int,
    cost: float,
    event_id: str | None,
) -> ParsedEvent:
    """``ParsedEvent(...)`` at half the cost, for the parser's per-event path.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``; this fills
    the same slots through their descriptors directly. The result is the same object.
    """
    event = _new_object(ParsedEvent)
    _set_ts(event, ts)
    _set_team(event, team)
    _set_user(event, user)
    _set_model(event, model)
    _set_tool(event, tool)
    _set_input_tokens(event, input_tokens)
    _set_output_tokens(event, output_tokens)
    _set_cached_input_tokens(event, cached_input_tokens)
    _set_cost_usd(event, cost)
    _set_event_id(event, event_id)
    return event


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
        # An item the fast path accepts re-serialises to at most its own text plus the growth of
        # its two possible floats, so in a message this small no such item can be too large and
        # its size need not be measured.
        items_fit = len(raw) + _FAST_ITEM_GROWTH <= limits.max_event_bytes
        for index, item in enumerate(document):
            if items_fit and type(item) is dict:
                fields = _fast_fields(item)
                if fields is not None:
                    ok, bad = _checked(fields, None, item, limits, prices)
                    events.extend(ok)
                    if bad:
                        rejections.extend(
                            Rejection(f"batch item {index}: {r.reason}", r.raw) for r in bad
                        )
                    continue
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
    fields = _fast_fields(document)
    if fields is None:
        try:
            fields = _validated_fields(document)
        except ValidationError as exc:
            return [], [Rejection(_describe(exc), raw)]
    return _checked(fields, raw, document, limits, prices)


# The fields of a valid event, in ``_EventFields`` order: ts, team, user, model, tool,
# input_tokens, output_tokens, cached_input_tokens, cost_usd, event_id (None where absent).
_EventFields = tuple[
    float, str, str, str, str | None, int, int, int | None, float | None, str | None
]


def _validated_fields(document: dict[str, Any]) -> _EventFields:
    """The event's fields as :class:`UsageEvent` validates them (raises ``ValidationError``)."""
    event = UsageEvent.model_validate(document)
    return (
        event.ts,
        event.team,
        event.user,
        event.model,
        event.tool,
        event.input_tokens,
        event.output_tokens,
        event.cached_input_tokens,
        event.cost_usd,
        event.event_id,
    )


def _checked(
    fields: _EventFields,
    raw: bytes | None,
    document: Any,
    limits: Limits,
    prices: Mapping[str, ModelPrice],
) -> tuple[list[ParsedEvent], list[Rejection]]:
    """A validated event within the limits, or why not (``raw`` is serialised only then)."""
    ts, team, user, model, tool, input_tokens, output_tokens, cached, cost, event_id = fields
    if input_tokens + output_tokens > limits.max_tokens_per_event:
        reason = (
            f"{input_tokens + output_tokens} tokens in one event exceeds "
            f"{limits.max_tokens_per_event}"
        )
        return [], [Rejection(reason, orjson.dumps(document) if raw is None else raw)]
    cached = cached or 0
    if cost is None:
        cost = cost_usd(model, input_tokens, cached, output_tokens, prices)
    if cost > limits.max_cost_per_event_usd:
        reason = f"cost_usd {cost} exceeds {limits.max_cost_per_event_usd}"
        return [], [Rejection(reason, orjson.dumps(document) if raw is None else raw)]
    return [
        _parsed_event(
            ts,
            team,
            user,
            model,
            tool or NO_TOOL,
            input_tokens,
            output_tokens,
            cached,
            cost,
            event_id,
        )
    ], []


# -- the fast path ---------------------------------------------------------------------------
#
# pydantic costs about 3.5 µs per event, most of the parser's time. Well-formed events are
# checked here by hand on the decoded dict instead. The fast path accepts a subset of what
# ``UsageEvent`` accepts and yields the same values for it; whenever it is not sure (a wrong
# type, a value out of range, whitespace pydantic would strip, a field it does not know) it
# returns None and the event goes through pydantic, so a rejected event keeps pydantic's reason.
# tests/core/test_events.py compares the two paths on generated valid and malformed events.

_FIELDS = frozenset(
    (
        "ts",
        "team",
        "user",
        "model",
        "tool",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cost_usd",
        "event_id",
    )
)
_NAME_MAX_LENGTH = 256
_EVENT_ID_MAX_LENGTH = 200
# Integers whose conversion to float is exact, so int -> float cannot round differently.
_EXACT_FLOAT_INT = 2**53
_MAX_TOKEN_COUNT = 2**63
# orjson writes a float in at most 24 bytes and an item has at most two floats (ts, cost_usd);
# nothing else it writes is longer than the JSON it was read from (see the batch loop).
_FAST_ITEM_GROWTH = 2 * 24


def _fast_name(value: Any) -> bool:
    # ``isprintable`` rules out \x00-\x1f (the pattern) and every whitespace but " ", so
    # after the edge check pydantic's ``str_strip_whitespace`` has nothing to strip.
    return (
        type(value) is str
        and 0 < len(value) <= _NAME_MAX_LENGTH
        and value.isprintable()
        and value[0] != " "
        and value[-1] != " "
    )


def _fast_fields(document: dict[str, Any]) -> _EventFields | None:
    """The fields of a well-formed event without pydantic, or None to ask pydantic."""
    if not _FIELDS.issuperset(document):
        return None
    get = document.get
    team = get("team")
    user = get("user")
    model = get("model")
    tool = get("tool")
    # _fast_name spelled out for the four names: this runs for every event.
    if not (
        type(team) is str
        and type(user) is str
        and type(model) is str
        and 0 < len(team) <= _NAME_MAX_LENGTH
        and 0 < len(user) <= _NAME_MAX_LENGTH
        and 0 < len(model) <= _NAME_MAX_LENGTH
        and team.isprintable()
        and user.isprintable()
        and model.isprintable()
        and team[0] != " " != team[-1]
        and user[0] != " " != user[-1]
        and model[0] != " " != model[-1]
        and (tool is None or _fast_name(tool))
    ):
        return None
    input_tokens = get("input_tokens")
    output_tokens = get("output_tokens")
    cached = get("cached_input_tokens")
    # StrictInt: exactly int (not bool); the upper bound keeps to what orjson gives as int.
    if not (
        type(input_tokens) is int
        and type(output_tokens) is int
        and 0 <= input_tokens < _MAX_TOKEN_COUNT
        and 0 <= output_tokens < _MAX_TOKEN_COUNT
    ):
        return None
    if cached is not None and not (type(cached) is int and 0 <= cached <= input_tokens):
        return None
    cost = get("cost_usd")
    if cost is not None:
        cost_type = type(cost)
        if cost_type is float:
            if not 0.0 <= cost < math.inf:
                return None
        elif cost_type is int and 0 <= cost < _EXACT_FLOAT_INT:
            cost = float(cost)
        else:
            return None
    event_id = get("event_id")
    if event_id is not None and not (
        type(event_id) is str
        and 0 < len(event_id) <= _EVENT_ID_MAX_LENGTH
        and not event_id[0].isspace()
        and not event_id[-1].isspace()
    ):
        return None
    ts = get("ts")
    ts_type = type(ts)
    if ts_type is not str and ts_type is not int and ts_type is not float:
        return None
    try:
        seconds = parse_event_time(ts)
    except (ValueError, OverflowError):
        return None
    return (
        seconds,
        team,
        user,
        model,
        tool,
        input_tokens,
        output_tokens,
        cached,
        cost,
        event_id,
    )


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
