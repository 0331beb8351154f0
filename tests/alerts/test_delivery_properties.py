"""For any sequence of decisions (and transient failures on the way), PagerDuty sees exactly one
trigger and at most one resolve per paging episode, and Slack one message per episode, showing it
resolved once it resolved."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.clock import ManualClock
from alerts.lifecycle import LifecyclePolicy, TeamAlertLifecycle
from alerts.model import Alert
from alerts.outbox import InMemoryDeadLetters
from alerts.render import key_digest
from detectors.base import Finding
from tests.alerts.fakes import FakePagerDuty, FakeSlack, Reply
from tests.alerts.helpers import SLACK_TOKEN, T0, config_for, delivery_for

KEYS = [("team_surge", None), ("user_runaway", "ana"), ("model_cost_shift", None)]
PAGING = {"error", "critical"}
POLICY = LifecyclePolicy(for_windows=2, resolve_after_windows=2, repeat_interval_seconds=300)

severity = st.sampled_from(["info", "warning", "error", "critical"])
window = st.tuples(
    st.lists(st.one_of(st.none(), severity), min_size=len(KEYS), max_size=len(KEYS)),
    st.integers(min_value=0, max_value=90),  # wall-clock seconds until the next window
    st.booleans(),  # run a relay pass now
)
failure = st.builds(
    Reply,
    status=st.sampled_from([429, 500, 503]),
    retry_after=st.one_of(st.none(), st.integers(min_value=0, max_value=5).map(float)),
)


def episodes(alerts: list[Alert]) -> dict[str, list[list[Alert]]]:
    by_key: dict[str, list[list[Alert]]] = {}
    for alert in alerts:
        runs = by_key.setdefault(alert.dedup_key, [])
        if not runs or runs[-1][-1].status == "resolved":
            runs.append([])
        runs[-1].append(alert)
    return by_key


async def scenario(
    windows: list[tuple[list[str | None], int, bool]],
    slack_failures: list[Reply],
    pd_failures: list[Reply],
) -> None:
    slack, pagerduty = FakeSlack(token=SLACK_TOKEN), FakePagerDuty()
    await slack.start()
    await pagerduty.start()
    clock = ManualClock(T0)
    dead = InMemoryDeadLetters()
    delivery = delivery_for(config_for(slack, pagerduty), clock, dead_letters=dead)
    slack.script.extend(slack_failures)
    pagerduty.script.extend(pd_failures)
    lifecycle = TeamAlertLifecycle("search", policy=POLICY)
    decided: list[Alert] = []
    try:
        for index, (severities, advance, relay_now) in enumerate(windows):
            findings = [
                Finding(kind, sev, "total_tokens", 900.0, 100.0, 0.9, f"{kind} seen", user)  # type: ignore[arg-type]
                for (kind, user), sev in zip(KEYS, severities, strict=True)
                if sev is not None
            ]
            start = T0 + 60 * index
            for alert in lifecycle.decide(start, start + 60, start + 90, findings):
                decided.append(alert)
                delivery.accept(alert)
            clock.advance(advance)
            if relay_now:
                await delivery.relay.run_once()
        await delivery.relay.drain()
    finally:
        await delivery.close()
        await slack.stop()
        await pagerduty.stop()

    assert dead.entries == []
    posts = slack.posts()
    for key, runs in episodes(decided).items():
        # PagerDuty: one trigger per paging episode, one resolve if it was triggered and ended.
        expected: list[str] = []
        for run in runs:
            if any(a.status == "firing" and a.severity in PAGING for a in run):
                expected.append("trigger")
                if run[-1].status == "resolved":
                    expected.append("resolve")
        assert pagerduty.actions(key) == expected, key
        # Slack: one top-level message per episode.
        digest = key_digest(key)
        mine = [p for p in posts if p.metadata and digest in p.metadata["event_payload"]["keys"]]
        assert len(mine) == len(runs), key
        for run, message in zip(runs, mine, strict=True):
            kind = run[0].kind
            who = f"{run[0].user} in search" if run[0].user else "search"
            [line] = [ln for ln in message.text.splitlines() if f"] {kind} ({who})" in ln]
            assert line.startswith("[RESOLVED]") == (run[-1].status == "resolved"), (key, line)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    windows=st.lists(window, min_size=1, max_size=30),
    slack_failures=st.lists(failure, max_size=4),
    pd_failures=st.lists(failure, max_size=4),
)
def test_one_trigger_one_resolve_one_message_per_episode(
    windows: list[tuple[list[str | None], int, bool]],
    slack_failures: list[Reply],
    pd_failures: list[Reply],
) -> None:
    asyncio.run(scenario(windows, slack_failures, pd_failures))
