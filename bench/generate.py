"""A vectorised generator of a large organisation's usage events, ready to produce.

The simulator in ``tokenradar.simulator`` models rhythms and incidents for detector work; the
benchmark needs something else: millions of valid events for thousands of teams, generated in
seconds. Users belong to one team each; how much a user sends is heavy-tailed (log-normal), so
a few people and teams dominate, as in real organisations. Every user sends at least one event,
so the number of tracked series is known exactly.

Two message forms are built from the same events:

* ``object``: one JSON object per message, keyed by team;
* ``batched``: one JSON array per message holding up to ``batch_size`` events of one team, the
  way gateways flush telemetry (at ``batch_size`` events or on a ``flush_seconds`` clock tick,
  whichever comes first; the tick stays well under the allowed lateness, so nothing is late).

Each partition ends with one tail event far enough ahead in event time to close every window of
the data, so a consumer that has processed everything has closed every window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from tokenradar.core.partitioning import partition_for_key
from tokenradar.pricing import DEFAULT_PRICES

log = logging.getLogger(__name__)

MODELS: tuple[str, ...] = tuple(name for name in DEFAULT_PRICES if name != "default")
TOOLS: tuple[str, ...] = ("chat", "ide-assistant", "agent", "code-review", "batch")
TOOL_WEIGHTS = np.array([0.35, 0.3, 0.2, 0.1, 0.05])
WINDOW_SECONDS = 60
ALLOWED_LATENESS_SECONDS = 30


@dataclass(frozen=True, slots=True)
class Organisation:
    """Teams, users and how active each user is."""

    teams: int
    users: int
    seed: int
    team_names: list[str] = field(repr=False)
    user_names: list[str] = field(repr=False)
    team_of_user: npt.NDArray[np.int64] = field(repr=False)
    user_weight: npt.NDArray[np.float64] = field(repr=False)
    team_partition: list[int] = field(repr=False)


def organisation(teams: int, users: int, partitions: int, seed: int = 1) -> Organisation:
    """An organisation of ``teams`` teams and ``users`` users (every team has someone)."""
    if users < teams:
        raise ValueError("need at least one user per team")
    rng = np.random.default_rng(seed)
    # Team sizes are heavy-tailed too: a few large teams, many small ones.
    team_weight = rng.lognormal(0.0, 1.3, teams)
    team_of_user = np.concatenate(
        [np.arange(teams), rng.choice(teams, users - teams, p=team_weight / team_weight.sum())]
    ).astype(np.int64)
    rng.shuffle(team_of_user)
    weight = rng.lognormal(0.0, 1.2, users)
    team_names = [f"team-{i:05d}" for i in range(teams)]
    user_names = [f"user-{i:06d}" for i in range(users)]
    team_partition = [partition_for_key(name.encode(), partitions) for name in team_names]
    return Organisation(
        teams,
        users,
        seed,
        team_names,
        user_names,
        team_of_user,
        weight / weight.sum(),
        team_partition,
    )


@dataclass(slots=True)
class Workload:
    """Messages per partition for one form, and what a full consumer will have seen."""

    form: str
    partitions: int
    # (key, value) per partition, in produce order.
    messages: list[list[tuple[bytes, bytes]]]
    events: int  # events in the data, tail events included
    windows: int  # windows the data closes (tail windows stay open)
    series_users: int
    series_teams: int
    payload_bytes: int = 0
    message_count: int = 0


@dataclass(slots=True)
class EventColumns:
    """The generated events as columns, sorted by event time."""

    ts_ms: npt.NDArray[np.int64]
    user: npt.NDArray[np.int64]
    team: npt.NDArray[np.int64]
    json: list[bytes]
    start_ms: int
    end_ms: int


def events(
    org: Organisation,
    count: int,
    span_seconds: float,
    start: datetime = datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
) -> EventColumns:
    """``count`` events spread over ``span_seconds`` of event time, as JSON."""
    rng = np.random.default_rng(org.seed + 1)
    start_ms = int(start.timestamp() * 1000)
    span_ms = int(span_seconds * 1000)
    ts_ms = np.sort(rng.integers(start_ms, start_ms + span_ms, count)).astype(np.int64)
    if count >= org.users:
        user = np.concatenate(
            [np.arange(org.users), rng.choice(org.users, count - org.users, p=org.user_weight)]
        )
        rng.shuffle(user)
    else:
        user = rng.choice(org.users, count, p=org.user_weight)
    user = user.astype(np.int64)
    team = org.team_of_user[user]
    model = rng.choice(len(MODELS), count)
    tool = rng.choice(len(TOOLS), count, p=TOOL_WEIGHTS)
    input_tokens = np.minimum(rng.lognormal(np.log(2500), 1.0, count), 400_000).astype(np.int64)
    cached = (input_tokens * rng.uniform(0.0, 0.6, count)).astype(np.int64)
    output_tokens = np.minimum(rng.lognormal(np.log(450), 0.9, count), 64_000).astype(np.int64)
    # About half of the gateways report cost and cache hits; the worker prices the rest.
    reports_cost = (team % 2 == 0).tolist()

    minute_prefix: dict[int, str] = {}
    json: list[bytes] = []
    append = json.append
    team_names, user_names = org.team_names, org.user_names
    rows = zip(
        ts_ms.tolist(),
        user.tolist(),
        team.tolist(),
        model.tolist(),
        tool.tolist(),
        input_tokens.tolist(),
        cached.tolist(),
        output_tokens.tolist(),
        strict=True,
    )
    prices = DEFAULT_PRICES
    for index, (ts, u, t, m, tl, inp, cach, out) in enumerate(rows):
        minute, ms = divmod(ts, 60_000)
        prefix = minute_prefix.get(minute)
        if prefix is None:
            prefix = minute_prefix[minute] = datetime.fromtimestamp(minute * 60, tz=UTC).strftime(
                "%Y-%m-%dT%H:%M:"
            )
        head = (
            f'{{"event_id":"ev-{org.seed}-{index:09d}","ts":"{prefix}{ms // 1000:02d}.'
            f'{ms % 1000:03d}Z","team":"{team_names[t]}","user":"{user_names[u]}",'
            f'"model":"{MODELS[m]}","tool":"{TOOLS[tl]}","input_tokens":{inp},'
            f'"output_tokens":{out}'
        )
        if reports_cost[index]:
            price = prices[MODELS[m]]
            cost = (
                (inp - cach) * price.input_per_million
                + cach * price.cached_input_per_million
                + out * price.output_per_million
            ) / 1_000_000
            append(f'{head},"cached_input_tokens":{cach},"cost_usd":{cost:.8f}}}'.encode())
        else:
            append(f"{head}}}".encode())
    return EventColumns(ts_ms, user, team, json, start_ms, start_ms + span_ms)


def _tail(org: Organisation, columns: EventColumns, partitions: int) -> list[tuple[bytes, bytes]]:
    """One event per partition far enough ahead to close every window of the data."""
    ahead_ms = columns.end_ms + (WINDOW_SECONDS + ALLOWED_LATENESS_SECONDS + 1) * 1000
    tails: list[tuple[bytes, bytes]] = []
    for partition in range(partitions):
        team = org.team_partition.index(partition)
        name = org.team_names[team]
        ts = datetime.fromtimestamp(ahead_ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
        value = (
            f'{{"event_id":"tail-{org.seed}-{partition}","ts":"{ts}","team":"{name}",'
            f'"user":"{org.user_names[0]}","model":"{MODELS[0]}","input_tokens":1,'
            '"output_tokens":1}'
        )
        tails.append((name.encode(), value.encode()))
    return tails


def _windows(columns: EventColumns) -> int:
    window_index = (columns.ts_ms // (WINDOW_SECONDS * 1000)).astype(np.int64)
    return int(np.unique(columns.team * 10_000_000 + window_index).size)


def object_form(org: Organisation, columns: EventColumns, partitions: int) -> Workload:
    """One event per message, keyed by team, in event-time order."""
    team_keys = [name.encode() for name in org.team_names]
    part = org.team_partition
    messages: list[list[tuple[bytes, bytes]]] = [[] for _ in range(partitions)]
    for t, value in zip(columns.team.tolist(), columns.json, strict=True):
        messages[part[t]].append((team_keys[t], value))
    for partition, tail in enumerate(_tail(org, columns, partitions)):
        messages[partition].append(tail)
    return _workload("object", org, columns, partitions, messages)


def batched_form(
    org: Organisation,
    columns: EventColumns,
    partitions: int,
    batch_size: int = 50,
    flush_seconds: float = 20.0,
) -> Workload:
    """JSON arrays of up to ``batch_size`` events of one team, flushed on a clock tick."""
    if flush_seconds >= ALLOWED_LATENESS_SECONDS:
        raise ValueError("the flush interval must stay under the allowed lateness")
    tick = (columns.ts_ms // int(flush_seconds * 1000)).astype(np.int64)
    order = np.lexsort((columns.ts_ms, columns.team, tick))
    team_sorted = columns.team[order]
    tick_sorted = tick[order]
    group_change = np.ones(order.size, dtype=bool)
    group_change[1:] = (team_sorted[1:] != team_sorted[:-1]) | (tick_sorted[1:] != tick_sorted[:-1])
    group_start = np.maximum.accumulate(np.where(group_change, np.arange(order.size), 0))
    rank = np.arange(order.size) - group_start
    new_message = group_change | (rank % batch_size == 0)
    bounds = [*np.flatnonzero(new_message).tolist(), order.size]
    # A message is sent when its last event arrived: order messages by that time.
    last_ts = columns.ts_ms[order[np.array(bounds[1:]) - 1]]
    team_keys = [name.encode() for name in org.team_names]
    part = org.team_partition
    messages: list[list[tuple[bytes, bytes]]] = [[] for _ in range(partitions)]
    order_list = order.tolist()
    json = columns.json
    starts = bounds[:-1]
    ends = bounds[1:]
    teams_of_message = team_sorted[np.array(starts)].tolist()
    for index in np.argsort(last_ts, kind="stable").tolist():
        members = order_list[starts[index] : ends[index]]
        value = b"[" + b",".join([json[i] for i in members]) + b"]"
        t = teams_of_message[index]
        messages[part[t]].append((team_keys[t], value))
    for partition, (key, value) in enumerate(_tail(org, columns, partitions)):
        messages[partition].append((key, b"[" + value + b"]"))
    return _workload("batched", org, columns, partitions, messages)


def _workload(
    form: str,
    org: Organisation,
    columns: EventColumns,
    partitions: int,
    messages: list[list[tuple[bytes, bytes]]],
) -> Workload:
    workload = Workload(
        form=form,
        partitions=partitions,
        messages=messages,
        events=len(columns.json) + partitions,
        windows=_windows(columns),
        series_users=int(np.unique(columns.user).size),
        series_teams=int(np.unique(columns.team).size),
    )
    workload.payload_bytes = sum(len(v) for m in messages for _, v in m)
    workload.message_count = sum(len(m) for m in messages)
    return workload
