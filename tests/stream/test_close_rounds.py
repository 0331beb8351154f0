"""Checkpoints wait while the other partitions close the same windows (StreamRuntime)."""

from __future__ import annotations

from typing import Any

import orjson

from detectors.placeholder import EWZScoreFactory
from stream.runtime import StreamRuntime
from tokenradar.core.engine import CoreConfig
from tokenradar.core.router import Core
from tokenradar.events import parse_message
from tokenradar.settings import Settings

CONFIG = CoreConfig(window_seconds=60, allowed_lateness_seconds=30, dedup_horizon_seconds=300)
T0 = 1_793_577_600.0


def runtime(core: Core) -> StreamRuntime:
    none: Any = None
    return StreamRuntime(
        Settings(checkpoint_interval_seconds=1.0),
        core,
        team_table={},
        meta_table={},
        alerts_topic=none,
        windows_topic=none,
        dead_letter_topic=none,
        budgets_topic=none,
        usage_topic=none,
        producer=lambda: None,
        highwater=lambda partition: None,
    )


def team_on(core: Core, partition: int) -> str:
    return next(f"team-{i}" for i in range(1000) if core.partition_of(f"team-{i}") == partition)


def send(core: Core, team: str, ts: float, offset: int) -> Any:
    raw = orjson.dumps(
        {"ts": ts, "team": team, "user": "ana", "model": "m1", "input_tokens": 10,
         "output_tokens": 5}
    )  # fmt: skip
    assert parse_message(raw)[0], "the test event must be valid"
    return core.handle(core.partition_of(team), offset, raw)


def test_checkpoints_wait_until_every_partition_closed_the_latest_window_end() -> None:
    core = Core(CONFIG, EWZScoreFactory(), 2)
    writer = runtime(core)
    first, second = team_on(core, 0), team_on(core, 1)
    writer._last_checkpoint[0] = 100.0
    send(core, first, T0 + 5, 0)
    send(core, second, T0 + 6, 0)
    assert not writer._closing_elsewhere()  # nothing closed yet

    closed = send(core, first, T0 + 95, 1)
    assert [w.summary.end for w in closed.windows] == [T0 + 60]
    writer.note_closed(T0 + 60)
    # The other partition has not closed the window ending at T0+60 yet: partition 0's due
    # checkpoint waits, but only until two checkpoint intervals have passed.
    assert writer._closing_elsewhere()
    assert not writer.checkpoint_due(0, 100.5)
    assert not writer.checkpoint_due(0, 101.5)
    assert writer.checkpoint_due(0, 102.0)

    later = send(core, second, T0 + 91, 1)
    assert [w.summary.end for w in later.windows] == [T0 + 60]
    assert not writer._closing_elsewhere()
    assert not writer.checkpoint_due(0, 100.5)
    assert writer.checkpoint_due(0, 101.0)
