"""A worker killed with SIGKILL between deciding an alert and delivering it (or in the middle of
delivering it) delivers it exactly once after a restart. The outbox here is the file-backed
table; the worker's Kafka-backed tables give the same guarantee through the same code."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from alerts.dispatch import build_delivery
from alerts.store import JsonlFileTable
from tests.alerts.crash_worker import crash_config
from tests.alerts.fakes import FakePagerDuty, FakeSlack, Reply
from tests.alerts.helpers import make_alert

REPO = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 20.0


async def start_worker(
    state: Path, slack: FakeSlack, pd_url: str, mode: str
) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.alerts.crash_worker", str(state), slack.api_url, pd_url, mode,
        stdout=asyncio.subprocess.PIPE, env=env, cwd=REPO,
    )  # fmt: skip
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), WAIT_SECONDS)
    assert line.strip() == b"accepted"
    return process


async def kill(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGKILL)
    assert await process.wait() == -signal.SIGKILL


async def restart_and_drain(state: Path, slack: FakeSlack, pd_url: str) -> None:
    delivery = build_delivery(
        crash_config(slack.api_url, pd_url),
        outbox_table=JsonlFileTable(state / "outbox.jsonl"),
        ledger_table=JsonlFileTable(state / "ledger.jsonl"),
    )
    # The restarted worker sees the same alert again (its input was never acknowledged).
    assert delivery.accept(make_alert()) == []
    await asyncio.wait_for(delivery.relay.drain(), WAIT_SECONDS)
    await delivery.close()


async def test_killed_before_delivery_delivers_once_after_restart(
    slack: FakeSlack, pagerduty: FakePagerDuty, tmp_path: Path
) -> None:
    process = await start_worker(tmp_path, slack, pagerduty.events_url, "after-accept")
    await kill(process)
    assert slack.requests == [] and pagerduty.requests == []
    await restart_and_drain(tmp_path, slack, pagerduty.events_url)
    assert len(slack.posts()) == 1
    assert pagerduty.actions() == ["trigger"]


async def test_killed_while_posting_does_not_post_twice(slack: FakeSlack, tmp_path: Path) -> None:
    # Slack creates the message but holds the answer until the worker is dead.
    slack.script.append(Reply(delay=WAIT_SECONDS, process=True))
    process = await start_worker(tmp_path, slack, "", "deliver")
    for _ in range(int(WAIT_SECONDS * 20)):
        if slack.posts():
            break
        await asyncio.sleep(0.05)
    await kill(process)
    assert len(slack.posts()) == 1
    await restart_and_drain(tmp_path, slack, "")
    assert len(slack.posts()) == 1
    assert len(slack.calls("conversations.history")) == 1
