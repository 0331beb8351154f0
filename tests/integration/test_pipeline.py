"""The foundation's promises, on the real broker."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

import orjson
import pytest

from detectors.placeholder import EWZScoreFactory
from tests.integration.conftest import Service
from tests.traffic import synthetic_messages, team_of
from tokenradar.core.engine import CoreConfig
from tokenradar.replay import replay_messages

CONFIG = CoreConfig()


def window_keys(
    records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]],
) -> dict[tuple[str, float], dict[str, object]]:
    windows: dict[tuple[str, float], dict[str, object]] = {}
    for _, value, _ in records:
        record = orjson.loads(value)
        key = (record["team"], record["window_start"])
        # A window produced again after a restart must be the same window.
        assert windows.setdefault(key, record) == record
    return windows


def test_malformed_input_lands_in_the_dead_letter_topic_with_reasons(
    service: Service, tmp_path: Path
) -> None:
    service.cli("topics")
    log = tmp_path / "worker.log"
    service.start_worker(log)
    good = synthetic_messages(seed=1, minutes=2, teams=2)
    bad = [
        b"{not json",
        orjson.dumps({"team": "a", "user": "u"}),
        orjson.dumps(
            {
                "ts": "2026-11-02T00:00:00Z",
                "team": "a",
                "user": "u",
                "model": "m",
                "input_tokens": -5,
                "output_tokens": 1,
            }
        ),
        b"[1, 2]",
    ]
    service.produce(good + bad, key=lambda m: team_of(m) if m in good else b"team-0")
    records = service.consume(
        service.dead_letter_topic, until=lambda r: len(r) >= 5, timeout=60, worker_log=log
    )
    reasons = [dict(headers)["reason"].decode() for _, _, headers in records]
    values = [value for _, value, _ in records]
    assert values[:3] == bad[:3]
    assert any("invalid JSON" in r for r in reasons)
    assert any("Field required" in r for r in reasons)
    assert any("input_tokens" in r for r in reasons)
    assert sum("batch item" in r for r in reasons) == 2
    assert all(dict(h)["source"].decode().startswith(service.usage_topic) for _, _, h in records)


# With a tiny round size every checkpoint writes a few teams and leaves the rest to the next
# ones, so partitions are acknowledged only now and then while their teams are written ahead.
# With the state directory lost as well, the second worker has only the changelog topics to
# restore from: every team-state record the first one wrote must be there, under its partition.
@pytest.mark.parametrize(
    ("round_bytes", "lose_state_dir"),
    [(None, False), ("2048", False), (None, True)],
    ids=["default-rounds", "tiny-rounds", "state-dir-lost"],
)
def test_sigkilled_worker_resumes_without_losing_or_changing_a_window(
    service: Service, tmp_path: Path, round_bytes: str | None, lose_state_dir: bool
) -> None:
    if round_bytes is not None:
        service.extra_env["TOKENRADAR_CHECKPOINT_ROUND_BYTES"] = round_bytes
    messages = synthetic_messages(seed=7, minutes=360, teams=9, step_seconds=0.15)
    expected = replay_messages(messages, CONFIG, EWZScoreFactory(), service.partitions)
    expected_windows = {(w.summary.team, w.summary.start): w.to_record() for w in expected.windows}
    service.cli("topics")
    service.produce(messages, key=team_of)
    log = tmp_path / "worker.log"
    first = service.start_worker(log)
    # Kill it mid-stream: once it has applied a third of the events (and checkpointed team
    # states), long before the end.
    service.wait_for_checkpointed(len(messages) // 3, timeout=90)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    if lose_state_dir:
        shutil.rmtree(service.data_dir)
    service.start_worker(log)
    records = service.consume(
        service.windows_topic,
        until=lambda r: set(window_keys(r)) >= set(expected_windows),
        timeout=120,
        worker_log=log,
    )
    assert window_keys(records) == expected_windows
    # No message fetched around the restart was thrown away (docs/kafka.md).
    assert "were not delivered to the agent" not in log.read_text()
    # The second worker resumed from checkpointed state rather than starting over.
    restored = [int(n) for n in re.findall(r"restored: (\d+) teams", log.read_text())]
    assert sum(restored) > 0
    # /health shows a consumer that hands messages on: recovered, flowing, nothing paused.
    health = service.health()
    assert health is not None
    consumer = health["consumer"]
    assert consumer["recovered"] and consumer["flow_active"] and consumer["streams_active"]
    usage = {tp for tp in consumer["assigned"] if tp.startswith(f"{service.usage_topic}:")}
    assert len(usage) == service.partitions
    assert not usage & set(consumer["paused"])
    alerts = service.consume(
        service.alerts_topic,
        until=lambda r: (
            {orjson.loads(v)["alert_id"] for _, v, _ in r} >= {a.alert_id for a in expected.alerts}
        ),
        timeout=30,
        worker_log=log,
    )
    assert {orjson.loads(v)["alert_id"] for _, v, _ in alerts} == {
        a.alert_id for a in expected.alerts
    }


def test_live_worker_and_replay_raise_the_same_alerts(service: Service, tmp_path: Path) -> None:
    messages = synthetic_messages(seed=23, minutes=480, teams=6, step_seconds=1.0)
    expected = replay_messages(messages, CONFIG, EWZScoreFactory(), service.partitions)
    assert any(a.status == "firing" for a in expected.alerts)
    service.cli("topics")
    log = tmp_path / "worker.log"
    service.start_worker(log)
    started = time.monotonic()
    service.produce(messages, key=team_of)
    wanted = {a.alert_id for a in expected.alerts}
    records = service.consume(
        service.alerts_topic,
        until=lambda r: {orjson.loads(v)["alert_id"] for _, v, _ in r} >= wanted,
        timeout=120,
        worker_log=log,
    )
    live = {}
    for key, value, _ in records:
        alert = orjson.loads(value)
        assert key == alert["dedup_key"].encode()
        live[alert["alert_id"]] = alert
    assert live == {a.alert_id: a.model_dump(mode="json") for a in expected.alerts}
    assert time.monotonic() - started < 120
