"""The streaming core: event-time windows per team, detection and the alert decision.

One :class:`PartitionProcessor` owns the teams of one partition of the usage topic. It is fed the
partition's events in offset order and keeps a watermark (the highest event time seen, less the
allowed lateness); a team's window ``[start, end)`` closes when the watermark reaches ``end``.
A closed window goes to the team's detector and its findings to the team's alert lifecycle.

The processor is plain Python driven only by the events it is given, so the live worker (Faust)
and the offline ``replay`` raise the same alerts for the same events. Its state checkpoints per
team: every team remembers the offset of the last message it applied, which makes re-delivered
messages after a crash harmless. A team's monthly budget state (:mod:`tokenradar.core.budgets`)
is part of its team state, so month-to-date spend and the budget alerts already announced share
that exactly-once checkpoint.
"""

from __future__ import annotations

import heapq
import logging
import math
import sys
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from hashlib import blake2b
from typing import Any

import msgpack

from alerts.lifecycle import LifecyclePolicy, TeamAlertLifecycle
from alerts.model import Alert
from detectors.base import TeamDetector, TeamDetectorFactory, Usage, WindowSummary
from tokenradar.core.budgets import (
    BudgetConfig,
    TeamBudget,
    observe_window,
    period_ends_with,
    snapshot,
)
from tokenradar.events import ParsedEvent

log = logging.getLogger(__name__)

# Version 2 added the team's budget state; version-1 states load with an empty one. Version 4
# keeps recent event ids as 8-byte digests with whole-second times (``recent``) instead of
# ``recent_ids`` pairs of strings and floats. Version 5 keeps the ids seen before the last window
# close in the closed part (``sealed``) and only the later ones in the head.
STATE_VERSION = 5
READABLE_STATE_VERSIONS = (1, 2, 3, 4, 5)
# Older states kept no position inside a message: all of its events count as applied.
WHOLE_MESSAGE = 1 << 62
NO_OFFSET = -1

# One packer for the team states (it returns bytes per call and keeps no state between them).
_PACKER = msgpack.Packer(use_bin_type=True)
# Entries of a team state packed once per window close: detector, lifecycle, budget, and (from
# version 5) the event ids sealed then.
_CLOSED_ENTRIES = 4

DIGEST_BYTES = 8
_MAX_SECONDS = 2**32 - 1

# An accumulator is a list [input_tokens, output_tokens, cached_input_tokens, cost_usd, requests]:
# lists keep the per-event path to a few integer additions.
Accumulator = list[Any]


def event_id_digest(event_id: str) -> bytes:
    """What a team remembers of an ``event_id`` to drop its duplicates: 8 bytes of BLAKE2b.

    A team holds the ids of its last ``dedup_horizon_seconds``, written at every checkpoint
    after one of its events; ids are up to 200 characters. Two distinct ids collide with
    probability 2**-64 per pair, far below any other way an event can be lost.
    """
    return blake2b(event_id.encode(), digest_size=DIGEST_BYTES).digest()


def _pack_recent(recent: dict[bytes, float]) -> list[bytes]:
    # Whole seconds, rounded up: a restored id is kept at least as long as it would have been.
    times = recent.values()
    if not times or max(times) <= _MAX_SECONDS:
        # The usual case (event times end in 2100): nothing to clamp, no per-id min().
        seconds = array("I", map(math.ceil, times))
    else:
        seconds = array("I", (min(math.ceil(ts), _MAX_SECONDS) for ts in times))
    if sys.byteorder != "little":
        seconds.byteswap()
    return [b"".join(recent), seconds.tobytes()]


def _unpack_recent(packed: list[bytes]) -> dict[bytes, float]:
    digests, raw_seconds = packed
    seconds = array("I")
    seconds.frombytes(raw_seconds)
    if sys.byteorder != "little":
        seconds.byteswap()
    return {
        digests[i * DIGEST_BYTES : (i + 1) * DIGEST_BYTES]: float(second)
        for i, second in enumerate(seconds)
    }


def _new_acc() -> Accumulator:
    return [0, 0, 0, 0.0, 0]


def _usage_constructor() -> Callable[[Accumulator], Usage]:
    """``Usage(*acc)`` as cheaply as the class allows.

    A window's summary builds one ``Usage`` per user, model and tool, a few per event in all.
    ``Usage`` is a frozen dataclass with slots, whose ``__init__`` sets every field through
    ``object.__setattr__``; filling the slots through their descriptors gives the same object
    for half the cost. Should ``Usage`` stop being exactly such a class, its constructor is used.
    """
    names = ("input_tokens", "output_tokens", "cached_input_tokens", "cost_usd", "requests")
    if not (
        is_dataclass(Usage)
        and tuple(f.name for f in fields(Usage)) == names
        and Usage.__dict__.get("__slots__") == names
        and not hasattr(Usage, "__post_init__")
    ):
        return lambda acc: Usage(acc[0], acc[1], acc[2], float(acc[3]), acc[4])
    set_input, set_output, set_cached, set_cost, set_requests = (
        getattr(Usage, name).__set__ for name in names
    )
    new = object.__new__

    def usage(acc: Accumulator) -> Usage:
        result: Usage = new(Usage)
        set_input(result, acc[0])
        set_output(result, acc[1])
        set_cached(result, acc[2])
        set_cost(result, float(acc[3]))
        set_requests(result, acc[4])
        return result

    return usage


_usage = _usage_constructor()


WINDOW_PHASES = ("aligned", "spread")


def window_offset(team: str, window_seconds: float, phase: str) -> float:
    """Where ``team``'s windows start within ``window_seconds``: 0 aligned, else a fixed shift.

    The shift is whole seconds below the window size, from a CRC-32 of the team's name: the same
    in every process and release, so a restored team keeps its windows' boundaries.
    """
    if phase == "aligned":
        return 0.0
    if phase != "spread":
        raise ValueError(f"window_phase must be aligned or spread, not {phase!r}")
    whole = int(window_seconds)
    if whole < 1:
        return 0.0
    return float(zlib.crc32(team.encode()) % whole)


@dataclass(frozen=True, slots=True)
class CoreConfig:
    """Event-time settings of the core."""

    window_seconds: float = 60.0
    allowed_lateness_seconds: float = 30.0
    dedup_horizon_seconds: float = 600.0
    max_future_skew_seconds: float = 86_400.0
    # "aligned": every window starts at a multiple of ``window_seconds`` since the epoch, so all
    # teams' windows close at the same event time. "spread": each team's windows are shifted by
    # whole seconds fixed by its name (``window_offset``), so the teams' closes, and the detector
    # work they start, spread over the window instead of arriving at once.
    window_phase: str = "aligned"
    # The alert lifecycle: "for" period, resolve hysteresis, repeat interval.
    lifecycle: LifecyclePolicy = field(default_factory=LifecyclePolicy)
    budgets: BudgetConfig = field(default_factory=BudgetConfig)

    def __post_init__(self) -> None:
        if self.window_phase not in WINDOW_PHASES:
            phases = " or ".join(WINDOW_PHASES)
            raise ValueError(f"window_phase must be {phases}, not {self.window_phase!r}")


class OpenWindow:
    """The running aggregates of one team's window."""

    __slots__ = ("by_model", "by_tool", "by_user", "start", "totals")

    def __init__(self, start: float) -> None:
        self.start = start
        self.totals: Accumulator = _new_acc()
        self.by_user: dict[str, Accumulator] = {}
        self.by_model: dict[str, Accumulator] = {}
        self.by_tool: dict[str, Accumulator] = {}

    def add(self, event: ParsedEvent) -> None:
        """Count one event into the window and its breakdowns."""
        # Spelled out for the three breakdowns and the totals: this runs for every event.
        inp = event.input_tokens
        out = event.output_tokens
        cached = event.cached_input_tokens
        cost = event.cost_usd
        by_user = self.by_user
        acc = by_user.get(event.user)
        if acc is None:
            acc = by_user[event.user] = [0, 0, 0, 0.0, 0]
        acc[0] += inp
        acc[1] += out
        acc[2] += cached
        acc[3] += cost
        acc[4] += 1
        by_model = self.by_model
        acc = by_model.get(event.model)
        if acc is None:
            acc = by_model[event.model] = [0, 0, 0, 0.0, 0]
        acc[0] += inp
        acc[1] += out
        acc[2] += cached
        acc[3] += cost
        acc[4] += 1
        by_tool = self.by_tool
        acc = by_tool.get(event.tool)
        if acc is None:
            acc = by_tool[event.tool] = [0, 0, 0, 0.0, 0]
        acc[0] += inp
        acc[1] += out
        acc[2] += cached
        acc[3] += cost
        acc[4] += 1
        acc = self.totals
        acc[0] += inp
        acc[1] += out
        acc[2] += cached
        acc[3] += cost
        acc[4] += 1

    def summary(self, team: str, window_seconds: float) -> WindowSummary:
        """The frozen summary handed to the detector."""
        return WindowSummary(
            team=team,
            start=self.start,
            end=self.start + window_seconds,
            totals=_usage(self.totals),
            by_user={name: _usage(acc) for name, acc in self.by_user.items()},
            by_model={name: _usage(acc) for name, acc in self.by_model.items()},
            by_tool={name: _usage(acc) for name, acc in self.by_tool.items()},
        )

    def to_plain(self) -> list[Any]:
        return [self.start, self.totals, self.by_user, self.by_model, self.by_tool]

    @classmethod
    def from_plain(cls, plain: list[Any]) -> OpenWindow:
        window = cls(float(plain[0]))
        window.totals, window.by_user, window.by_model, window.by_tool = (
            list(plain[1]),
            {k: list(v) for k, v in plain[2].items()},
            {k: list(v) for k, v in plain[3].items()},
            {k: list(v) for k, v in plain[4].items()},
        )
        return window


@dataclass(frozen=True, slots=True)
class ClosedWindow:
    """A window the watermark has passed, with what arrived too late for earlier windows."""

    partition: int
    summary: WindowSummary
    detected_at: float
    late_events: int
    late_tokens: int
    late_cost_usd: float

    def to_record(self) -> dict[str, Any]:
        """The JSON shape published on the windows topic and written by ``replay``."""
        s = self.summary

        def usage(u: Usage) -> dict[str, Any]:
            return {
                "input_tokens": u.input_tokens,
                "output_tokens": u.output_tokens,
                "cached_input_tokens": u.cached_input_tokens,
                "cost_usd": round(u.cost_usd, 9),
                "requests": u.requests,
            }

        return {
            "team": s.team,
            "window_start": s.start,
            "window_end": s.end,
            "closed_at": self.detected_at,
            "totals": usage(s.totals),
            "by_user": {k: usage(v) for k, v in sorted(s.by_user.items())},
            "by_model": {k: usage(v) for k, v in sorted(s.by_model.items())},
            "by_tool": {k: usage(v) for k, v in sorted(s.by_tool.items())},
            "late_events": self.late_events,
            "late_tokens": self.late_tokens,
            "late_cost_usd": round(self.late_cost_usd, 9),
        }


class TeamState:
    """Everything the core keeps for one team; checkpointed as one value."""

    __slots__ = (
        "applied_index",
        "applied_offset",
        "budget",
        "closed_dirty",
        "detector",
        "duplicates",
        "events",
        "late",
        "lifecycle",
        "packed_at_close",
        "partition",
        "recent_ids",
        "sealed_ids",
        "team",
        "window_offset",
        "windows",
    )

    def __init__(
        self, team: str, partition: int, detector: TeamDetector, lifecycle: TeamAlertLifecycle
    ) -> None:
        self.team = team
        self.partition = partition
        self.detector = detector
        self.lifecycle = lifecycle
        # Where the team's windows start within the window size (``window_offset``); set by the
        # processor that owns the team, from its settings, not checkpointed.
        self.window_offset = 0.0
        self.windows: dict[float, OpenWindow] = {}
        # Digest of event_id -> event time, in arrival order, pruned by the dedup horizon: the
        # ids packed into the closed part when it was last packed (``sealed_ids``, written about
        # once a minute with it), and the ones that arrived since (``recent_ids``, in the head,
        # which is written at every checkpoint after an event of the team). Every sealed id
        # arrived before every recent one.
        self.sealed_ids: dict[bytes, float] = {}
        self.recent_ids: dict[bytes, float] = {}
        # Position of the last event applied: its message's offset and its index in the message
        # (a message may hold a batch of events).
        self.applied_offset = NO_OFFSET
        self.applied_index = WHOLE_MESSAGE
        # Late arrivals since the last closed window: [events, tokens, cost].
        self.late: list[Any] = [0, 0, 0.0]
        self.events = 0
        self.duplicates = 0
        self.budget = TeamBudget()
        # The detector, lifecycle and budget change only when a window closes, but a team is
        # checkpointed whenever an event arrived: their packed entries are kept until the next
        # close (see invalidate_closed_part) instead of being packed again every checkpoint.
        self.packed_at_close: bytes | None = None
        # Whether the closed part changed since a checkpoint last took it (closed_part_if_changed).
        self.closed_dirty = True

    def invalidate_closed_part(self) -> None:
        """Note that the detector, lifecycle or budget changed (a window closed)."""
        self.packed_at_close = None
        self.closed_dirty = True

    def closed_part(self) -> bytes:
        """The detector, lifecycle and budget as packed msgpack map entries (no map header).

        They change only when a window closes, so the bytes are kept until the next close.
        """
        closed = self.packed_at_close
        if closed is None:
            # The ids seen so far go with the closed part, so the head, written every second
            # the team is active, carries only the ids of the last minute or so instead of the
            # whole dedup horizon.
            if self.recent_ids:
                self.sealed_ids.update(self.recent_ids)
                self.recent_ids = {}
            pack = _PACKER.pack
            closed = self.packed_at_close = b"".join(
                pack(key) + pack(value)
                for key, value in (
                    ("detector", self.detector.to_state()),
                    ("lifecycle", self.lifecycle.to_state()),
                    ("budget", self.budget.to_plain()),
                    ("sealed", _pack_recent(self.sealed_ids)),
                )
            )
        return closed

    def closed_part_if_changed(self) -> bytes | None:
        """The closed part when it changed since the last call (or ever), else None."""
        if not self.closed_dirty:
            return None
        self.closed_dirty = False
        return self.closed_part()

    def head(self) -> dict[str, Any]:
        """Everything but the closed part: what changes with every event."""
        return {
            "v": STATE_VERSION,
            "team": self.team,
            "partition": self.partition,
            "applied_offset": self.applied_offset,
            "applied_index": self.applied_index,
            "windows": [w.to_plain() for w in self.windows.values()],
            "recent": _pack_recent(self.recent_ids),
            "late": self.late,
            "events": self.events,
            "duplicates": self.duplicates,
        }

    def to_bytes(self) -> bytes:
        """The state as one msgpack map (the same map whichever parts were cached)."""
        pack = _PACKER.pack
        closed = self.closed_part()
        head = self.head()
        parts = [_PACKER.pack_map_header(len(head) + _CLOSED_ENTRIES)]
        parts.extend(pack(key) + pack(value) for key, value in head.items())
        parts.append(closed)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes, factory: TeamDetectorFactory, config: CoreConfig) -> TeamState:
        plain = msgpack.unpackb(data, raw=False, strict_map_key=False)
        return cls.from_plain(plain, factory, config)

    @classmethod
    def from_head_and_closed(
        cls, head: dict[str, Any], closed: bytes, factory: TeamDetectorFactory, config: CoreConfig
    ) -> TeamState:
        """A state checkpointed as its head (unpacked) and its closed part (``closed_part``)."""
        # The closed part is a run of keys and values without a map header. How many depends on
        # the version that packed it, which is not always the head's: a head written after a
        # restore and before the team's next close names the closed part restored.
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        unpacker.feed(closed)
        items = list(unpacker)
        entries = dict(zip(items[::2], items[1::2], strict=True))
        state = cls.from_plain({**head, **entries}, factory, config)
        # What was restored is what the checkpoint holds: nothing to write until a window closes.
        # A part of an older version is not reused as this version's packing (to_bytes counts
        # on its entries); it is packed anew when it is next needed.
        state.packed_at_close = closed if len(entries) == _CLOSED_ENTRIES else None
        state.closed_dirty = False
        return state

    @classmethod
    def from_plain(
        cls, plain: dict[str, Any], factory: TeamDetectorFactory, config: CoreConfig
    ) -> TeamState:
        if plain.get("v") not in READABLE_STATE_VERSIONS:
            raise ValueError(f"unknown team state version {plain.get('v')!r}")
        team = plain["team"]
        state = cls(
            team,
            int(plain["partition"]),
            factory.restore(team, plain["detector"]),
            TeamAlertLifecycle.from_state(team, plain["lifecycle"], policy=config.lifecycle),
        )
        state.applied_offset = int(plain["applied_offset"])
        state.applied_index = int(plain.get("applied_index", WHOLE_MESSAGE))
        for window_plain in plain["windows"]:
            window = OpenWindow.from_plain(window_plain)
            state.windows[window.start] = window
        if "sealed" in plain:
            state.sealed_ids = _unpack_recent(plain["sealed"])
        if "recent" in plain:
            state.recent_ids = _unpack_recent(plain["recent"])
        else:
            state.recent_ids = {event_id_digest(k): float(v) for k, v in plain["recent_ids"]}
        state.late = list(plain["late"])
        state.events = int(plain["events"])
        state.duplicates = int(plain["duplicates"])
        if "budget" in plain:
            state.budget = TeamBudget.from_plain(plain["budget"])
        return state


@dataclass(slots=True)
class PartitionCounters:
    """What a processor has seen, for metrics and summaries."""

    events: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: int = 0
    windows_closed: int = 0
    alerts: int = 0
    skipped_replayed: int = 0


@dataclass(slots=True)
class Outputs:
    """What the processor produced since the driver last drained it."""

    windows: list[ClosedWindow] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    rejected: list[tuple[ParsedEvent, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.windows or self.alerts or self.rejected)


class PartitionProcessor:
    """Windows, detection and alert decisions for the teams of one partition."""

    def __init__(
        self,
        partition: int,
        config: CoreConfig,
        factory: TeamDetectorFactory,
    ) -> None:
        self.partition = partition
        self.config = config
        self.factory = factory
        self.max_event_time = float("-inf")
        self.watermark = float("-inf")
        self.teams: dict[str, TeamState] = {}
        self.dirty: set[str] = set()
        # Teams whose budget changed since the driver last took their snapshots.
        self.budget_dirty: set[str] = set()
        # Each team's last snapshot of a period that ended since the last changed_budgets()
        # call: the organisation's sum of that period needs it, and by the next call the
        # team's budget is already the new period's.
        self.closing_budgets: list[dict[str, Any]] = []
        self.counters = PartitionCounters()
        self.outputs = Outputs()
        # Settings the per-event path reads, one attribute lookup away.
        self._window_seconds = config.window_seconds
        self._allowed_lateness = config.allowed_lateness_seconds
        self._max_future_skew = config.max_future_skew_seconds
        # (window_end, team, window_start) of every open window, soonest first.
        self._closing: list[tuple[float, str, float]] = []

    # -- the per-event path -------------------------------------------------------------------

    def process(self, event: ParsedEvent, offset: int, index: int = 0) -> None:
        """Apply the ``index``-th event of the message read at ``offset`` of this partition."""
        ts = event.ts
        counters = self.counters
        max_event_time = self.max_event_time
        if ts > max_event_time + self._max_future_skew and counters.events:
            counters.rejected += 1
            ahead = ts - max_event_time
            self.outputs.rejected.append(
                (event, f"event time is {ahead:.0f} s ahead of the stream's event time")
            )
            return
        counters.events += 1
        team = event.team
        state = self.teams.get(team)
        if state is None:
            state = self._new_team(team)
        applied_offset = state.applied_offset
        if offset < applied_offset or (offset == applied_offset and index <= state.applied_index):
            # Already part of the checkpoint this team was restored from.
            counters.skipped_replayed += 1
        else:
            self._apply(state, event)
            state.applied_offset = offset
            state.applied_index = index
            self.dirty.add(team)
        if ts > max_event_time:
            self.max_event_time = ts
            watermark = ts - self._allowed_lateness
            if watermark > self.watermark:
                self.watermark = watermark
                closing = self._closing
                if closing and closing[0][0] <= watermark:
                    self._close_until(watermark)

    def _apply(self, state: TeamState, event: ParsedEvent) -> None:
        state.events += 1
        event_id = event.event_id
        if event_id is not None:
            digest = event_id_digest(event_id)
            if digest in state.recent_ids or digest in state.sealed_ids:
                state.duplicates += 1
                self.counters.duplicates += 1
                return
            state.recent_ids[digest] = event.ts
        size = self._window_seconds
        phase = state.window_offset
        start = ((event.ts - phase) // size) * size + phase
        if start + size <= self.watermark:
            self.counters.late += 1
            late = state.late
            late[0] += 1
            late[1] += event.input_tokens + event.output_tokens
            late[2] += event.cost_usd
            return
        window = state.windows.get(start)
        if window is None:
            window = state.windows[start] = OpenWindow(start)
            heapq.heappush(self._closing, (start + size, state.team, start))
        window.add(event)

    def _new_team(self, team: str) -> TeamState:
        state = TeamState(
            team,
            self.partition,
            self.factory.create(team),
            TeamAlertLifecycle(team, policy=self.config.lifecycle),
        )
        self._own(state)
        return state

    def _own(self, state: TeamState) -> None:
        config = self.config
        state.window_offset = window_offset(state.team, config.window_seconds, config.window_phase)
        self.teams[state.team] = state

    # -- closing windows ----------------------------------------------------------------------

    def _close_until(self, watermark: float) -> None:
        closing = self._closing
        while closing and closing[0][0] <= watermark:
            _, team, start = heapq.heappop(closing)
            state = self.teams.get(team)
            if state is None:
                continue
            window = state.windows.pop(start, None)
            if window is not None:
                self._close(state, window)

    def _close(self, state: TeamState, window: OpenWindow) -> None:
        config = self.config
        summary = window.summary(state.team, config.window_seconds)
        detected_at = self.max_event_time
        late_events, late_tokens, late_cost = state.late
        state.late = [0, 0, 0.0]
        self.outputs.windows.append(
            ClosedWindow(self.partition, summary, detected_at, late_events, late_tokens, late_cost)
        )
        self.counters.windows_closed += 1
        state.invalidate_closed_part()
        findings = state.detector.update(summary)
        alerts = state.lifecycle.decide(summary.start, summary.end, detected_at, findings)
        if state.team in self.budget_dirty and period_ends_with(
            state.budget, summary, config.budgets
        ):
            self.closing_budgets.append(snapshot(state.team, state.budget, config.budgets))
        budget_alerts = observe_window(
            state.budget, summary, late_cost, late_tokens, detected_at, config.budgets
        )
        if budget_alerts:
            alerts = alerts + budget_alerts
        self.budget_dirty.add(state.team)
        if alerts:
            self.outputs.alerts.extend(alerts)
            self.counters.alerts += len(alerts)
        self._prune_ids(state)
        self.dirty.add(state.team)

    def _prune_ids(self, state: TeamState) -> None:
        horizon = self.watermark - self.config.dedup_horizon_seconds
        # Sealed ids arrived before the recent ones: the recent are pruned once none is sealed.
        for ids in (state.sealed_ids, state.recent_ids):
            while ids:
                oldest_id = next(iter(ids))
                if ids[oldest_id] >= horizon:
                    return
                del ids[oldest_id]

    def flush(self) -> None:
        """Close every open window, as if event time had moved past them all (end of a file)."""
        self._close_until(float("inf"))

    def drain(self) -> Outputs:
        """Hand over what was produced since the last drain."""
        outputs, self.outputs = self.outputs, Outputs()
        return outputs

    # -- budgets ------------------------------------------------------------------------------

    def budget_snapshot(self, team: str) -> dict[str, Any]:
        """Where ``team`` stands against its budget (:func:`tokenradar.core.budgets.snapshot`)."""
        return snapshot(team, self.teams[team].budget, self.config.budgets)

    def changed_budgets(self) -> list[dict[str, Any]]:
        """Snapshots of the teams whose budget changed since the last call.

        A team whose period ended since the last call has two: the old period's last one first.
        """
        changed, self.budget_dirty = self.budget_dirty, set()
        closing, self.closing_budgets = self.closing_budgets, []
        return closing + [
            self.budget_snapshot(team) for team in sorted(changed) if team in self.teams
        ]

    # -- checkpoints --------------------------------------------------------------------------

    def dirty_states(self) -> Iterator[tuple[str, bytes]]:
        """Serialised states of the teams changed since the last call."""
        dirty, self.dirty = self.dirty, set()
        for team in sorted(dirty):
            yield team, self.teams[team].to_bytes()

    def dirty_teams(self) -> list[TeamState]:
        """The states of the teams changed since the last call (or ``dirty_states``)."""
        dirty, self.dirty = self.dirty, set()
        return [self.teams[team] for team in sorted(dirty)]

    def meta_bytes(self) -> bytes:
        """The partition's own state: its stream time."""
        packed: bytes = msgpack.packb(
            {"v": STATE_VERSION, "max_event_time": self.max_event_time, "watermark": self.watermark}
        )
        return packed

    @classmethod
    def restore(
        cls,
        partition: int,
        config: CoreConfig,
        factory: TeamDetectorFactory,
        meta: bytes | None,
        team_states: Iterable[bytes | TeamState],
    ) -> PartitionProcessor:
        """Rebuild a processor from its checkpoint (``meta`` and the states of its teams).

        A team's state is its serialised bytes (``TeamState.to_bytes``) or already restored.
        """
        processor = cls(partition, config, factory)
        if meta is not None:
            plain = msgpack.unpackb(meta, raw=False)
            processor.max_event_time = float(plain["max_event_time"])
            processor.watermark = float(plain["watermark"])
        for data in team_states:
            state = (
                data if isinstance(data, TeamState) else TeamState.from_bytes(data, factory, config)
            )
            if state.partition != partition:
                continue
            processor._own(state)
            for start in state.windows:
                heapq.heappush(
                    processor._closing, (start + config.window_seconds, state.team, start)
                )
        return processor
