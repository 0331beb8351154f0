"""Slow ramps, off-hours loops and the confounders."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from tokenradar.simulator import (
    ConfounderSpec,
    IncidentSpec,
    Simulation,
    SimulationConfig,
    generate,
)

from .conftest import hourly_requests_by_team, hourly_requests_of_user, ratio, totals

SEED = 33
TEAMS = 8
DAY = 86400.0


def _simulate(
    incidents: tuple[IncidentSpec, ...] = (),
    confounders: tuple[ConfounderSpec, ...] = (),
    days: int = 4,
) -> Simulation:
    return generate(
        SimulationConfig(
            seed=SEED,
            teams=TEAMS,
            duration=timedelta(days=days),
            incidents=incidents,
            confounders=confounders,
        )
    )


@pytest.fixture(scope="module")
def baseline() -> Simulation:
    return _simulate()


def _biggest_team(simulation: Simulation) -> str:
    organisation = simulation.organisation
    return max(organisation.teams, key=lambda team: len(organisation.members(team.name))).name


def test_slow_ramp_climbs_then_stays(baseline: Simulation) -> None:
    team = _biggest_team(baseline)
    simulation = _simulate(
        (
            IncidentSpec(
                "slow_ramp", at=timedelta(days=1), duration=timedelta(days=3), team=team,
                magnitude=4.0,
            ),
        )
    )  # fmt: skip
    (label,) = simulation.true_incidents
    assert label.start == simulation.start_epoch + DAY
    ramp_end = label.details["ramp_end"]
    assert label.start < ramp_end < label.end
    ramped = hourly_requests_by_team(simulation)[team]
    normal = hourly_requests_by_team(baseline)[team]
    first_hour = int((label.start - simulation.start_epoch) // 3600)
    ramp_end_hour = int(np.ceil((ramp_end - simulation.start_epoch) / 3600))
    # Before the ramp: unchanged. After it: about 4x. In between: climbing.
    assert ratio(ramped[:first_hour].sum(), normal[:first_hour].sum()) == pytest.approx(1, abs=0.05)
    plateau = slice(ramp_end_hour, None)
    assert 3.0 < ratio(ramped[plateau].sum(), normal[plateau].sum()) < 5.2
    middle = slice(first_hour, ramp_end_hour)
    assert 1.5 < ratio(ramped[middle].sum(), normal[middle].sum()) < 3.5


def test_off_hours_loop_is_heavy_night_usage_of_a_day_worker() -> None:
    simulation = _simulate((IncidentSpec("off_hours_loop", magnitude=25.0),))
    (label,) = simulation.true_incidents
    assert label.user is not None
    user = simulation.organisation.user(label.user)
    assert not user.night_owl and not user.service
    team = simulation.organisation.team(label.team)
    local_hour = ((label.start / 60 + team.utc_offset_minutes) % 1440) / 60
    local_weekday = int(((label.start / 60 + team.utc_offset_minutes) // 1440 + 3) % 7)
    assert local_hour < 4 or local_weekday >= 5
    hourly = hourly_requests_of_user(simulation, label.user)
    first = int((label.start - simulation.start_epoch) // 3600)
    last = int((label.end - simulation.start_epoch) // 3600)
    during = hourly[first:last].mean()
    # Same hours on the other nights: next to nothing.
    others = [
        hourly[first + shift : last + shift].mean()
        for shift in (-48, -24, 24, 48)
        if first + shift >= 0 and last + shift <= len(hourly)
    ]
    assert during > 10 * max(max(others), 0.5)


def test_holiday_drops_the_region(baseline: Simulation) -> None:
    simulation = _simulate(confounders=(ConfounderSpec("holiday", at=timedelta(days=1, hours=12)),))
    labels = [label for label in simulation.confounders if label.kind == "confounder:holiday"]
    assert labels
    for label in labels:
        assert label.end - label.start <= DAY
        during = totals(simulation, label.start, label.end, team=label.team)
        normal = totals(baseline, label.start, label.end, team=label.team)
        batch = simulation.organisation.team(label.team).batch_job is not None
        if not batch and normal["requests"] > 200:
            assert ratio(during["requests"], normal["requests"]) < 0.3


def test_onboarding_adds_about_thirty_percent_more_people(baseline: Simulation) -> None:
    team = _biggest_team(baseline)
    simulation = _simulate(
        confounders=(ConfounderSpec("onboarding", at=timedelta(hours=9), team=team),),
        days=8,
    )
    (label,) = [label for label in simulation.confounders if label.kind == "confounder:onboarding"]
    before = sum(not user.service for user in baseline.organisation.members(team))
    after = sum(not user.service for user in simulation.organisation.members(team))
    assert after == before + label.details["new_users"]
    assert 1.2 < after / before < 1.4
    newcomers = [user for user in simulation.organisation.members(team) if user.joins_at]
    assert all(label.start <= (user.joins_at or 0) < label.end for user in newcomers)
    # Nobody sends before joining.
    for user in newcomers[:5]:
        assert totals(simulation, 0, user.joins_at or 0, user=user.name)["requests"] == 0


def test_new_team_appears_mid_stream() -> None:
    simulation = _simulate(confounders=(ConfounderSpec("new_team", at=timedelta(days=2, hours=8)),))
    (label,) = [label for label in simulation.confounders if label.kind == "confounder:new_team"]
    assert label.team not in _simulate().team_names
    assert totals(simulation, 0, label.start, team=label.team)["requests"] == 0
    assert totals(simulation, label.start, simulation.end_epoch, team=label.team)["requests"] > 0
    # It is never the target of a randomly placed incident.
    with_incidents = _simulate(
        tuple(IncidentSpec("team_surge") for _ in range(5)),
        (ConfounderSpec("new_team", at=timedelta(days=2, hours=8)),),
    )
    assert all(incident.team != label.team for incident in with_incidents.true_incidents)


def test_first_busy_morning_is_a_new_hire_at_nine(baseline: Simulation) -> None:
    simulation = _simulate(
        confounders=(ConfounderSpec("first_busy_morning", at=timedelta(days=1)),)
    )
    (label,) = [
        label for label in simulation.confounders if label.kind == "confounder:first_busy_morning"
    ]
    assert label.user is not None
    assert label.user not in baseline.user_names
    team = simulation.organisation.team(label.team)
    local_minute = (label.start / 60 + team.utc_offset_minutes) % 1440
    assert local_minute == 9 * 60
    assert totals(simulation, 0, label.start, user=label.user)["requests"] == 0
    assert totals(simulation, label.start, label.end, user=label.user)["requests"] > 0


def test_model_trial_raises_one_users_cost_briefly(baseline: Simulation) -> None:
    simulation = _simulate(confounders=(ConfounderSpec("model_trial"),))
    (label,) = [label for label in simulation.confounders if label.kind == "confounder:model_trial"]
    assert label.user is not None and label.details["model"] == "claude-opus-4"
    assert label.end - label.start <= 2 * 3600
    trial = totals(simulation, label.start, label.end, user=label.user)
    normal = totals(baseline, label.start, label.end, user=label.user)
    assert trial["tokens"] == pytest.approx(normal["tokens"], rel=0.5) or normal["requests"] < 20
    if normal["requests"] >= 20:
        assert trial["cost"] > 2 * normal["cost"]


def test_confounders_and_incidents_are_labelled_separately() -> None:
    simulation = _simulate(
        (IncidentSpec("team_surge"),),
        (ConfounderSpec("holiday"), ConfounderSpec("model_trial")),
    )
    assert all(not label.is_confounder for label in simulation.true_incidents)
    assert all(label.kind.startswith("confounder:") for label in simulation.confounders)
    kinds = {label.kind for label in simulation.confounders}
    assert {"confounder:holiday", "confounder:model_trial", "confounder:nightly_batch"} <= kinds
