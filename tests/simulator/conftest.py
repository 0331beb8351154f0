"""Shared, seeded simulations and helpers to aggregate their events."""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import numpy as np

from tokenradar.simulator import Simulation

MONDAY = datetime(2026, 11, 2, tzinfo=UTC)


def epoch(moment: datetime) -> float:
    """Seconds since the epoch."""
    return moment.timestamp()


def local_to_utc(simulation: Simulation, team: str, local: datetime) -> datetime:
    """The UTC time of a wall-clock time (given as naive-in-UTC) in ``team``'s time zone."""
    offset = simulation.organisation.team(team).utc_offset_minutes
    return local - timedelta(minutes=offset)


_COLUMNS: weakref.WeakKeyDictionary[Simulation, dict[str, np.ndarray]] = weakref.WeakKeyDictionary()


def columns(simulation: Simulation) -> dict[str, np.ndarray]:
    """All events of a run as columns (computed once per simulation)."""
    cached = _COLUMNS.get(simulation)
    if cached is None:
        blocks = list(simulation.event_blocks())
        cached = {
            "seconds": np.concatenate([block.ts_ms for block in blocks]) / 1000.0,
            "team": np.concatenate([block.team for block in blocks]),
            "user": np.concatenate([block.user for block in blocks]),
            "input": np.concatenate([block.input_tokens for block in blocks]),
            "output": np.concatenate([block.output_tokens for block in blocks]),
            "cost": np.concatenate([block.cost_usd for block in blocks]),
        }
        _COLUMNS[simulation] = cached
    return cached


def totals(
    simulation: Simulation,
    start: float,
    end: float,
    team: str | None = None,
    user: str | None = None,
) -> dict[str, float]:
    """Requests, tokens and cost of the events in ``[start, end)``, optionally of one team/user."""
    data = columns(simulation)
    keep = (data["seconds"] >= start) & (data["seconds"] < end)
    if team is not None:
        keep &= data["team"] == simulation.team_names.index(team)
    if user is not None:
        keep &= data["user"] == simulation.user_names.index(user)
    return {
        "requests": float(keep.sum()),
        "tokens": float((data["input"][keep] + data["output"][keep]).sum()),
        "cost": float(data["cost"][keep].sum()),
        "big_requests": float((data["input"][keep] >= 100_000).sum()),
    }


def hourly_requests_by_team(simulation: Simulation) -> dict[str, np.ndarray]:
    """Requests per hour of the run, per team."""
    hours = int((simulation.end_epoch - simulation.start_epoch) // 3600)
    counts = {name: np.zeros(hours) for name in simulation.team_names}
    start_ms = simulation.start_epoch * 1000
    for block in simulation.event_blocks():
        hour = ((block.ts_ms - start_ms) // 3_600_000).astype(np.int64)
        for team_index, name in enumerate(simulation.team_names):
            mine = block.team == team_index
            counts[name] += np.bincount(hour[mine], minlength=hours)[:hours]
    return counts


def hourly_requests_of_user(simulation: Simulation, user: str) -> np.ndarray:
    """Requests per hour of the run of one user."""
    hours = int((simulation.end_epoch - simulation.start_epoch) // 3600)
    index = simulation.user_names.index(user)
    counts = np.zeros(hours)
    start_ms = simulation.start_epoch * 1000
    for block in simulation.event_blocks():
        hour = ((block.ts_ms[block.user == index] - start_ms) // 3_600_000).astype(np.int64)
        counts += np.bincount(hour, minlength=hours)[:hours]
    return counts


def ratio(numerator: float, denominator: float) -> float:
    """A ratio that does not divide by zero."""
    return numerator / max(denominator, 1e-9)


def consume(events: Iterable[object]) -> int:
    """Count an iterator's items."""
    return sum(1 for _ in events)
