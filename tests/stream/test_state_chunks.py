"""Team states larger than one record: split into parts and read back whole."""

from __future__ import annotations

import os

import pytest

from stream import state_chunks


def rows_after(*writes: list[tuple[bytes, bytes]], deleted: tuple[bytes, ...] = ()) -> dict:
    table: dict[bytes, bytes] = {}
    for batch in writes:
        table.update(batch)
    for key in deleted:
        table.pop(key, None)
    return table


def test_small_state_is_one_record() -> None:
    assert state_chunks.split(b"1/a", b"\x81\xa1v\x03") == [(b"1/a", b"\x81\xa1v\x03")]
    assert list(state_chunks.assemble([(b"1/a", b"x" * 10)])) == [(b"1/a", b"x" * 10, [])]


def test_large_state_round_trips_through_parts() -> None:
    data = os.urandom(10_000)
    writes = state_chunks.split(b"1/a", data, part_bytes=3_000)
    assert len(writes) == 5  # four parts, then the header
    assert writes[-1][0] == b"1/a"
    assert all(len(value) <= 3_000 for _, value in writes)
    [(key, whole, parts)] = state_chunks.assemble(writes)
    assert (key, whole) == (b"1/a", data)
    assert parts == [k for k, _ in writes[:-1]]


def test_crash_before_the_header_keeps_the_previous_state() -> None:
    old = state_chunks.split(b"1/a", os.urandom(7_000), part_bytes=3_000)
    new = state_chunks.split(b"1/a", os.urandom(8_000), part_bytes=3_000)
    assert {k for k, _ in old[:-1]}.isdisjoint(k for k, _ in new[:-1])
    # Every part of the new state was written, its header was not.
    table = rows_after(old, new[:-1])
    [(_, whole, _)] = state_chunks.assemble(table.items())
    assert whole == b"".join(v for _, v in old[:-1])


def test_parts_no_header_names_are_ignored() -> None:
    old = state_chunks.split(b"1/a", os.urandom(7_000), part_bytes=3_000)
    small = state_chunks.split(b"1/a", b"small state")
    table = rows_after(old, small)  # the stale parts were never deleted
    assert list(state_chunks.assemble(table.items())) == [(b"1/a", b"small state", [])]


def test_a_missing_part_is_an_error_not_a_silent_reset() -> None:
    writes = state_chunks.split(b"1/a", os.urandom(7_000), part_bytes=3_000)
    table = rows_after(writes, deleted=(writes[0][0],))
    with pytest.raises(ValueError, match="missing"):
        list(state_chunks.assemble(table.items()))
