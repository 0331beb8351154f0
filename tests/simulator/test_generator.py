"""Determinism, ordering, the event contract, cycles and nightly batch jobs."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from itertools import islice

import numpy as np
import pytest

from tokenradar.pricing import cost_usd
from tokenradar.simulator import Simulation, SimulationConfig, Variation, generate
from tokenradar.simulator.catalogue import MODELS, TOOLS

from .conftest import MONDAY, hourly_requests_by_team

RFC3339_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def day() -> Simulation:
    return generate(SimulationConfig(seed=11, teams=6, duration=timedelta(hours=30)))


@pytest.fixture(scope="module")
def week() -> Simulation:
    return generate(SimulationConfig(seed=5, teams=8, duration=timedelta(days=7)))


def test_same_seed_gives_identical_events() -> None:
    config = SimulationConfig(seed=3, teams=4, duration=timedelta(hours=8))
    first = list(generate(config).events())
    second = list(generate(config).events())
    assert len(first) > 1000
    assert first == second


def test_events_can_be_iterated_twice(day: Simulation) -> None:
    assert list(islice(day.events(), 500)) == list(islice(day.events(), 500))


def test_other_seed_gives_other_events() -> None:
    base = SimulationConfig(seed=3, teams=4, duration=timedelta(hours=8))
    other = SimulationConfig(seed=4, teams=4, duration=timedelta(hours=8))
    assert list(islice(generate(base).events(), 200)) != list(islice(generate(other).events(), 200))


def test_events_are_in_event_time_order(day: Simulation) -> None:
    stamps = [event["ts"] for event in day.events()]
    # The fixed-width format sorts lexicographically in time order.
    assert stamps == sorted(stamps)
    assert stamps[0] >= "2026-11-02T00:00:00.000Z"
    assert stamps[-1] < "2026-11-03T06:00:00.000Z"


def test_events_follow_the_contract(day: Simulation) -> None:
    event_ids: set[str] = set()
    teams_with_cost: set[str] = set()
    teams_without_cost: set[str] = set()
    count = 0
    for event in day.events():
        count += 1
        assert RFC3339_MILLIS.match(event["ts"]), event["ts"]
        for field in ("team", "user", "model", "tool", "event_id"):
            assert isinstance(event[field], str) and event[field]
        for field in ("input_tokens", "output_tokens"):
            assert isinstance(event[field], int) and event[field] >= 0
        assert event["tool"] in TOOLS
        assert event["model"] in MODELS
        event_ids.add(event["event_id"])
        if "cached_input_tokens" in event:
            cached = event["cached_input_tokens"]
            assert isinstance(cached, int) and 0 <= cached <= event["input_tokens"]
        if "cost_usd" in event:
            teams_with_cost.add(event["team"])
            expected = cost_usd(
                event["model"],
                event["input_tokens"],
                event.get("cached_input_tokens", 0),
                event["output_tokens"],
            )
            assert event["cost_usd"] == pytest.approx(expected, rel=1e-6, abs=1e-8)
        else:
            teams_without_cost.add(event["team"])
        if event["model"] == "text-embed-3":
            assert event["output_tokens"] == 0
    assert len(event_ids) == count, "event ids must be unique"
    # Some gateways report cost and some do not; never both for one team.
    assert teams_with_cost and teams_without_cost
    assert not teams_with_cost & teams_without_cost


def test_a_week_of_a_mid_size_org_is_a_few_million_events_at_most() -> None:
    simulation = generate(SimulationConfig(seed=1, teams=30, duration=timedelta(days=1)))
    users = len(simulation.organisation.users)
    assert 300 < users < 1500
    weekday_events = sum(len(block) for block in simulation.event_blocks())
    # A weekday is the busiest; a week is less than seven of them.
    assert 100_000 < weekday_events * 7 < 5_000_000


def test_team_sizes_are_heavy_tailed() -> None:
    simulation = generate(SimulationConfig(seed=2, teams=30, duration=timedelta(hours=1)))
    sizes = sorted(
        sum(not user.service for user in simulation.organisation.members(team.name))
        for team in simulation.organisation.teams
    )
    assert sizes[-1] >= 50
    assert sizes[len(sizes) // 2] <= 20
    assert sizes[0] >= 3


def test_nights_are_quieter_than_days_and_weekends_than_weekdays(week: Simulation) -> None:
    hourly = hourly_requests_by_team(week)
    day_total = night_total = weekday_total = weekend_total = 0.0
    for team in week.organisation.teams:
        if team.batch_job is not None:
            continue
        # Index hours by the team's local time.
        shift = team.utc_offset_minutes // 60
        counts = np.roll(hourly[team.name], shift)[24:-24]
        local_hours = np.arange(24, 24 + len(counts)) % 24
        local_days = (np.arange(24, 24 + len(counts)) // 24) % 7
        weekdays = local_days < 5
        day_total += counts[weekdays & (local_hours >= 10) & (local_hours < 16)].mean()
        night_total += counts[weekdays & (local_hours >= 1) & (local_hours < 5)].mean()
        weekday_total += counts[weekdays].mean()
        weekend_total += counts[~weekdays].mean()
    assert night_total < 0.2 * day_total
    assert weekend_total < 0.4 * weekday_total


def test_nightly_batch_jobs_run_every_night(week: Simulation) -> None:
    runs = [label for label in week.confounders if label.kind == "confounder:nightly_batch"]
    jobs = [team.batch_job for team in week.organisation.teams if team.batch_job is not None]
    assert jobs, "the default organisation has batch jobs"
    for job in jobs:
        job_runs = [run for run in runs if run.user == job.user]
        # Seven nights, give or take one clipped at either end.
        assert 7 <= len(job_runs) <= 8
    service_index = {week.user_names.index(job.user): job for job in jobs}
    per_run: dict[tuple[str, float], int] = {}
    outside = 0
    for block in week.event_blocks():
        seconds = block.ts_ms / 1000.0
        for index, job in service_index.items():
            mine = seconds[block.user == index]
            inside = np.zeros(mine.shape, dtype=bool)
            for run in runs:
                if run.user == job.user:
                    in_run = (mine >= run.start) & (mine < run.end)
                    per_run[(job.user, run.start)] = per_run.get((job.user, run.start), 0) + int(
                        in_run.sum()
                    )
                    inside |= in_run
            outside += int((~inside).sum())
    assert outside == 0
    for run in runs:
        minutes = (run.end - run.start) / 60
        if minutes >= 10:
            expected = run.magnitude * minutes
            assert 0.7 * expected < per_run[(run.user or "", run.start)] < 1.3 * expected


def test_variation_changes_the_traffic() -> None:
    base = SimulationConfig(seed=8, teams=5, duration=timedelta(hours=12))
    varied = SimulationConfig(
        seed=8,
        teams=5,
        duration=timedelta(hours=12),
        variation=Variation(request_size_scale=3.0),
    )

    def mean_input(config: SimulationConfig) -> float:
        blocks = list(generate(config).event_blocks())
        return float(np.concatenate([block.input_tokens for block in blocks]).mean())

    assert mean_input(varied) > 2.0 * mean_input(base)


def test_randomised_variations_are_valid_and_differ() -> None:
    variations = {Variation.randomised(seed) for seed in range(20)}
    assert len(variations) == 20
    assert Variation.randomised(3, spread=0.0) == Variation()


def test_start_must_be_on_a_whole_minute() -> None:
    with pytest.raises(ValueError, match="whole minute"):
        SimulationConfig(start=MONDAY.replace(second=30))
    with pytest.raises(ValueError, match="timezone"):
        SimulationConfig(start=datetime(2026, 11, 2))
