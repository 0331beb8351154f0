from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenradar.events import Limits, parse_message
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
