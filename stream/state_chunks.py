"""Team states larger than one Kafka record: written as parts, read back whole.

A team's checkpointed state grows with its users (the usage detector keeps a model per user:
about 1.6 KiB each), and a team of a thousand people no longer fits in one changelog record
(the broker's default ``max.message.bytes`` and the producer's ``max_request_size`` are 1 MiB).
Faust then fails the send and the worker stops.

A state above :data:`PART_BYTES` is therefore written as parts under their own keys, and the
team's own key holds a small header naming them::

    b"3/search"              -> header {chunked: gen, parts: n, size, crc32}
    b"3/search\\x00<gen>/0"   -> bytes [0, PART_BYTES)
    b"3/search\\x00<gen>/1"   -> bytes [PART_BYTES, ...)

Every write uses a new generation ``gen``, so the parts of the state a header names are never
overwritten: a crash part-way through a checkpoint leaves the previous header naming complete
previous parts (the header goes last, in the same changelog partition as its parts, and the
partition's stream time is written only after a flush). Parts no header names any more are
deleted when the next header is written; if a crash prevents that, :func:`assemble` ignores
them. Team names cannot contain ``\\x00`` (the event contract forbids control characters), so
part keys never collide with a team's key.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import msgpack

# Well below the 1 MiB defaults of the broker and the producer, leaving room for the record's
# key and headers.
PART_BYTES = 512 * 1024
PART_SEPARATOR = b"\x00"
HEADER_MARK = "chunked"


def new_generation() -> str:
    """A generation id for one write of one team's parts (unique per worker and write)."""
    return f"{time.time_ns():x}"


def part_key(key: bytes, generation: str, index: int) -> bytes:
    """The table key of part ``index`` of the state at ``key`` written as ``generation``."""
    return key + PART_SEPARATOR + f"{generation}/{index}".encode()


def split(key: bytes, data: bytes, part_bytes: int = PART_BYTES) -> list[tuple[bytes, bytes]]:
    """The table writes for ``data`` at ``key``: itself, or its parts then their header (last)."""
    if len(data) <= part_bytes:
        return [(key, data)]
    header, writes = parts_of(key, data, new_generation(), part_bytes)
    writes.append((key, msgpack.packb(header)))
    return writes


def parts_of(
    key: bytes, data: bytes, generation: str, part_bytes: int = PART_BYTES
) -> tuple[dict[str, Any], list[tuple[bytes, bytes]]]:
    """``data`` as parts of ``key`` under ``generation`` (at least one), and the header naming them.

    The header is not written: :func:`split` writes it at ``key``; a team state stores the
    header of its closed part inside its own record (see ``stream/runtime.py``).
    """
    writes = [
        (part_key(key, generation, index), data[start : start + part_bytes])
        for index, start in enumerate(range(0, max(len(data), 1), part_bytes))
    ]
    header = {
        HEADER_MARK: generation,
        "parts": len(writes),
        "size": len(data),
        "crc32": zlib.crc32(data),
    }
    return header, writes


def join(key: bytes, header: dict[str, Any], rows: dict[bytes, bytes]) -> bytes:
    """The data ``header`` (of ``key``) names, from ``rows``; raises if a part is missing or bad."""
    parts = [rows.get(k) for k in part_keys(key, header)]
    if any(part is None for part in parts):
        raise ValueError(f"state at {key!r}: a part named by its header is missing")
    data = b"".join(part for part in parts if part is not None)
    if len(data) != header["size"] or zlib.crc32(data) != header["crc32"]:
        raise ValueError(f"state at {key!r}: parts do not match their header")
    return data


def header_of(value: bytes) -> dict[str, Any] | None:
    """The header in ``value``, or None when ``value`` is a whole state."""
    # A header is a small msgpack map; a team state is a larger map whose first key is "v".
    if len(value) > 256:
        return None
    try:
        plain = msgpack.unpackb(value, raw=False)
    except Exception:
        return None
    if isinstance(plain, dict) and HEADER_MARK in plain:
        return plain
    return None


def part_keys(key: bytes, header: dict[str, Any]) -> list[bytes]:
    """The keys of the parts ``header`` (stored at ``key``) names."""
    return [part_key(key, header[HEADER_MARK], index) for index in range(int(header["parts"]))]


def assemble(items: Iterable[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes, list[bytes]]]:
    """Whole states from a table's ``(key, value)`` rows: ``(key, state, keys of its parts)``.

    Rows that are parts are consumed by their header; parts no header names are ignored.
    """
    rows = dict(items)
    for key, value in rows.items():
        if value is None or PART_SEPARATOR in key:
            continue
        header = header_of(value)
        if header is None:
            yield key, value, []
            continue
        yield key, join(key, header, rows), part_keys(key, header)
