from __future__ import annotations

import dataclasses
import math
from array import array

import msgpack
import orjson
import pytest

from detectors.base import Usage
from detectors.placeholder import EWZScoreFactory
from tests.traffic import synthetic_messages
from tokenradar.core import engine
from tokenradar.core.engine import CoreConfig, PartitionProcessor, event_id_digest
from tokenradar.events import ParsedEvent, parse_message
from tokenradar.replay import replay_messages

T0 = 1_793_577_600.0  # 2026-11-02T00:00:00Z, a Monday
CONFIG = CoreConfig(window_seconds=60, allowed_lateness_seconds=30, dedup_horizon_seconds=300)


def event(
    ts: float, team: str = "search", user: str = "ana", tokens: int = 100, **extra: object
) -> ParsedEvent:
    document = {
        "ts": ts,
        "team": team,
        "user": user,
        "model": extra.pop("model", "m1"),
        "input_tokens": tokens,
        "output_tokens": tokens // 2,
        "cost_usd": tokens / 1000,
        **extra,
    }
    [parsed], _ = parse_message(orjson.dumps(document))
    return parsed


def run(events: list[ParsedEvent], config: CoreConfig = CONFIG) -> PartitionProcessor:
    processor = PartitionProcessor(0, config, EWZScoreFactory())
    for offset, e in enumerate(events):
        processor.process(e, offset)
    return processor


def test_window_closes_only_when_the_watermark_passes_its_end() -> None:
    processor = run([event(T0 + 5), event(T0 + 50, user="bo"), event(T0 + 89)])
    assert processor.drain().windows == []  # watermark T0+59 < end T0+60
    processor.process(event(T0 + 90), 3)
    [closed] = processor.drain().windows
    assert (closed.summary.start, closed.summary.end) == (T0, T0 + 60)
    assert closed.summary.totals.requests == 2
    assert closed.summary.totals.input_tokens == 200
    assert set(closed.summary.by_user) == {"ana", "bo"}
    assert closed.summary.by_model["m1"].requests == 2
    assert closed.detected_at == T0 + 90


def test_out_of_order_within_lateness_is_windowed_and_late_events_are_counted() -> None:
    processor = run([event(T0 + 70), event(T0 + 55), event(T0 + 100)])
    [first] = processor.drain().windows
    assert first.summary.totals.requests == 1  # the T0+55 event, out of order but in time
    processor.process(event(T0 + 10, tokens=1000), 3)  # its window closed at watermark T0+70
    assert processor.counters.late == 1
    processor.process(event(T0 + 200), 4)
    [second] = processor.drain().windows
    assert second.summary.start == T0 + 60
    assert (second.late_events, second.late_tokens) == (1, 1500)


def test_repeated_event_id_counts_once_within_the_horizon() -> None:
    processor = run(
        [
            event(T0 + 1, event_id="a"),
            event(T0 + 2, event_id="a"),
            event(T0 + 3, event_id="b"),
            event(T0 + 100),
        ]
    )
    [closed] = processor.drain().windows
    assert closed.summary.totals.requests == 2
    assert processor.counters.duplicates == 1


def restored(processor: PartitionProcessor) -> PartitionProcessor:
    return PartitionProcessor.restore(
        0,
        CONFIG,
        EWZScoreFactory(),
        processor.meta_bytes(),
        dict(processor.dirty_states()).values(),
    )


def test_a_restored_team_still_drops_the_ids_it_saw_and_forgets_them_after_the_horizon() -> None:
    processor = run([event(T0 + 1.5, event_id="a"), event(T0 + 2, event_id="b" * 200)])
    again = restored(processor)
    again.process(event(T0 + 3, event_id="a"), 2)
    again.process(event(T0 + 4, event_id="b" * 200), 3)
    again.process(event(T0 + 5, event_id="c"), 4)
    assert again.counters.duplicates == 2
    # Far past the horizon (a window closes and prunes): "a" is new again.
    again.process(event(T0 + 400), 5)
    again.process(event(T0 + 401, event_id="a"), 6)
    assert again.counters.duplicates == 2
    assert again.teams["search"].recent_ids.keys() == {event_id_digest("a")}


def test_a_version_3_state_with_ids_as_strings_still_drops_their_duplicates() -> None:
    processor = run([event(T0 + 1, event_id="a"), event(T0 + 2, event_id="b")])
    plain = msgpack.unpackb(processor.teams["search"].to_bytes(), strict_map_key=False)
    plain.pop("recent")
    plain.pop("sealed")
    plain.update(v=3, recent_ids=[["a", T0 + 1], ["b", T0 + 2]])
    old = PartitionProcessor.restore(
        0, CONFIG, EWZScoreFactory(), processor.meta_bytes(), [msgpack.packb(plain)]
    )
    old.process(event(T0 + 3, event_id="b"), 2)
    old.process(event(T0 + 4, event_id="c"), 3)
    assert old.counters.duplicates == 1


def test_the_head_carries_only_the_ids_since_the_closed_part_was_packed() -> None:
    processor = run(
        [
            event(T0 + 1, event_id="a"),
            event(T0 + 2, event_id="b"),
            event(T0 + 95, event_id="c"),  # closes the first window
        ]
    )
    state = processor.teams["search"]
    closed = state.closed_part_if_changed()
    assert closed is not None
    processor.process(event(T0 + 96, event_id="d"), 3)
    head = state.head()
    # The head, written every checkpoint, holds the id that came after the packing only.
    assert engine._unpack_recent(head["recent"]).keys() == {event_id_digest("d")}
    again = engine.TeamState.from_head_and_closed(head, closed, EWZScoreFactory(), CONFIG)
    processor.teams["search"] = again
    for offset, event_id in enumerate(["a", "b", "c", "d", "e"], start=4):
        processor.process(event(T0 + 97 + offset, event_id=event_id), offset)
    assert processor.counters.duplicates == 4


@pytest.mark.parametrize("head_version", [4, 5])
def test_a_version_4_closed_part_still_drops_its_duplicates(head_version: int) -> None:
    processor = run([event(T0 + 1, event_id="a"), event(T0 + 2, event_id="b")])
    state = processor.teams["search"]
    head = state.head()
    # Version 4: every id in the head, and a closed part of three entries. A version-5 head
    # names such a part until the restored team's next close.
    ids = {event_id_digest("a"): T0 + 1, event_id_digest("b"): T0 + 2}
    head.update(v=head_version, recent=engine._pack_recent(ids))
    pack = msgpack.Packer(use_bin_type=True).pack
    closed = b"".join(
        pack(key) + pack(value)
        for key, value in (
            ("detector", state.detector.to_state()),
            ("lifecycle", state.lifecycle.to_state()),
            ("budget", state.budget.to_plain()),
        )
    )
    old = engine.TeamState.from_head_and_closed(head, closed, EWZScoreFactory(), CONFIG)
    processor.teams["search"] = old
    processor.process(event(T0 + 3, event_id="a"), 2)
    processor.process(event(T0 + 4, event_id="c"), 3)
    assert processor.counters.duplicates == 1
    # Packed whole, it is a state of this version holding the same ids.
    whole = engine.TeamState.from_bytes(old.to_bytes(), EWZScoreFactory(), CONFIG)
    assert {**whole.sealed_ids, **whole.recent_ids}.keys() == {event_id_digest(i) for i in "abc"}


def test_windows_of_all_teams_in_a_partition_close_together_in_a_stable_order() -> None:
    processor = run([event(T0 + 1, team="b"), event(T0 + 2, team="a"), event(T0 + 95, team="c")])
    assert [w.summary.team for w in processor.drain().windows] == ["a", "b"]


def test_spread_windows_start_at_each_teams_own_offset_and_close_at_its_own_time() -> None:
    spread = dataclasses.replace(CONFIG, window_phase="spread")
    teams = [f"team-{i}" for i in range(200)]
    offsets = {team: engine.window_offset(team, 60, "spread") for team in teams}
    assert all(o == int(o) and 0 <= o < 60 for o in offsets.values())
    assert len(set(offsets.values())) > 40  # spread over the minute, not a few instants
    assert engine.window_offset("a", 60, "aligned") == 0.0
    a, b = sorted(teams[:10], key=offsets.__getitem__)[::9]  # the smallest and largest shift
    oa, ob = offsets[a], offsets[b]
    processor = run([event(T0 + 120 + oa, team=a), event(T0 + 120 + ob, team=b)], spread)
    # Each team's window starts at its own shift: [T0+120+o, T0+180+o).
    processor.process(event(T0 + 120 + oa + 90, team=a), 2)
    [first] = processor.drain().windows
    assert (first.summary.team, first.summary.start) == (a, T0 + 120 + oa)
    assert first.summary.end == T0 + 180 + oa
    processor.process(event(T0 + 120 + ob + 90, team=b), 3)
    assert [w.summary.team for w in processor.drain().windows] == [b]
    # Just before a team's shifted boundary is the previous window.
    processor.process(event(T0 + 300 + oa - 0.5, team=a), 4)
    processor.process(event(T0 + 500, team=a), 5)
    starts = [w.summary.start for w in processor.drain().windows if w.summary.team == a]
    assert starts[:2] == [T0 + 180 + oa, T0 + 240 + oa]


def test_a_changed_phase_closes_the_open_windows_at_their_old_ends_and_loses_nothing() -> None:
    spread = dataclasses.replace(CONFIG, window_phase="spread")
    team = next(
        f"t{i}" for i in range(100) if 20 <= engine.window_offset(f"t{i}", 60, "spread") < 50
    )
    shift = engine.window_offset(team, 60, "spread")
    factory = EWZScoreFactory()
    aligned = run([event(T0 + 5, team=team), event(T0 + 50, team=team)])
    saved = dict(aligned.dirty_states())
    restored = PartitionProcessor.restore(0, spread, factory, aligned.meta_bytes(), saved.values())
    for offset, ts in enumerate([T0 + 55, T0 + 120, T0 + 400], start=2):
        restored.process(event(ts, team=team), offset)
    closed = [w.summary for w in restored.drain().windows]
    assert [(w.start, w.end, w.totals.requests) for w in closed] == [
        (T0, T0 + 60, 2),  # the window open at the change, with what it held
        (T0 + shift, T0 + shift + 60, 1),  # T0+55 went to the new boundaries
        (T0 + shift + 60, T0 + shift + 120, 1),
    ]


def test_an_unknown_window_phase_is_refused() -> None:
    with pytest.raises(ValueError, match="aligned or spread"):
        CoreConfig(window_phase="staggered")


def test_events_far_ahead_of_stream_time_are_rejected() -> None:
    processor = run([event(T0), event(T0 + 3 * 86_400)])
    [(_rejected, reason)] = processor.drain().rejected
    assert "ahead" in reason
    assert processor.watermark == T0 - 30


@pytest.mark.parametrize("phase", ["aligned", "spread"])
def test_restoring_a_checkpoint_and_redelivering_gives_the_uninterrupted_result(
    phase: str,
) -> None:
    config = dataclasses.replace(CONFIG, window_phase=phase)
    messages = synthetic_messages(seed=11)
    parsed = [parse_message(m)[0][0] for m in messages]
    reference = run(parsed, config)
    expected_windows = [w.to_record() for w in reference.drain().windows]
    offsets = {w["window_start"] % 60 for w in expected_windows}
    assert (offsets == {0.0}) if phase == "aligned" else (len(offsets) > 1)

    factory = EWZScoreFactory()
    processor = PartitionProcessor(0, config, factory)
    produced = []
    saved: dict[str, bytes] = {}
    meta = None
    crash_at, checkpoint_at, commit_at = 5200, 4000, 3000
    for offset, e in enumerate(parsed[:crash_at]):
        processor.process(e, offset)
        if offset == checkpoint_at:
            saved.update(processor.dirty_states())
            meta = processor.meta_bytes()
            produced.extend(w.to_record() for w in processor.drain().windows)
    # The crash loses everything after the checkpoint; re-delivery starts at the last commit.
    restored = PartitionProcessor.restore(0, config, factory, meta, saved.values())
    for offset in range(commit_at, len(parsed)):
        restored.process(parsed[offset], offset)
    produced.extend(w.to_record() for w in restored.drain().windows)
    assert produced == expected_windows
    assert restored.counters.skipped_replayed == checkpoint_at + 1 - commit_at


def test_every_event_of_a_batched_message_counts_once() -> None:
    messages = synthetic_messages(seed=9, minutes=120)
    pending: dict[str, list[bytes]] = {}
    batches: list[list[bytes]] = []
    for message in messages:
        team = orjson.loads(message)["team"]
        pending.setdefault(team, []).append(message)
        if len(pending[team]) == 8:
            batches.append(pending.pop(team))
    batches.extend(pending.values())
    batched = [b"[" + b",".join(batch) + b"]" for batch in batches]
    one_by_one = [message for batch in batches for message in batch]
    expected = replay_messages(one_by_one, CONFIG, EWZScoreFactory(), 3)
    result = replay_messages(batched, CONFIG, EWZScoreFactory(), 3)
    assert result.counters.skipped_replayed == 0
    assert result.counters.events == expected.counters.events == len(messages)
    assert [w.to_record() for w in result.windows] == [w.to_record() for w in expected.windows]


def test_redelivery_skips_exactly_the_events_a_checkpoint_holds() -> None:
    batch = [event(T0 + i) for i in range(5)]
    processor = PartitionProcessor(0, CONFIG, EWZScoreFactory())
    for index, e in enumerate(batch[:3]):  # the checkpoint holds the first three
        processor.process(e, 0, index)
    saved = dict(processor.dirty_states())
    restored = PartitionProcessor.restore(
        0, CONFIG, EWZScoreFactory(), processor.meta_bytes(), saved.values()
    )
    for index, e in enumerate(batch):  # the same message, delivered again
        restored.process(e, 0, index)
    restored.process(event(T0 + 200), 1, 0)
    [closed] = restored.drain().windows
    assert closed.summary.totals.requests == 5
    assert restored.counters.skipped_replayed == 3


def test_replay_is_deterministic_and_independent_of_message_batching() -> None:
    messages = synthetic_messages(seed=5)
    first = replay_messages(messages, CONFIG, EWZScoreFactory(), 3)
    second = replay_messages(messages, CONFIG, EWZScoreFactory(), 3)
    assert [a.model_dump() for a in first.alerts] == [a.model_dump() for a in second.alerts]
    assert first.counters.events == len(messages)
    batched = [b"[" + b",".join(messages[i : i + 1]) + b"]" for i in range(len(messages))]
    third = replay_messages(batched, CONFIG, EWZScoreFactory(), 3)
    assert [w.to_record() for w in third.windows] == [w.to_record() for w in first.windows]


def test_the_placeholder_detector_fires_for_the_runaway_user() -> None:
    result = replay_messages(synthetic_messages(seed=3, minutes=480), CONFIG, EWZScoreFactory(), 3)
    firing = [a for a in result.alerts if a.status == "firing"]
    assert firing, "the injected 40x user must raise an alert"
    assert {a.team for a in firing} == {"team-3"}


@pytest.mark.parametrize("partitions", [1, 4])
def test_state_round_trips_through_bytes(partitions: int) -> None:
    messages = synthetic_messages(seed=2, minutes=30)
    processor = PartitionProcessor(0, CONFIG, EWZScoreFactory())
    for offset, m in enumerate(messages):
        processor.process(parse_message(m)[0][0], offset)
    states = dict(processor.dirty_states())
    restored = PartitionProcessor.restore(
        0, CONFIG, EWZScoreFactory(), processor.meta_bytes(), states.values()
    )
    assert dict(restored.dirty_states()) == {}
    assert {t: s.to_bytes() for t, s in restored.teams.items()} == states


def _with_ids_merged(data: bytes) -> dict[str, object]:
    plain = msgpack.unpackb(data, strict_map_key=False)
    ids: dict[bytes, float] = {}
    for key in ("sealed", "recent"):
        ids.update(engine._unpack_recent(plain.pop(key)))
    plain["ids"] = ids
    return dict(plain)


def test_checkpoints_with_the_part_packed_at_close_equal_a_full_packing() -> None:
    messages = synthetic_messages(seed=4, minutes=90)
    processor = PartitionProcessor(0, CONFIG, EWZScoreFactory())
    compared = closed_between = 0
    for offset, m in enumerate(messages):
        processor.process(parse_message(m)[0][0], offset)
        if offset % 50:
            continue
        closed_between += len(processor.drain().windows)
        for team, data in processor.dirty_states():
            state = processor.teams[team]
            state.invalidate_closed_part()
            # A fresh packing seals every id so far; the checkpoint holds the same ids, split
            # between the closed part and the head where the cached part was reused.
            assert _with_ids_merged(data) == _with_ids_merged(state.to_bytes())
            compared += 1
    # Teams were checkpointed between closes (cached part reused) and across them.
    assert compared > 100
    assert closed_between > 10


def test_window_summaries_hold_the_same_usage_objects_as_the_constructor() -> None:
    built = engine._usage([12, 5, 3, 7, 2])
    assert built == Usage(12, 5, 3, 7.0, 2)
    assert type(built) is Usage and type(built.cost_usd) is float
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.requests = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "times",
    [[], [T0, T0 + 0.25, T0 + 59.999], [T0, 2.0**32 - 1.5, 2.0**32 + 7.0, 1e12]],
)
def test_recent_ids_pack_to_whole_seconds_rounded_up_and_clamped(times: list[float]) -> None:
    recent = {event_id_digest(f"id-{i}"): ts for i, ts in enumerate(times)}
    digests, raw_seconds = engine._pack_recent(recent)
    seconds = array("I")
    seconds.frombytes(raw_seconds)
    assert digests == b"".join(recent)
    assert seconds.tolist() == [min(math.ceil(ts), 2**32 - 1) for ts in times]
    assert list(engine._unpack_recent([digests, raw_seconds])) == list(recent)
