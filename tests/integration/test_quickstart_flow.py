"""Simulated traffic with a runaway agent raises a firing alert for its team within a minute."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson

from tests.integration.conftest import REPO, Service

START = "2026-11-23T10:00:00Z"  # a Monday: three working days of history, then Thursday


def test_simulated_runaway_agent_fires_an_alert_for_its_team_within_60_seconds(
    service: Service, tmp_path: Path
) -> None:
    service.extra_env["TOKENRADAR_DETECTOR"] = "usage"  # the detector the service runs
    service.cli("topics")
    log = tmp_path / "worker.log"
    service.start_worker(log)
    service.wait_for_health(lambda h: h["status"] == "ok", timeout=60)
    simulate_log = tmp_path / "simulate.log"
    started = time.monotonic()
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tokenradar",
            "simulate",
            "--to-kafka",
            "--seed",
            "11",
            "--teams",
            "8",
            # A quarter of the request rates: the worker gets through three days of history
            # (about 110,000 events) well within the minute, even on a slow machine (at half
            # the rates, 210,000 events, a worker on a slow two-core machine read half of them
            # in the minute). The test is of the flow; bench/ measures throughput.
            "--rate-scale",
            "0.25",
            "--start",
            START,
            "--history",
            "3d",
            "--duration",
            "2h",
            "--speedup",
            "600",
            "--incident",
            "runaway_agent@3d5m:30m,x=25",
        ],
        env=service.env(),
        cwd=REPO,
        stdout=simulate_log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        # The simulator prints the incident it injected before it sends anything.
        deadline = time.monotonic() + 30
        while "runaway_agent" not in simulate_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        line = next(x for x in simulate_log.read_text().splitlines() if "runaway_agent" in x)
        team = line.split()[1]
        records = service.consume(
            service.alerts_topic,
            until=lambda r: any(
                orjson.loads(v)["team"] == team and orjson.loads(v)["status"] == "firing"
                for _, v, _ in r
            ),
            timeout=60,
            worker_log=log,
        )
        elapsed = time.monotonic() - started
    finally:
        simulator.terminate()
        simulator.wait(timeout=30)
    assert elapsed < 60, f"alert took {elapsed:.1f} s"
    firing = [orjson.loads(v) for _, v, _ in records if orjson.loads(v)["team"] == team]
    assert firing[0]["status"] == "firing"
