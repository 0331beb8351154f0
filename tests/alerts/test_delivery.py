from __future__ import annotations

import logging

import orjson
import pytest

from alerts.clock import ManualClock
from alerts.outbox import InMemoryDeadLetters
from alerts.render import key_digest
from tests.alerts.fakes import FakePagerDuty, FakeSlack, Reply
from tests.alerts.helpers import ROUTING_KEY, config_for, delivery_for, make_alert


async def test_first_fire_posts_one_message_and_triggers_pagerduty(
    slack: FakeSlack, pagerduty: FakePagerDuty, clock: ManualClock
) -> None:
    delivery = delivery_for(config_for(slack, pagerduty), clock)
    alert = make_alert(user="ana", kind="user_runaway")
    entries = delivery.accept(alert, series=[1, 2, 3, 9])
    assert {e.target for e in entries} == {"slack:#ai-spend", "pagerduty:defaults"}
    await delivery.relay.run_once()
    # The page goes at once; the Slack message waits for the group window.
    assert pagerduty.actions() == ["trigger"]
    assert slack.posts() == []
    report = await delivery.relay.drain()
    assert report.dead_lettered == 0
    [message] = slack.posts()
    assert message.channel == "CAI-SPEND"
    assert message.blocks[0]["type"] == "header"
    assert "user_runaway" in message.text and "412,000" in message.text
    assert any("▁" in orjson.dumps(b).decode() for b in message.blocks)  # the sparkline
    [event] = pagerduty.events
    assert event["routing_key"] == ROUTING_KEY
    assert event["dedup_key"] == "search:user_runaway:ana"
    assert event["payload"]["severity"] == "error"
    assert event["payload"]["custom_details"]["observed"] == 412_000.0
    await delivery.close()


async def test_alerts_of_a_team_within_the_group_wait_share_a_message(
    slack: FakeSlack, pagerduty: FakePagerDuty, clock: ManualClock
) -> None:
    delivery = delivery_for(config_for(slack, None), clock)
    delivery.accept(make_alert(kind="team_surge"))
    clock.advance(10)
    delivery.accept(make_alert(kind="user_runaway", user="ana"))
    delivery.accept(make_alert(team="ads", kind="team_surge"))
    clock.advance(25)  # the first group closed; a new one opens
    delivery.accept(make_alert(kind="model_cost_shift"))
    await delivery.relay.drain()
    posts = slack.posts()
    keys = [p.metadata["event_payload"]["keys"] for p in posts if p.metadata]
    expected = [
        ["ads:team_surge"],
        ["search:model_cost_shift"],
        ["search:team_surge", "search:user_runaway:ana"],
    ]
    assert sorted(map(sorted, keys)) == sorted(sorted(map(key_digest, k)) for k in expected)
    await delivery.close()


async def test_repeat_and_escalation_update_the_message_and_reply_in_its_thread(
    slack: FakeSlack, pagerduty: FakePagerDuty, clock: ManualClock
) -> None:
    delivery = delivery_for(config_for(slack, pagerduty), clock)
    delivery.accept(make_alert(severity="warning", window=0))
    await delivery.relay.drain()
    assert pagerduty.actions() == []  # warnings do not page
    delivery.accept(make_alert(severity="warning", window=240))  # repeat after 4 h
    delivery.accept(make_alert(severity="critical", window=241))  # escalation
    await delivery.relay.drain()
    [message] = slack.posts()
    assert message.updates == 2
    replies = [r.text for r in slack.replies(message.ts)]
    assert replies[0].startswith("🟡 Still firing")
    assert replies[1].startswith("🔴 Escalated to *critical*")
    assert pagerduty.actions() == ["trigger"]  # the first paging severity triggers
    await delivery.close()


async def test_resolve_updates_the_message_and_resolves_pagerduty(
    slack: FakeSlack, pagerduty: FakePagerDuty, clock: ManualClock
) -> None:
    delivery = delivery_for(config_for(slack, pagerduty), clock)
    delivery.accept(make_alert(window=0))
    await delivery.relay.drain()
    clock.advance(600)
    delivery.accept(make_alert("resolved", window=10))
    await delivery.relay.drain()
    [message] = slack.posts()
    assert message.updates == 1 and message.text.startswith("[RESOLVED]")
    assert message.blocks[0]["text"]["text"].startswith("✅ Resolved")
    [reply] = slack.replies(message.ts)
    assert reply.text.startswith("✅ Resolved")
    assert pagerduty.actions("search:team_surge") == ["trigger", "resolve"]
    assert pagerduty.events[1]["routing_key"] == ROUTING_KEY
    # A new episode of the same key gets a new message.
    delivery.accept(make_alert(window=30))
    await delivery.relay.drain()
    assert len(slack.posts()) == 2
    assert pagerduty.actions() == ["trigger", "resolve", "trigger"]
    await delivery.close()


async def test_two_minute_outage_then_recovery_loses_and_doubles_nothing(
    slack: FakeSlack, pagerduty: FakePagerDuty, clock: ManualClock
) -> None:
    outage_ends = clock.now() + 120
    slack.down = pagerduty.down = lambda: clock.now() < outage_ends
    delivery = delivery_for(config_for(slack, pagerduty), clock)
    for window, kind in enumerate(["team_surge", "model_cost_shift"]):
        delivery.accept(make_alert(kind=kind, window=window))
    clock.advance(60)
    delivery.accept(make_alert("resolved", kind="team_surge", window=20))
    report = await delivery.relay.drain()
    assert report.dead_lettered == 0 and report.rescheduled > 2
    assert clock.now() >= outage_ends
    assert sum(r.answered == 503 for r in slack.requests + pagerduty.requests) > 2
    [message] = slack.posts()
    assert message.metadata is not None
    assert sorted(message.metadata["event_payload"]["keys"]) == sorted(
        key_digest(k) for k in ["search:model_cost_shift", "search:team_surge"]
    )
    assert pagerduty.actions("search:team_surge") == ["trigger", "resolve"]
    assert pagerduty.actions("search:model_cost_shift") == ["trigger"]
    await delivery.close()


async def test_unreachable_server_is_retried(clock: ManualClock) -> None:
    pagerduty = FakePagerDuty()
    await pagerduty.start()
    port = pagerduty.port
    await pagerduty.stop()  # nothing listens: connection refused
    config = config_for(None, pagerduty)
    delivery = delivery_for(config, clock)
    delivery.accept(make_alert())
    report = await delivery.relay.run_once()
    assert report.rescheduled == 1 and "cannot connect" in report.failures[0]
    pagerduty.port = port
    await pagerduty.start()
    await delivery.relay.drain()
    assert pagerduty.actions() == ["trigger"]
    await pagerduty.stop()
    await delivery.close()


async def test_429_storm_honours_retry_after_and_sends_once(
    slack: FakeSlack, pagerduty: FakePagerDuty, clock: ManualClock
) -> None:
    slack.script.extend([Reply(status=429, retry_after=3)] * 5)
    pagerduty.script.extend([Reply(status=429, retry_after=2)] * 8)
    delivery = delivery_for(config_for(slack, pagerduty), clock)
    delivery.accept(make_alert())
    start = clock.now()
    report = await delivery.relay.drain()
    assert report.dead_lettered == 0
    assert len(slack.posts()) == 1
    assert pagerduty.actions() == ["trigger"]
    assert sum(r.answered == 429 for r in pagerduty.requests) == 8
    # Eight Retry-After: 2 answers in a row cannot have been retried in under 16 s.
    assert clock.now() - start >= 16
    await delivery.close()


async def test_permanent_400_is_dead_lettered_and_not_retried(
    slack: FakeSlack, pagerduty: FakePagerDuty, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    pagerduty.script.append(Reply(status=400))
    slack.script.append(Reply(error="channel_not_found"))
    dead = InMemoryDeadLetters()
    delivery = delivery_for(config_for(slack, pagerduty), clock, dead_letters=dead)
    delivery.accept(make_alert())
    with caplog.at_level(logging.ERROR, logger="alerts"):
        report = await delivery.relay.drain()
    assert report.dead_lettered == 2
    assert len(pagerduty.requests) == 1 and len(slack.requests) == 1
    reasons = sorted(reason for _, reason in dead.entries)
    assert "HTTP 400" in reasons[0] and "slack: channel_not_found" in reasons[1]
    assert sum("dead-lettered" in r.getMessage() for r in caplog.records) == 2
    assert delivery.relay.next_due() is None  # nothing left to retry
    # The resolve of an episode that never reached a target sends nothing there.
    delivery.accept(make_alert("resolved", window=9))
    await delivery.relay.drain()
    assert len(pagerduty.requests) == 1 and slack.posts() == []
    await delivery.close()


async def test_deadline_dead_letters_an_endless_outage(
    pagerduty: FakePagerDuty, clock: ManualClock
) -> None:
    pagerduty.down = lambda: True
    dead = InMemoryDeadLetters()
    config = config_for(None, pagerduty, delivery_deadline_seconds=600)
    delivery = delivery_for(config, clock, dead_letters=dead)
    delivery.accept(make_alert())
    await delivery.relay.drain()
    [(_, reason)] = dead.entries
    assert reason.startswith("deadline passed")
    await delivery.close()


async def test_user_controlled_strings_cannot_mention_anyone(
    slack: FakeSlack, clock: ManualClock
) -> None:
    delivery = delivery_for(config_for(slack, None), clock)
    delivery.accept(
        make_alert(
            team="<!channel>",
            kind="user_runaway",
            user="<@U0ADMIN> & <#C0GENERAL> <!here>",
            summary="<!everyone> @channel used <https://evil.example|a link>",
        )
    )
    await delivery.relay.drain()
    [request] = slack.calls("chat.postMessage")
    sent = request.raw.decode()
    for forbidden in ("<!channel>", "<!here>", "<!everyone>", "<@U0ADMIN>", "<#C0GENERAL>",
                      "<https://evil", "@channel"):  # fmt: skip
        assert forbidden not in sent
    assert "&lt;!channel&gt;" in sent
    await delivery.close()


async def test_slow_answer_is_not_posted_twice(slack: FakeSlack, clock: ManualClock) -> None:
    # The server posts the message but answers after the client gave up.
    slack.script.append(Reply(delay=1.0, status=200, process=True))
    delivery = delivery_for(config_for(slack, None, http_timeout_seconds=0.2), clock)
    delivery.accept(make_alert())
    report = await delivery.relay.drain()
    assert report.dead_lettered == 0
    assert any("no answer in time" in f for f in report.failures)
    assert len(slack.posts()) == 1
    assert len(slack.calls("conversations.history")) == 1
    # The episode is known, so the resolve updates that one message.
    delivery.accept(make_alert("resolved", window=9))
    await delivery.relay.drain()
    [message] = slack.posts()
    assert message.updates == 1
    await delivery.close()


async def test_slow_answer_within_the_timeout_is_fine(slack: FakeSlack, clock: ManualClock) -> None:
    slack.script.append(Reply(delay=0.1))
    delivery = delivery_for(config_for(slack, None, http_timeout_seconds=2), clock)
    delivery.accept(make_alert())
    report = await delivery.relay.drain()
    assert report.failures == [] and len(slack.posts()) == 1
    await delivery.close()


async def test_deliver_alerts_for_replay_prints_to_the_console_without_tokens() -> None:
    import io

    from rich.console import Console

    from alerts.config import AlertingConfig
    from alerts.dispatch import deliver_alerts

    out = io.StringIO()
    report = await deliver_alerts(
        [make_alert(user="[bold]x"), make_alert("resolved", window=9)],
        AlertingConfig(),
        console=Console(file=out, width=200),
    )
    assert report.delivered == 2
    printed = out.getvalue()
    assert "ERROR" in printed and "RESOLVED" in printed and "user=[bold]x" in printed
