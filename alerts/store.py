"""Key-value tables for delivery state: the seam to Kafka-backed storage.

The outbox (:mod:`alerts.outbox`) and the per-episode delivery ledger keep plain JSON-able dicts
in a :class:`StateTable`. In the worker each table is a Faust table (a compacted changelog topic),
co-partitioned with the team's usage partition so one worker owns all of a team's notification
state. :class:`InMemoryTable` serves tests; :class:`JsonlFileTable` keeps a table in an
append-only file for local runs and ``replay --deliver``, and survives ``kill -9``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import orjson

log = logging.getLogger(__name__)

# A file table is rewritten compactly on open once it holds this many superseded lines.
COMPACT_AFTER_STALE_LINES = 10_000


class StateTable(Protocol):
    """A durable mapping of string keys to plain-data values."""

    def get(self, key: str) -> dict[str, Any] | None:
        """The value of ``key``, or None."""
        ...

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` durably before returning."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key`` (no error when absent)."""
        ...

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every key and value (a snapshot: the table may be changed while iterating)."""
        ...


class InMemoryTable:
    """A :class:`StateTable` in a dict (lost with the process)."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        """The value of ``key``."""
        return self._data.get(key)

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Store a copy-safe JSON round trip of ``value`` (as a real store would)."""
        self._data[key] = orjson.loads(orjson.dumps(value))

    def delete(self, key: str) -> None:
        """Remove ``key``."""
        self._data.pop(key, None)

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """A snapshot of the items."""
        return iter(list(self._data.items()))


class JsonlFileTable:
    """A :class:`StateTable` as an append-only JSON-lines log, like a compacted topic.

    Every ``set`` and ``delete`` appends one line and ``fsync``s it, so what returned is on disk.
    Opening replays the log (a torn last line from a crash is skipped) and compacts it when it
    has grown.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, dict[str, Any]] = {}
        stale = self._load()
        if stale >= COMPACT_AFTER_STALE_LINES:
            self._compact()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")

    def _load(self) -> int:
        if not self.path.exists():
            return 0
        lines = 0
        with self.path.open("rb") as handle:
            for raw in handle:
                lines += 1
                try:
                    record = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    log.warning("skipping a torn line in %s", self.path)
                    continue
                key, value = record["k"], record.get("v")
                if value is None:
                    self._data.pop(key, None)
                else:
                    self._data[key] = value
        return lines - len(self._data)

    def _compact(self) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with tmp.open("wb") as handle:
            for key, value in self._data.items():
                handle.write(orjson.dumps({"k": key, "v": value}) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def _append(self, key: str, value: dict[str, Any] | None) -> None:
        self._file.write(orjson.dumps({"k": key, "v": value}) + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def get(self, key: str) -> dict[str, Any] | None:
        """The value of ``key``."""
        return self._data.get(key)

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Append and fsync, then update the in-memory view."""
        plain = orjson.loads(orjson.dumps(value))
        self._append(key, plain)
        self._data[key] = plain

    def delete(self, key: str) -> None:
        """Append a tombstone."""
        if key in self._data:
            self._append(key, None)
            del self._data[key]

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """A snapshot of the items."""
        return iter(list(self._data.items()))

    def close(self) -> None:
        """Close the log file."""
        self._file.close()
