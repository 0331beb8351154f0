from __future__ import annotations

import orjson

from alerts.render import (
    SLACK_MAX_BLOCKS,
    SLACK_MAX_SECTION_CHARS,
    AlertView,
    escape_slack,
    pagerduty_trigger,
    slack_message,
    truncate,
)
from tests.alerts.helpers import make_alert


def test_escaping_defuses_every_mention_form() -> None:
    for raw in ["<!channel>", "<!here|here>", "<@U123>", "<#C123|general>", "<!subteam^S1>"]:
        assert "<" not in escape_slack(raw) and ">" not in escape_slack(raw)
    assert escape_slack("@channel hi") == "@\u200bchannel hi"
    assert escape_slack("a&b") == "a&amp;b"


def test_truncate_does_not_split_an_entity() -> None:
    text = escape_slack("x" * 8 + "&&&")
    cut = truncate(text, 12)
    assert cut.endswith("…") and "&am…" not in cut and len(cut) <= 12


def test_message_stays_within_slack_limits() -> None:
    huge = "<!channel>" * 1000
    views = [
        AlertView(make_alert(kind=f"k{i}", user=huge, summary=huge), series=tuple(range(100)))
        for i in range(40)
    ]
    message = slack_message(views)
    assert len(message["blocks"]) <= SLACK_MAX_BLOCKS
    for block in message["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= SLACK_MAX_SECTION_CHARS
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
    assert "more alerts" in orjson.dumps(message["blocks"][-1]).decode()
    assert len(message["text"]) <= 3000
    assert "<!channel>" not in orjson.dumps(message).decode()


def test_pagerduty_summary_is_capped() -> None:
    event = pagerduty_trigger(make_alert(summary="s" * 5000), "key", [("Dashboard", "https://d")])
    assert len(event["payload"]["summary"]) <= 1024
    assert event["links"] == [{"href": "https://d", "text": "Dashboard"}]
