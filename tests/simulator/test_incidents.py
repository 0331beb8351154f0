"""Incidents change the labelled team or user by about the configured factor, and nobody else."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tokenradar.simulator import IncidentSpec, Simulation, SimulationConfig, generate
from tokenradar.simulator.organisation import Organisation

from .conftest import MONDAY, epoch, hourly_requests_of_user, local_to_utc, ratio, totals

SEED = 21
TEAMS = 8


def _organisation() -> Organisation:
    return generate(
        SimulationConfig(seed=SEED, teams=TEAMS, duration=timedelta(hours=1))
    ).organisation


def _biggest_team(organisation: Organisation) -> str:
    return max(organisation.teams, key=lambda team: len(organisation.members(team.name))).name


def _busy_user(organisation: Organisation, team: str) -> str:
    people = [u for u in organisation.members(team) if not u.service and not u.night_owl]
    return max(people, key=lambda user: user.peak_requests_per_minute).name


def _simulate(*incidents: IncidentSpec, days: int = 3) -> Simulation:
    return generate(
        SimulationConfig(seed=SEED, teams=TEAMS, duration=timedelta(days=days), incidents=incidents)
    )


def _offset(simulation_start: datetime, moment: datetime) -> timedelta:
    return moment - simulation_start


@pytest.fixture(scope="module")
def organisation() -> Organisation:
    return _organisation()


def test_team_surge_multiplies_the_team_and_leaves_others_alone(
    organisation: Organisation,
) -> None:
    team = _biggest_team(organisation)
    baseline = _simulate()
    # Tuesday 10:00-13:00 local, compared with Monday at the same hours.
    surge_start = local_to_utc(baseline, team, MONDAY + timedelta(days=1, hours=10))
    simulation = _simulate(
        IncidentSpec(
            "team_surge",
            at=surge_start - MONDAY,
            duration=timedelta(hours=3),
            team=team,
            magnitude=5.0,
        )
    )
    (label,) = simulation.true_incidents
    assert (label.kind, label.team, label.user, label.magnitude) == ("team_surge", team, None, 5.0)
    assert label.start == epoch(surge_start)
    assert label.end == epoch(surge_start + timedelta(hours=3))
    during = totals(simulation, label.start, label.end, team=team)
    monday = totals(simulation, label.start - 86400, label.end - 86400, team=team)
    assert 3.5 < ratio(during["requests"], monday["requests"]) < 7.0
    for other in organisation.teams:
        if other.name == team:
            continue
        with_surge = totals(simulation, label.start, label.end, team=other.name)
        without = totals(baseline, label.start, label.end, team=other.name)
        # Same seed, other teams: the traffic is statistically the same.
        assert 0.6 < ratio(with_surge["requests"] + 20, without["requests"] + 20) < 1.6


def test_user_runaway_multiplies_the_user_day_and_night(organisation: Organisation) -> None:
    team = _biggest_team(organisation)
    user = _busy_user(organisation, team)
    simulation = _simulate(
        IncidentSpec(
            "user_runaway", at=timedelta(days=1), duration=timedelta(days=1), user=user,
            magnitude=20.0,
        )
    )  # fmt: skip
    (label,) = simulation.true_incidents
    assert (label.team, label.user) == (team, user)
    during = totals(simulation, label.start, label.end, user=user)
    monday = totals(simulation, label.start - 86400, label.end - 86400, user=user)
    # The loop adds 19x the user's mean rate (a weekday is above the mean, hence the range).
    assert 8 < ratio(during["requests"], monday["requests"]) < 35
    # Day and night: the user is busy in every hour of the incident.
    hourly = hourly_requests_of_user(simulation, user)
    first_hour = int((label.start - simulation.start_epoch) // 3600)
    assert (hourly[first_hour : first_hour + 24] > 0).all()
    # A big team hardly notices one user.
    team_during = totals(simulation, label.start, label.end, team=team)
    team_monday = totals(simulation, label.start - 86400, label.end - 86400, team=team)
    assert ratio(team_during["requests"], team_monday["requests"]) < 2.5


@pytest.mark.parametrize("magnitude", [6.0, 15.0])
def test_model_switch_raises_cost_but_not_tokens(magnitude: float) -> None:
    baseline = _simulate()
    # The team is left open: the planner picks one whose bill can grow that much.
    simulation = _simulate(
        IncidentSpec(
            "model_switch",
            at=timedelta(days=1, hours=6),
            duration=timedelta(hours=12),
            magnitude=magnitude,
        )
    )
    (label,) = simulation.true_incidents
    team = label.team
    assert label.details["model"] in {"gpt-5", "claude-sonnet-4", "o4-reasoning", "claude-opus-4"}
    assert 0.0 < label.details["share_switched"] <= 1.0
    assert label.magnitude == pytest.approx(magnitude, rel=0.01)
    during = totals(simulation, label.start, label.end, team=team)
    unswitched = totals(baseline, label.start, label.end, team=team)
    assert 0.8 < ratio(during["tokens"], unswitched["tokens"]) < 1.25
    assert 0.5 * magnitude < ratio(during["cost"], unswitched["cost"]) < 1.8 * magnitude


def test_runaway_agent_sends_huge_contexts_at_the_configured_rate(
    organisation: Organisation,
) -> None:
    team = _biggest_team(organisation)
    user = _busy_user(organisation, team)
    simulation = _simulate(
        IncidentSpec(
            "runaway_agent", at=timedelta(days=1, hours=10), duration=timedelta(minutes=30),
            user=user, magnitude=20.0,
        )
    )  # fmt: skip
    (label,) = simulation.true_incidents
    during = totals(simulation, label.start, label.end, user=user)
    assert 0.8 * 600 < during["big_requests"] < 1.2 * 600
    assert during["tokens"] > 600 * 100_000
    before = totals(simulation, label.start - 3600, label.start, user=user)
    # Ordinary agent requests reach 100k tokens now and then, but not 20 a minute.
    assert before["big_requests"] < 0.05 * during["big_requests"]


def test_incident_times_and_targets_are_chosen_when_left_open() -> None:
    simulation = _simulate(
        IncidentSpec("team_surge"),
        IncidentSpec("user_runaway"),
        IncidentSpec("model_switch"),
        IncidentSpec("runaway_agent"),
    )
    labels = simulation.true_incidents
    assert sorted(label.kind for label in labels) == [
        "model_switch", "runaway_agent", "team_surge", "user_runaway",
    ]  # fmt: skip
    for label in labels:
        assert simulation.start_epoch <= label.start < label.end <= simulation.end_epoch
        # Detectors get some normal traffic first.
        assert label.start >= simulation.start_epoch + 0.25 * 86400 * 3 - 60
        if label.kind in ("user_runaway", "runaway_agent"):
            assert label.user is not None
            assert simulation.organisation.user(label.user).team == label.team
    surge = next(label for label in labels if label.kind == "team_surge")
    offset = simulation.organisation.team(surge.team).utc_offset_minutes
    local_hour = ((surge.start / 60 + offset) % 1440) / 60
    assert 9 <= local_hour < 14


def test_incident_after_the_end_is_rejected() -> None:
    with pytest.raises(ValueError, match="after the end"):
        _simulate(IncidentSpec("team_surge", at=timedelta(days=5)), days=1)


def test_unknown_team_is_rejected() -> None:
    with pytest.raises(ValueError, match="no team"):
        _simulate(IncidentSpec("team_surge", team="no-such-team"), days=1)
