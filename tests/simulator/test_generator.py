from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from tokenradar.events import parse_event_time, parse_message
from tokenradar.simulator import IncidentSpec, SimulationConfig, Variation, generate
from tokenradar.simulator.sinks import labels_path, load_labels, paced, write_jsonl

MONDAY = datetime.fromisoformat("2026-11-02T00:00:00+00:00")
HOUR = 3600.0


def config(**overrides: object) -> SimulationConfig:
    base: dict[str, object] = {
        "seed": 3,
        "teams": 5,
        "start": MONDAY,
        "duration_seconds": 2 * 86_400,
    }
    base.update(overrides)
    return SimulationConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def two_days() -> list[dict[str, object]]:
    return list(generate(config()).events())


def test_same_seed_same_stream_and_any_minute_can_be_regenerated(
    two_days: list[dict[str, object]],
) -> None:
    again = generate(config())
    assert list(again.events()) == two_days
    later = MONDAY.timestamp() + 30 * HOUR
    assert list(again.events(since=later)) == [
        e for e in two_days if parse_event_time(e["ts"]) >= later
    ]
    assert list(generate(config(seed=4)).events()) != two_days


def test_events_are_in_event_time_order_and_honour_the_contract(
    two_days: list[dict[str, object]],
) -> None:
    times = [parse_event_time(e["ts"]) for e in two_days]
    assert times == sorted(times)
    assert len({e["event_id"] for e in two_days}) == len(two_days)
    for event in two_days[::97]:
        parsed, rejected = parse_message(orjson.dumps(event))
        assert rejected == [] and len(parsed) == 1


def test_nights_and_weekends_are_quiet_and_batch_jobs_run_every_night() -> None:
    simulation = generate(
        config(duration_seconds=7 * 86_400, seed=5, teams=3, variation=Variation(batch_share=0.5))
    )
    batch_nights: defaultdict[str, set[int]] = defaultdict(set)
    by_day: Counter[int] = Counter()
    for event in simulation.events():
        ts = parse_event_time(event["ts"])
        day = int((ts - MONDAY.timestamp()) // 86_400)
        if str(event["user"]).startswith("svc-"):
            batch_nights[str(event["team"])].add(day)
        else:
            by_day[day] += 1
    assert by_day[5] + by_day[6] < 0.35 * (by_day[0] + by_day[1])  # Sat+Sun vs Mon+Tue
    batch_teams = [t for t in simulation.organisation.teams if t.batch_user]
    assert batch_teams, "seed 5 has a team with a nightly batch job"
    for team in batch_teams:
        assert batch_nights[team.name] >= set(range(1, 7))


def working_hours_incident(kind: str, magnitude: float | None = None) -> IncidentSpec:
    """An incident on Tuesday 10:00-14:00 in the biggest team's own time zone."""
    team = max(generate(config()).organisation.teams, key=lambda t: len(t.users))
    at = (24 + 10 - team.utc_offset_hours) * HOUR
    return IncidentSpec(kind=kind, at=at, duration=4 * HOUR, team=team.name, magnitude=magnitude)


@pytest.mark.parametrize(
    ("kind", "factor"),
    [("user_runaway", 20.0), ("team_surge", 5.0)],
)
def test_incidents_multiply_the_labelled_volume_and_leave_others_alone(
    kind: str, factor: float
) -> None:
    spec = working_hours_incident(kind, magnitude=factor)
    with_incident = generate(config(incidents=(spec,)))
    [incident] = with_incident.incidents
    baseline = generate(config())

    def during(sim: object) -> list[dict[str, object]]:
        events = []
        for event in sim.events(since=incident.start):  # type: ignore[attr-defined]
            if parse_event_time(event["ts"]) >= incident.end:
                break
            events.append(event)
        return events

    def volume(sim: object, *, target: bool) -> int:
        total = 0
        for event in during(sim):
            matches = event["team"] == incident.team and (
                incident.user is None or event["user"] == incident.user
            )
            if matches == target:
                total += int(event["input_tokens"]) + int(event["output_tokens"])
        return total

    ratio = volume(with_incident, target=True) / max(1, volume(baseline, target=True))
    assert ratio > factor * 0.5

    def other_teams(sim: object) -> list[object]:
        return [e for e in during(sim) if e["team"] != incident.team]

    assert other_teams(with_incident) == other_teams(baseline)


def test_model_switch_raises_cost_not_tokens() -> None:
    from tokenradar.pricing import cost_usd

    spec = working_hours_incident("model_switch")
    switched = generate(config(incidents=(spec,)))
    [incident] = switched.incidents
    plain = generate(config())

    def totals(sim: object) -> tuple[int, float]:
        tokens, cost = 0, 0.0
        for e in sim.events(since=incident.start):  # type: ignore[attr-defined]
            if parse_event_time(e["ts"]) >= incident.end:
                break
            if e["team"] == incident.team:
                tokens += int(e["input_tokens"]) + int(e["output_tokens"])
                cost += cost_usd(
                    str(e["model"]),
                    int(e["input_tokens"]),
                    int(e["cached_input_tokens"]),
                    int(e["output_tokens"]),
                )
        return tokens, cost

    tokens_after, cost_after = totals(switched)
    tokens_before, cost_before = totals(plain)
    assert tokens_after == tokens_before
    assert cost_after > 3 * cost_before


def test_jsonl_sink_round_trips_events_and_labels(tmp_path: Path) -> None:
    spec = IncidentSpec(kind="runaway_agent", at=10 * HOUR, duration=0.5 * HOUR)
    simulation = generate(
        config(incidents=(spec,), duration_seconds=12 * HOUR, confounders=("holiday",))
    )
    path = tmp_path / "events.jsonl"
    count = write_jsonl(simulation, path)
    lines = path.read_bytes().splitlines()
    assert len(lines) == count
    assert [orjson.loads(line) for line in lines] == list(simulation.events())
    assert load_labels(labels_path(path)) == simulation.incidents


def test_paced_sends_history_at_once_then_follows_event_time() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    t0 = MONDAY.timestamp()
    events = [{"ts": t0 + t} for t in (100.0, 200.0, 1000.0, 1060.0, 1120.0)]
    out = list(
        paced(events, live_from=t0 + 1000.0, speedup=60.0, clock=lambda: now[0], sleep=sleep)
    )
    assert out == events
    assert slept == pytest.approx([1.0, 1.0])
