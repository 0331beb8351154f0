"""How a worker's silence mirror applies the messages of the compacted silences topic."""

from __future__ import annotations

import logging

import pytest

from alerts.silences import Matcher, Silence, dump_record
from tokenradar.settings import Settings
from tokenradar.silence_topic import KafkaSilenceStore


def silence(silence_id: str, team: str) -> Silence:
    return Silence(
        silence_id=silence_id,
        matchers=(Matcher.parse(f"team={team}"),),
        starts_at=0.0,
        ends_at=100.0,
    )


def test_records_replace_by_key_and_tombstones_remove(caplog: pytest.LogCaptureFixture) -> None:
    store = KafkaSilenceStore(Settings(_env_file=None))  # type: ignore[call-arg]
    store.apply(b"s1", dump_record(silence("s1", "search")))
    store.apply(b"s2", dump_record(silence("s2", "ads")))
    store.apply(b"s1", dump_record(silence("s1", "infra")))  # a newer version of s1
    teams = sorted(s.matchers[0].value for s in store.silences())
    assert teams == ["ads", "infra"]
    store.apply(b"s2", None)
    assert [s.silence_id for s in store.silences()] == ["s1"]
    with caplog.at_level(logging.WARNING):
        store.apply(b"bad", b"{not json")
    assert [s.silence_id for s in store.silences()] == ["s1"]
    assert "unreadable silence record" in caplog.text
    store.apply(None, None)  # a keyless tombstone changes nothing
    assert [s.silence_id for s in store.silences()] == ["s1"]
    assert not store.ready.is_set()
