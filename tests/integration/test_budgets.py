"""Budgets on the real broker: a killed worker neither repeats nor loses a threshold crossing.

Both the teams' and the organisation's: the organisation's budget is summed from team snapshots
in one partition (stream/org_budget.py), and its crossings must survive the kill as well.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import time
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from alerts.model import dedup_key_for
from detectors.placeholder import EWZScoreFactory
from tests.integration.conftest import Service
from tests.traffic import team_of
from tokenradar.core.budgets import THRESHOLD_KIND, BudgetConfig, budget_alert_id
from tokenradar.core.engine import CoreConfig
from tokenradar.core.org_budget import ORG_TEAM
from tokenradar.core.router import Core

TEAMS_FILE = """
[org]
timezone = "America/Los_Angeles"
# About $640 of traffic in each month: the organisation crosses 50% and 80%, not 100%.
monthly_budget_usd = 700

[teams."team-0"]
monthly_budget_usd = 100
hard_budget = true

[teams."team-1"]
monthly_budget_usd = 120
monthly_token_allocation = 20000000

[teams."team-2"]
monthly_budget_usd = 90
thresholds_pct = [25, 50, 75, 100]

[teams."team-3"]
monthly_budget_usd = 150
"""
# 20:00 on November 30 in Los Angeles (04:00 UTC on December 1): four hours of November, then
# four of December.
START = datetime(2026, 11, 30, 20, tzinfo=ZoneInfo("America/Los_Angeles")).timestamp()


def budget_traffic(seed: int = 5, hours: float = 8.0, step: float = 0.3) -> list[bytes]:
    """About $40 an hour per team, events a little out of order, 1% sent twice."""
    rng = random.Random(seed)
    messages: list[bytes] = []
    second = 0.0
    n = 0
    while second < hours * 3600:
        team = f"team-{rng.randrange(4)}"
        tokens = int(rng.lognormvariate(7, 0.5))
        messages.append(
            orjson.dumps(
                {
                    "ts": START + second + rng.uniform(-10, 0),
                    "team": team,
                    "user": f"{team}-user-{rng.randrange(6)}",
                    "model": rng.choice(["claude-sonnet-4", "gpt-5-mini"]),
                    "input_tokens": tokens,
                    "output_tokens": tokens // 4,
                    "cost_usd": round(rng.uniform(0.0, 0.0267), 6),
                    "event_id": f"b{seed}-{n}",
                }
            )
        )
        n += 1
        if rng.random() < 0.01:
            messages.append(messages[-1])
        second += step
    return messages


def expected_run(messages: list[bytes], partitions: int) -> tuple[list[Any], Core]:
    config = CoreConfig(budgets=BudgetConfig.parse(TEAMS_FILE))
    core = Core(config, EWZScoreFactory(), partitions)
    offsets = [0] * partitions
    alerts = []
    for message in messages:
        partition = core.partition_of(team_of(message).decode())
        alerts.extend(core.handle(partition, offsets[partition], message).alerts)
        offsets[partition] += 1
    return alerts, core


def org_spend_by_period(messages: list[bytes]) -> dict[str, float]:
    """The organisation's spend per month in Los Angeles, each event counted once."""
    seen: set[str] = set()
    totals: dict[str, float] = {}
    for message in messages:
        event = orjson.loads(message)
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        local = datetime.fromtimestamp(event["ts"], ZoneInfo("America/Los_Angeles"))
        totals[f"{local:%Y-%m}"] = totals.get(f"{local:%Y-%m}", 0.0) + event["cost_usd"]
    return totals


def expected_org_alert_ids(messages: list[bytes]) -> dict[str, tuple[str, str, float | None]]:
    """The organisation's crossings: alert id -> (status, period, level).

    The period change's ``resolved`` is left out: whether November has crossed a level when the
    first December snapshot arrives depends on how far each partition got (they catch up at
    different speeds), so it may come before any November crossing and have nothing to resolve.
    """
    config = BudgetConfig.parse(TEAMS_FILE)
    budget = float(config.org_monthly_budget_usd or 0.0)
    firing = dedup_key_for(ORG_TEAM, THRESHOLD_KIND, None)
    expected: dict[str, tuple[str, str, float | None]] = {}
    periods = sorted(org_spend_by_period(messages).items())
    for period, spent in periods:
        for level in config.org_thresholds_pct:
            # Far enough from every level that the spend of windows still open at the end of
            # the stream (or cut off by a checkpoint at the month boundary) cannot matter.
            assert abs(100.0 * spent / budget - level) > 5.0
            if 100.0 * spent / budget >= level:
                key = budget_alert_id(firing, "firing", period, f"usd:{level:g}")
                expected[key] = ("firing", period, level)
    return expected


def period_of(window_start: str) -> str:
    """The budget period (a month in the organisation's time zone) of a window."""
    local = datetime.fromisoformat(window_start).astimezone(ZoneInfo("America/Los_Angeles"))
    return f"{local:%Y-%m}"


def budgets_page(service: Service) -> list[dict[str, Any]] | None:
    try:
        url = f"http://127.0.0.1:{service.web_port}/budgets"
        with urllib.request.urlopen(url, timeout=1) as response:
            teams: list[dict[str, Any]] = json.load(response)["teams"]
            return teams
    except (OSError, ValueError):
        return None


def test_thresholds_fire_once_per_period_through_a_sigkill(
    service: Service, tmp_path: Path
) -> None:
    teams_file = tmp_path / "teams.toml"
    teams_file.write_text(TEAMS_FILE)
    service.extra_env["TOKENRADAR_TEAMS_FILE"] = str(teams_file)
    messages = budget_traffic()
    expected_alerts, expected_core = expected_run(messages, service.partitions)
    expected = {a.alert_id: a.model_dump(mode="json") for a in expected_alerts}
    budget_ids = {i for i, a in expected.items() if a["kind"].startswith("budget_")}
    assert len(budget_ids) >= 20  # crossings in both months, for every team
    org_expected = expected_org_alert_ids(messages)
    assert sorted(org_expected.values(), key=str) == sorted(
        [("firing", "2026-11", 50.0), ("firing", "2026-11", 80.0),
         ("firing", "2026-12", 50.0), ("firing", "2026-12", 80.0)], key=str
    )  # fmt: skip
    service.cli("topics")
    service.produce(messages, key=team_of)
    log = tmp_path / "worker.log"
    first = service.start_worker(log)
    # The kill comes after the organisation announced its first crossing, so the restarted
    # worker must know that it did.
    service.consume(
        service.alerts_topic,
        until=lambda r: any(orjson.loads(v)["team"] == ORG_TEAM for _, v, _ in r),
        timeout=120,
        worker_log=log,
    )
    # ... once a third of the events are in and team states are checkpointed.
    service.wait_for_checkpointed(len(messages) // 3, timeout=90)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    service.start_worker(log)
    # The restarted worker restores the checkpointed states and reads the rest of the stream:
    # its budgets page ends where an offline run of the same events ends. (The first worker may
    # have announced every crossing before the kill; without this wait the checks below could
    # run before the second worker had done anything.)
    wanted = sorted(
        (processor.budget_snapshot(team) for processor in expected_core.processors.values()
         for team in processor.teams),
        key=lambda d: str(d["team"]),
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while budgets_page(service) != wanted and time.monotonic() < deadline:
        time.sleep(0.2)
    assert budgets_page(service) == wanted, f"worker /health: {service.health()}"
    try:
        records = service.consume(
            service.alerts_topic,
            until=lambda r: (
                {orjson.loads(v)["alert_id"] for _, v, _ in r} >= set(expected) | set(org_expected)
            ),
            timeout=120,
            worker_log=log,
        )
    except pytest.fail.Exception:
        # Name what is missing (printed with the failure), not only how many records there are.
        everything = service.consume(service.alerts_topic, until=lambda r: True, timeout=30)
        seen = {orjson.loads(v)["alert_id"] for _, v, _ in everything}
        for alert_id in sorted((set(expected) | set(org_expected)) - seen):
            described = expected[alert_id]["summary"] if alert_id in expected else None
            print(f"missing alert {alert_id}: {described or org_expected[alert_id]}")
        raise
    live: dict[str, dict[str, Any]] = {}
    for _, value, _ in records:
        alert = orjson.loads(value)
        if alert["team"] == ORG_TEAM:
            continue
        # A repeat after the crash is the same alert, byte for byte.
        assert live.setdefault(alert["alert_id"], alert) == alert
    assert live == expected
    # No message was lost between the consumer and the agent (docs/kafka.md).
    assert "were not delivered to the agent" not in log.read_text()
    # The second worker resumed from the checkpointed team states (budgets included).
    assert sum(int(n) for n in re.findall(r"restored: (\d+) teams", log.read_text())) > 0
    crossings = Counter(
        (a["team"], a["metric"], a["threshold_pct"], period_of(a["window_start"]))
        for a in live.values()
        if a["kind"] == "budget_threshold" and a["status"] == "firing"
    )
    assert max(crossings.values()) == 1
    assert {period for *_, period in crossings} == {"2026-11", "2026-12"}
    # November crossings in Los Angeles time, though the stream was all December in UTC.
    assert any(a["window_start"].startswith("2026-12-01T0") and "2026-11" in a["summary"]
               for a in live.values() if a["kind"] == "budget_threshold")  # fmt: skip

    # Where teams stand: `tokenradar status` reads the budgets topic.
    deadline = time.monotonic() + 30
    while True:
        status = json.loads(service.cli("status", "--json").stdout)
        if len(status["teams"]) == 4 and all(t["period"] == "2026-12" for t in status["teams"]):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"status never showed December for every team: {status}")
        time.sleep(1)
    assert status["organisation"]["budget_usd"] == 700

    # The organisation: every crossing announced under its one alert id, the kill
    # notwithstanding (read again now that the worker has had time to repeat anything it would
    # repeat). A kill between an announcement and the mark that records it repeats the
    # announcement under the same id, which the outbox and consumers recognise, and never loses
    # it (stream/org_budget.py): one kill, one repeat of an announcement at the most.
    records = service.consume(service.alerts_topic, until=lambda r: True, timeout=30)
    org_alerts = [orjson.loads(v) for _, v, _ in records]
    org_alerts = [a for a in org_alerts if a["team"] == ORG_TEAM]
    resolved = budget_alert_id(
        dedup_key_for(ORG_TEAM, THRESHOLD_KIND, None), "resolved", "2026-11", ""
    )
    counts = Counter(a["alert_id"] for a in org_alerts)
    assert counts.pop(resolved, 0) <= 2
    assert set(counts) == set(org_expected)
    assert max(counts.values()) <= 2
    for alert in org_alerts:
        if alert["alert_id"] == resolved:
            assert alert["status"] == "resolved"
            continue
        status_, period, level = org_expected[alert["alert_id"]]
        assert (alert["status"], alert["threshold_pct"]) == (status_, level)
        assert alert["dedup_key"] == f"{ORG_TEAM}:budget_threshold"
        if status_ == "firing":
            assert alert["budget_usd"] == 700
            assert level * 7 <= alert["spent_usd"] < 700
            assert period_of(alert["window_start"]) == period
            assert alert["window_start"] == {
                "2026-11": "2026-11-01T07:00:00Z", "2026-12": "2026-12-01T08:00:00Z"
            }[period]  # fmt: skip
            shares = alert["top_contributors"]
            assert shares and {c["dimension"] for c in shares} == {"team"}
            assert {c["name"] for c in shares} <= {f"team-{i}" for i in range(4)}
    table = service.cli("status").stdout.decode()
    for column in ("team", "spent", "budget", "percent", "projected", "runs out on", "team-3"):
        assert column in table
