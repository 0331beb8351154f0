"""A worker process for the crash tests: accepts one alert durably, then waits to be killed.

Usage: ``python -m tests.alerts.crash_worker STATE_DIR SLACK_API_URL PD_URL MODE`` where MODE is
``after-accept`` (stop before delivering) or ``deliver`` (start delivering; the test kills the
process while the Slack server holds the answer).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from pydantic import SecretStr

from alerts.config import AlertingConfig
from alerts.dispatch import build_delivery
from alerts.store import JsonlFileTable
from tests.alerts.helpers import ROUTING_KEY, SLACK_TOKEN, make_alert


def crash_config(slack_api_url: str, pd_url: str) -> AlertingConfig:
    return AlertingConfig(
        slack_token=SecretStr(SLACK_TOKEN),
        slack_api_url=slack_api_url,
        slack_channel="#ai-spend",
        pagerduty_routing_key=SecretStr(ROUTING_KEY) if pd_url else None,
        pagerduty_events_url=pd_url or "http://127.0.0.1:9/v2/enqueue",
        group_wait_seconds=0,
        http_timeout_seconds=30,
        retry_base_delay_seconds=0.05,
        retry_max_delay_seconds=0.2,
    )


async def main(state: Path, slack_api_url: str, pd_url: str, mode: str) -> None:
    delivery = build_delivery(
        crash_config(slack_api_url, pd_url),
        outbox_table=JsonlFileTable(state / "outbox.jsonl"),
        ledger_table=JsonlFileTable(state / "ledger.jsonl"),
    )
    delivery.accept(make_alert())
    print("accepted", flush=True)
    if mode == "deliver":
        await delivery.relay.run_once()
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]))
