from __future__ import annotations

import sys
from typing import Annotated
from unittest import mock

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import StringConstraints, TypeAdapter

import tokenradar.events as events_module
from tokenradar.events import Limits, ParsedEvent, Rejection, parse_message
from tokenradar.pricing import DEFAULT_PRICES, cost_usd

VALID = {
    "ts": "2026-11-02T09:15:03.250Z",
    "team": "search-infra",
    "user": "ana",
    "model": "claude-sonnet-4",
    "input_tokens": 1200,
    "output_tokens": 300,
}


def encode(document: object) -> bytes:
    return orjson.dumps(document)


def test_valid_event_parses_with_cost_from_price_table() -> None:
    events, rejected = parse_message(encode(VALID))
    assert rejected == []
    [event] = events
    assert event.ts == pytest.approx(1793610903.25)
    assert event.tool == "unknown"
    assert event.cached_input_tokens == 0
    assert event.cost_usd == pytest.approx(
        cost_usd("claude-sonnet-4", 1200, 0, 300, DEFAULT_PRICES)
    )


def test_epoch_seconds_and_given_cost_are_kept() -> None:
    events, _ = parse_message(encode({**VALID, "ts": 1793610903.25, "cost_usd": 0.5}))
    assert events[0].ts == 1793610903.25
    assert events[0].cost_usd == 0.5


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({k: v for k, v in VALID.items() if k != "team"}, "team: Field required"),
        ({**VALID, "input_tokens": -1}, "input_tokens"),
        ({**VALID, "input_tokens": "12"}, "input_tokens"),
        ({**VALID, "input_tokens": True}, "input_tokens"),
        ({**VALID, "output_tokens": 1.5}, "output_tokens"),
        ({**VALID, "ts": "yesterday"}, "not RFC 3339"),
        ({**VALID, "ts": "2026-11-02T09:15:03"}, "time zone"),
        ({**VALID, "ts": 1793610903250}, "milliseconds"),
        ({**VALID, "team": ""}, "team"),
        ({**VALID, "cached_input_tokens": 5000}, "cached_input_tokens exceeds"),
        ({**VALID, "cost_usd": -3}, "cost_usd"),
        ({**VALID, "input_tokens": 50_000_000}, "tokens in one event exceeds"),
    ],
)
def test_invalid_events_are_rejected_with_a_reason(
    document: dict[str, object], reason: str
) -> None:
    raw = encode(document)
    events, rejected = parse_message(raw)
    assert events == []
    assert len(rejected) == 1
    assert reason in rejected[0].reason
    assert rejected[0].raw == raw


def test_bad_json_and_oversized_messages() -> None:
    assert "invalid JSON" in parse_message(b"{nope")[1][0].reason
    assert "neither" in parse_message(b"42")[1][0].reason
    big = encode({**VALID, "user": "x" * 200, "tool": "y" * 200, "event_id": "z" * 150})
    limits = Limits(max_event_bytes=300)
    assert "exceeds" in parse_message(big, limits)[1][0].reason
    assert "exceeds" in parse_message(b" " * 2000, Limits(max_message_bytes=1024))[1][0].reason


def test_batches_keep_the_good_and_reject_the_bad_individually() -> None:
    raw = encode([VALID, {**VALID, "output_tokens": -5}, 7, {**VALID, "user": "bo"}])
    events, rejected = parse_message(raw)
    assert [e.user for e in events] == ["ana", "bo"]
    assert [r.reason.split(":")[0] for r in rejected] == [
        "batch item 1",
        "batch item 2 is not a JSON object",
    ]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_and_nothing_is_lost(raw: bytes) -> None:
    events, rejected = parse_message(raw)
    assert events or rejected


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from([*sorted(VALID), "tool", "cost_usd", "event_id"]), json_values)
)
def test_arbitrary_objects_are_either_valid_events_or_rejected(document: dict[str, object]) -> None:
    events, rejected = parse_message(encode({**VALID, **document}))
    assert len(events) + len(rejected) == 1
    for event in events:
        assert event.input_tokens >= 0 and event.output_tokens >= 0 and event.cost_usd >= 0
        assert event.cached_input_tokens <= event.input_tokens


# -- the fast path against pydantic ----------------------------------------------------------


def pydantic_only(raw: bytes, limits: Limits) -> tuple[list[ParsedEvent], list[Rejection]]:
    """``parse_message`` with every event validated by pydantic."""
    with mock.patch.object(events_module, "_fast_fields", lambda document: None):
        return parse_message(raw, limits)


def exact(value: object) -> tuple[str, str]:
    # repr tells -0.0 from 0.0 and 1 from 1.0, which == does not.
    return type(value).__name__, repr(value)


def assert_same_result(
    fast: tuple[list[ParsedEvent], list[Rejection]],
    slow: tuple[list[ParsedEvent], list[Rejection]],
) -> None:
    fast_events, fast_rejected = fast
    slow_events, slow_rejected = slow
    assert len(fast_events) == len(slow_events)
    for a, b in zip(fast_events, slow_events, strict=True):
        for name in ParsedEvent.__slots__:
            assert exact(getattr(a, name)) == exact(getattr(b, name)), name
    assert [(r.reason, r.raw) for r in fast_rejected] == [(r.reason, r.raw) for r in slow_rejected]


good_names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
)
# Values around every check the parser makes: types, bounds, whitespace pydantic strips,
# the control-character pattern, lengths at the limits.
odd_strings = st.sampled_from(
    [
        "",
        " ",
        " a",
        "a ",
        "\ta",
        "a\n",
        "a\x00b",
        "a\x1fb",
        "\x1ca",
        "a\x1f",
        "\x7fa",
        "\x85a",
        "a\xa0",
        "\u2028a",
        "a\u3000",
        "\u200ba",
        "\ufeffa",
        "é",
        "😀",
        "x" * 200,
        "x" * 201,
        "x" * 256,
        "x" * 257,
        " " + "x" * 256,
        "x" * 255 + " ",
        "claude-sonnet-4",
        "gpt-5",
    ]
)
strings = good_names | odd_strings
odd_numbers = st.sampled_from(
    [
        0,
        -1,
        1,
        2**53,
        2**53 + 1,
        2**63 - 1,
        2**63,
        2**64 - 1,
        -(2**63),
        0.0,
        -0.0,
        1.5,
        -1.5,
        1e300,
        5e-324,
        10_000_000,
        10_000_001,
        1e4,
        10_000.000001,
        True,
        False,
    ]
)
numbers = (
    st.integers(-10, 20_000_000)
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | odd_numbers
)
timestamps = (
    st.sampled_from(
        [
            "2026-11-02T09:15:03.250Z",
            "2026-11-02T09:15:03Z",
            "2026-11-02T09:15:03+02:00",
            "2026-11-02T09:15:03.123456-05:30",
            "2026-11-02T09:15:03.1234567Z",
            "2026-11-02 09:15:03Z",
            "2026-11-02T09:15:03",
            "2026-11-02",
            "2026-11-02T09:15Z",
            "20261102T091503Z",
            " 2026-11-02T09:15:03Z",
            "2026-11-02T09:15:03Z ",
            "2026-13-02T09:15:03Z",
            "1999-12-31T23:59:59Z",
            "2000-01-01T00:00:00Z",
            "2099-12-31T23:59:59.999999Z",
            "2100-01-01T00:00:00Z",
            "yesterday",
            "",
            "1793610903",
            946684800,
            946684799.999,
            4102444800,
            4102444799.5,
            1793610903.25,
            1793610903250,
            -1,
            True,
            None,
        ]
    )
    | st.floats(946_000_000, 4_103_000_000)
    | st.integers(946_000_000, 4_103_000_000)
)
field_values = {
    "ts": timestamps,
    "team": strings,
    "user": strings,
    "model": strings,
    "tool": strings | st.none(),
    "input_tokens": numbers,
    "output_tokens": numbers,
    "cached_input_tokens": numbers | st.none(),
    "cost_usd": numbers | st.none() | st.sampled_from(["0.5", "1e-3", "nan"]),
    "event_id": strings | st.none(),
}
wrong_types = st.none() | st.booleans() | st.lists(st.integers(), max_size=2) | st.just({"a": 1})


@st.composite
def events_valid_or_not(draw: st.DrawFn) -> dict[str, object]:
    """A valid event, with some fields replaced by odd, wrong, missing or extra ones."""
    document: dict[str, object] = {
        "ts": draw(st.floats(1.7e9, 1.9e9) | st.sampled_from([VALID["ts"], 1793610903])),
        "team": draw(st.sampled_from(["search-infra", "t-1", "équipe"])),
        "user": draw(st.sampled_from(["ana", "u-000001"])),
        "model": draw(st.sampled_from([*DEFAULT_PRICES, "some-new-model"])),
        "input_tokens": draw(st.integers(0, 50_000)),
        "output_tokens": draw(st.integers(0, 5_000)),
    }
    if draw(st.booleans()):
        document["tool"] = draw(st.sampled_from(["chat", "agent"]))
    if draw(st.booleans()):
        document["event_id"] = f"ev-{draw(st.integers(0, 10**9))}"
    if draw(st.booleans()):
        document["cached_input_tokens"] = draw(st.integers(0, 60_000))
    if draw(st.booleans()):
        document["cost_usd"] = draw(st.floats(0, 20) | st.integers(0, 20))
    for name in draw(st.lists(st.sampled_from(sorted(field_values)), max_size=3)):
        document[name] = draw(field_values[name] | wrong_types)
    for name in draw(st.lists(st.sampled_from(sorted(field_values)), max_size=2)):
        document.pop(name, None)
    if draw(st.integers(0, 9)) == 0:
        document[draw(st.sampled_from(["extra", "Team", "ts ", ""]))] = draw(json_values)
    return document


def encodable(document: object) -> bytes:
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        assume(False)
        raise


limits_under_test = st.sampled_from(
    [
        Limits(),
        Limits(max_event_bytes=300),
        Limits(max_event_bytes=420),
        Limits(max_tokens_per_event=20_000, max_cost_per_event_usd=0.05),
    ]
)


@settings(max_examples=1500, deadline=None)
@given(events_valid_or_not(), limits_under_test)
def test_fast_path_matches_pydantic_on_single_events(
    document: dict[str, object], limits: Limits
) -> None:
    raw = encodable(document)
    assert_same_result(parse_message(raw, limits), pydantic_only(raw, limits))


@settings(max_examples=600, deadline=None)
@given(st.lists(events_valid_or_not() | json_values, max_size=6), limits_under_test)
def test_fast_path_matches_pydantic_on_batches(items: list[object], limits: Limits) -> None:
    raw = encodable(items)
    assert_same_result(parse_message(raw, limits), pydantic_only(raw, limits))


@settings(max_examples=1500, deadline=None)
@given(events_valid_or_not())
def test_fast_fields_are_pydantic_fields_when_given(document: dict[str, object]) -> None:
    decoded = orjson.loads(encodable(document))
    fast = events_module._fast_fields(decoded)
    if fast is None:
        return
    assert [exact(v) for v in fast] == [exact(v) for v in events_module._validated_fields(decoded)]


def test_fast_path_takes_the_benchmark_events() -> None:
    generated = orjson.loads(
        b'{"event_id":"ev-1-000000007","ts":"2026-11-02T09:00:00.811Z","team":"team-0042",'
        b'"user":"user-000017","model":"gpt-5","tool":"chat","input_tokens":1840,'
        b'"output_tokens":211,"cached_input_tokens":402,"cost_usd":0.00655450}'
    )
    assert events_module._fast_fields(generated) is not None
    assert events_module._fast_fields(VALID) is not None


def test_names_the_fast_path_takes_are_not_stripped_by_pydantic() -> None:
    # The fast path lets pydantic handle an event_id that starts or ends with anything
    # str.isspace() calls whitespace; that must cover every character pydantic strips.
    stripped = TypeAdapter(Annotated[str, StringConstraints(strip_whitespace=True)])
    kept = [
        chr(code)
        for code in range(sys.maxunicode + 1)
        if not 0xD800 <= code <= 0xDFFF and not chr(code).isspace()
    ]
    assert all(stripped.validate_python(c) == c for c in kept)


def test_batch_items_the_fast_path_takes_grow_by_at_most_two_floats() -> None:
    # The batch loop skips measuring an item when the whole message plus this growth fits.
    item = (
        b'{"ts":2e9,"team":"t","user":"u","model":"m",'
        b'"input_tokens":0,"output_tokens":0,"cost_usd":1e-7}'
    )
    document = orjson.loads(item)
    assert events_module._fast_fields(document) is not None
    assert len(orjson.dumps(document)) <= len(item) + events_module._FAST_ITEM_GROWTH


def test_the_parsers_event_constructor_builds_the_same_event() -> None:
    fields = (1793610903.25, "t", "u", "m", "chat", 10, 5, 2, 0.25, None)
    # Every field of ParsedEvent, in order: a new field must be added to _parsed_event too.
    assert len(fields) == len(ParsedEvent.__slots__)
    built = events_module._parsed_event(*fields)
    assert built == ParsedEvent(*fields)
    assert [exact(getattr(built, name)) for name in ParsedEvent.__slots__] == [
        exact(v) for v in fields
    ]
    with pytest.raises(AttributeError):
        built.team = "other"  # type: ignore[misc]
