"""Team states checkpointed as a head and a closed part (StreamRuntime._write_team)."""

from __future__ import annotations

from typing import Any

import msgpack

from detectors.placeholder import EWZScoreFactory
from stream import state_chunks
from stream.runtime import CLOSED_PART, StreamRuntime, team_key
from tests.traffic import synthetic_messages
from tokenradar.core.engine import CoreConfig, PartitionProcessor
from tokenradar.core.router import Core
from tokenradar.events import parse_message
from tokenradar.settings import Settings

CONFIG = CoreConfig(window_seconds=60, allowed_lateness_seconds=30, dedup_horizon_seconds=300)


class RecordingTable(dict[bytes, bytes]):
    """A table that keeps the order of its writes, as its changelog partition would."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[bytes, bytes | None]] = []

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.log.append((key, value))
        super().__setitem__(key, value)

    def __delitem__(self, key: bytes) -> None:
        self.log.append((key, None))
        super().__delitem__(key)


def runtime(table: Any, team_writes: Any = None) -> StreamRuntime:
    """A runtime over ``table`` with no Kafka behind it (checkpoint writes only)."""
    none: Any = None
    return StreamRuntime(
        Settings(),
        Core(CONFIG, EWZScoreFactory(), 1),
        team_table=table,
        meta_table={},
        alerts_topic=none,
        windows_topic=none,
        dead_letter_topic=none,
        budgets_topic=none,
        usage_topic=none,
        producer=lambda: None,
        highwater=lambda partition: None,
        team_writes=team_writes,
    )


def checkpoint(writer: StreamRuntime, processor: PartitionProcessor) -> None:
    for state in processor.dirty_teams():
        writer._write_team(team_key(0, state.team), state)


def states(processor: PartitionProcessor) -> dict[str, bytes]:
    return {team: state.to_bytes() for team, state in processor.teams.items()}


def messages(minutes: int = 60) -> list[bytes]:
    return synthetic_messages(seed=5, minutes=minutes)


def test_a_restored_partition_equals_the_checkpointed_one() -> None:
    table = RecordingTable()
    writer = runtime(table)
    processor = PartitionProcessor(0, CONFIG, EWZScoreFactory())
    for offset, message in enumerate(messages()):
        processor.process(parse_message(message)[0][0], offset)
        if offset % 97 == 0:
            checkpoint(writer, processor)
    checkpoint(writer, processor)
    restored = runtime(table).restore_partition(0)
    assert states(restored) == states(processor)
    assert restored.dirty_teams() == []


def test_the_closed_part_is_written_only_when_a_window_of_the_team_closed() -> None:
    table = RecordingTable()
    writer = runtime(table)
    processor = PartitionProcessor(0, CONFIG, EWZScoreFactory())
    seen: set[str] = set()
    checkpoints_without_close = 0
    for offset, message in enumerate(messages()):
        event = parse_message(message)[0][0]
        processor.process(event, offset)
        changed = {w.summary.team for w in processor.drain().windows}
        changed |= set(processor.teams) - seen
        seen |= set(processor.teams)
        table.log.clear()
        checkpoint(writer, processor)
        written = {
            key.split(state_chunks.PART_SEPARATOR)[0].decode().split("/", 1)[1]
            for key, value in table.log
            if value is not None and state_chunks.PART_SEPARATOR in key
        }
        assert written == changed, offset
        heads = {key for key, _ in table.log if state_chunks.PART_SEPARATOR not in key}
        assert heads == {team_key(0, team) for team in changed | {event.team}}
        checkpoints_without_close += not changed
    assert checkpoints_without_close > 1000


def test_a_crash_in_the_middle_of_a_checkpoint_restores_the_old_or_the_new_state() -> None:
    stream = messages(minutes=40)
    table = RecordingTable()
    writer = runtime(table)
    processor = PartitionProcessor(0, CONFIG, EWZScoreFactory())
    half = len(stream) // 2
    for offset in range(half):
        processor.process(parse_message(stream[offset])[0][0], offset)
    checkpoint(writer, processor)
    old = states(processor)
    durable = dict(table)
    table.log.clear()
    for offset in range(half, len(stream)):
        processor.process(parse_message(stream[offset])[0][0], offset)
    assert processor.drain().windows  # windows closed: closed parts are rewritten
    checkpoint(writer, processor)
    new = states(processor)
    log = list(table.log)
    assert any(value is None for _, value in log)  # superseded closed parts are deleted
    for cut in range(len(log) + 1):
        crashed: dict[bytes, bytes] = dict(durable)
        for key, value in log[:cut]:
            if value is None:
                crashed.pop(key, None)
            else:
                crashed[key] = value
        restored = states(runtime(crashed).restore_partition(0))
        for team, data in restored.items():
            assert data in (old.get(team), new[team]), (cut, team)


def test_a_whole_state_written_before_the_split_restores_and_is_split_on_its_next_write() -> None:
    processor = PartitionProcessor(0, CONFIG, EWZScoreFactory())
    for offset, message in enumerate(messages(minutes=10)):
        processor.process(parse_message(message)[0][0], offset)
    table = RecordingTable()
    for team, data in processor.dirty_states():
        table[team_key(0, team)] = data
    writer = runtime(table)
    restored = writer.restore_partition(0)
    assert states(restored) == states(processor)
    table.log.clear()
    checkpoint(writer, restored)  # nothing changed since the restore: nothing to write
    assert table.log == []
    restored.dirty = set(restored.teams)
    checkpoint(writer, restored)
    heads = {key: value for key, value in table.log if state_chunks.PART_SEPARATOR not in key}
    assert len(heads) == len(restored.teams)
    again = runtime(dict(table)).restore_partition(0)
    assert states(again) == states(processor)
    assert all(CLOSED_PART in msgpack.unpackb(v, strict_map_key=False) for v in heads.values())
