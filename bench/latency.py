"""Closing-event-to-alert latency under a steady load.

A producer sends ``rate`` events per second with event time = wall time, so windows close in
real time: a window ``[start, end)`` of a partition closes when the partition's first event with
event time ``>= end + allowed lateness`` is processed. The producer remembers when it sent that
closing event for every partition and window end. A few times per window it sends a trigger: one
event of :data:`bench.trigger_worker.TRIGGER_TOKENS` tokens from a user who has not triggered
before, which the benchmark worker fires a ``budget_exhausted`` alert for when the window closes.
A consumer on the alerts topic stamps each alert as it arrives. The latency of an alert is its
arrival time less the send time of the closing event of its partition and window.

With ``window_phase="spread"`` (the worker's ``TOKENRADAR_WINDOW_PHASE``) each team's windows
are shifted by its :func:`tokenradar.core.engine.window_offset`, so the producer notes the send
time of the first event past every whole second of each partition's event time, and a trigger's
window end is its team's.

In the ``batched`` form the producer behaves like a gateway that ships telemetry in arrays: every
tick it sends, per partition, one message holding that tick's events of the partition's teams
(the worker accepts arrays of several teams when they all belong to the message's partition).
A closing event's send time is then the send time of the array that carries it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.generate import ALLOWED_LATENESS_SECONDS, MODELS, TOOLS, WINDOW_SECONDS, Organisation
from bench.trigger_worker import TRIGGER_TOKENS
from tokenradar.core.engine import window_offset

log = logging.getLogger(__name__)

TICK_SECONDS = 0.01


@dataclass
class LatencyRun:
    """What the steady producer and the alerts consumer saw."""

    rate: float
    seconds: float
    sent: int = 0
    # (partition, window end) -> wall time the closing event was sent
    closing_sent: dict[tuple[int, float], float] = field(default_factory=dict)
    # (team, user, window end) of every trigger sent
    triggers: list[tuple[str, str, float]] = field(default_factory=list)
    # (team, user, window end) -> (arrival wall time, broker CreateTime of the alert record)
    alerts: dict[tuple[str, str, float], tuple[float, float]] = field(default_factory=dict)
    max_send_lag: float = 0.0
    form: str = "object"
    window_phase: str = "aligned"
    messages: int = 0

    def latencies(self, partition_of: dict[str, int]) -> tuple[list[float], list[float], int]:
        """Arrival and CreateTime latencies of matched alerts, and the missing-alert count."""
        arrival: list[float] = []
        created: list[float] = []
        missing = 0
        for team, user, end in self.triggers:
            seen = self.alerts.get((team, user, end))
            closing = self.closing_sent.get((partition_of[team], end))
            if seen is None or closing is None:
                missing += 1
                continue
            arrival.append(seen[0] - closing)
            created.append(seen[1] - closing)
        return arrival, created, missing


async def _produce(
    run: LatencyRun,
    org: Organisation,
    bootstrap: str,
    topic: str,
    warmup_seconds: float,
    triggers_per_window: int,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=2)
    await producer.start()
    rng = np.random.default_rng(org.seed + 7)
    pool = 1_000_000
    users = rng.choice(org.users, pool, p=org.user_weight).tolist()
    models = rng.choice(len(MODELS), pool).tolist()
    tools = rng.choice(len(TOOLS), pool).tolist()
    inputs = np.minimum(rng.lognormal(np.log(2500), 1.0, pool), 400_000).astype(int).tolist()
    outputs = np.minimum(rng.lognormal(np.log(450), 0.9, pool), 64_000).astype(int).tolist()
    team_of = org.team_of_user.tolist()
    team_keys = [name.encode() for name in org.team_names]
    offsets = [window_offset(name, WINDOW_SECONDS, run.window_phase) for name in org.team_names]
    part = org.team_partition
    # per partition, the last whole second of event time (less the lateness) reached
    closed_upto = [-1] * (max(part) + 1)
    used: set[int] = set()
    chooser = random.Random(org.seed)
    trigger_at: list[float] = []
    batched = run.form == "batched"
    # batched form: per partition, this tick's event JSON and the window ends it closes
    tick_values: list[list[bytes]] = [[] for _ in closed_upto]
    tick_closes: list[list[float]] = [[] for _ in closed_upto]
    tick_keys: list[bytes] = [b""] * len(closed_upto)
    started = time.time()
    index = 0
    try:
        while True:
            now = time.time()
            elapsed = now - started
            if elapsed >= run.seconds:
                break
            due = int(elapsed * run.rate) - run.sent
            if due > run.rate:  # fell more than a second behind
                run.max_send_lag = max(run.max_send_lag, due / run.rate)
            if not trigger_at and elapsed >= warmup_seconds:
                window_start = (now // WINDOW_SECONDS) * WINDOW_SECONDS
                trigger_at = sorted(
                    window_start + WINDOW_SECONDS + chooser.uniform(1, WINDOW_SECONDS - 1)
                    for _ in range(triggers_per_window)
                )
            for _ in range(max(0, due)):
                ts = time.time()
                trigger = bool(trigger_at) and ts >= trigger_at[0]
                if trigger:
                    user = chooser.randrange(org.users)
                    while user in used:
                        user = chooser.randrange(org.users)
                    offset = offsets[team_of[user]]
                    window_end = ((ts - offset) // WINDOW_SECONDS + 1) * WINDOW_SECONDS + offset
                    # Only triggers whose window closes while the producer still runs.
                    trigger = window_end + ALLOWED_LATENESS_SECONDS + 2 < started + run.seconds
                if trigger:
                    trigger_at.pop(0)
                    if not trigger_at:
                        window_start = (ts // WINDOW_SECONDS) * WINDOW_SECONDS
                        trigger_at = sorted(
                            window_start + WINDOW_SECONDS + chooser.uniform(1, WINDOW_SECONDS - 1)
                            for _ in range(triggers_per_window)
                        )
                    used.add(user)
                    inp, out = TRIGGER_TOKENS, 1000
                else:
                    trigger = False
                    slot = index % pool
                    user, inp, out = users[slot], inputs[slot], outputs[slot]
                index += 1
                team = team_of[user]
                name = org.team_names[team]
                slot = index % pool
                value = orjson.dumps(
                    {
                        "event_id": f"live-{index}",
                        "ts": ts,
                        "team": name,
                        "user": org.user_names[user],
                        "model": MODELS[models[slot]],
                        "tool": TOOLS[tools[slot]],
                        "input_tokens": inp,
                        "output_tokens": out,
                    }
                )
                partition = part[team]
                # Every window end at or before this second closes with this event.
                reached = int(ts - ALLOWED_LATENESS_SECONDS)
                if reached > closed_upto[partition]:
                    first = closed_upto[partition] + 1
                    if first > 0:
                        tick_closes[partition].extend(map(float, range(first, reached + 1)))
                    closed_upto[partition] = reached
                if batched:
                    if not tick_values[partition]:
                        tick_keys[partition] = team_keys[team]
                    tick_values[partition].append(value)
                else:
                    key = team_keys[team]
                    await _send(run, producer, topic, partition, key, value, tick_closes)
                if trigger:
                    run.triggers.append((name, org.user_names[user], window_end))
                run.sent += 1
            if batched:
                for partition, values in enumerate(tick_values):
                    if values:
                        payload = b"[" + b",".join(values) + b"]"
                        values.clear()
                        await _send(
                            run, producer, topic, partition, tick_keys[partition], payload,
                            tick_closes,
                        )  # fmt: skip
            await asyncio.sleep(TICK_SECONDS)
    finally:
        await producer.stop()


async def _send(
    run: LatencyRun,
    producer: AIOKafkaProducer,
    topic: str,
    partition: int,
    key: bytes,
    value: bytes,
    closes: list[list[float]],
) -> None:
    """Send one message; the window ends it closes were sent now."""
    sent_at = time.time()
    await producer.send(topic, value=value, key=key, partition=partition)
    run.messages += 1
    for end in closes[partition]:
        run.closing_sent[(partition, end)] = sent_at
    closes[partition].clear()


async def _consume_alerts(run: LatencyRun, bootstrap: str, topic: str, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
        metadata_max_age_ms=2000,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            arrived = time.time()
            for records in batches.values():
                for record in records:
                    alert: dict[str, Any] = orjson.loads(record.value)
                    if alert.get("status") != "firing" or alert.get("kind") != "budget_exhausted":
                        continue
                    end = datetime.fromisoformat(alert["window_end"]).timestamp()
                    key = (alert["team"], alert["user"], end)
                    run.alerts.setdefault(key, (arrived, record.timestamp / 1000))
    finally:
        await consumer.stop()


async def _run(
    run: LatencyRun,
    org: Organisation,
    bootstrap: str,
    usage_topic: str,
    alerts_topic: str,
    warmup_seconds: float,
    triggers_per_window: int,
    drain_seconds: float,
) -> None:
    stop = asyncio.Event()
    consumer = asyncio.create_task(_consume_alerts(run, bootstrap, alerts_topic, stop))
    await _produce(run, org, bootstrap, usage_topic, warmup_seconds, triggers_per_window)
    await asyncio.sleep(drain_seconds)
    stop.set()
    await consumer


def measure(
    org: Organisation,
    bootstrap: str,
    usage_topic: str,
    alerts_topic: str,
    *,
    rate: float,
    seconds: float,
    form: str = "object",
    window_phase: str = "aligned",
    warmup_seconds: float = 45.0,
    triggers_per_window: int = 20,
    drain_seconds: float = 10.0,
) -> LatencyRun:
    """Produce steadily for ``seconds`` and collect the alerts the triggers cause."""
    if form not in ("object", "batched"):
        raise ValueError(f"unknown message form {form!r}")
    run = LatencyRun(rate=rate, seconds=seconds, form=form, window_phase=window_phase)
    asyncio.run(
        _run(
            run,
            org,
            bootstrap,
            usage_topic,
            alerts_topic,
            warmup_seconds,
            triggers_per_window,
            drain_seconds,
        )
    )
    return run
