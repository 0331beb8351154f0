"""The long horizon of a user is judged against what their hours usually hold over an hour."""

from __future__ import annotations

import logging
import math
import random
from datetime import timedelta

import pytest

from detectors import Finding, UsageDetector
from detectors.users import DayVolume, RatioTracker, UserHorizons, UserModel, poisson_upper_tail

from .streams import DAY, MONDAY, poisson

SEEDS = range(11, 19)


def _loops_caught(hours: float = 8.0, magnitude: float = 20.0, days: float = 4.0) -> int:
    """Of eight simulated organisations, in how many a user's loop (by default 20x over a
    working day: 8 h from 09:00 UTC on the fourth day) is caught while it runs."""
    from tokenradar.evaluation.windows import aggregate_windows
    from tokenradar.simulator import IncidentSpec, SimulationConfig, generate

    logging.getLogger("tokenradar").setLevel(logging.WARNING)
    caught = 0
    for seed in SEEDS:
        base = SimulationConfig(seed=seed, teams=3, duration=timedelta(days=days))
        team = next(t.name for t in generate(base).organisation.teams if t.appears_at is None)
        config = SimulationConfig(
            seed=seed,
            teams=3,
            duration=timedelta(days=days),
            incidents=(
                IncidentSpec(
                    "user_runaway", at=timedelta(days=3, hours=9), duration=timedelta(hours=hours),
                    team=team, magnitude=magnitude,
                ),
            ),
        )  # fmt: skip
        simulation = generate(config)
        (incident,) = simulation.true_incidents
        detector = UsageDetector(team)
        events = (event for event in simulation.events() if event["team"] == team)
        for window in aggregate_windows(events):
            findings = detector.update(window)
            if findings and incident.start <= window.end <= incident.end:
                caught += 1
                break
    return caught


def test_loops_are_caught_more_often_than_against_five_minute_peaks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The hour's references alone: the day volume (which catches these loops either way) is off.
    monkeypatch.setattr(DayVolume, "excess", lambda volume: float("nan"))
    caught = _loops_caught()
    assert caught >= 4
    usual_rates = RatioTracker.usual_rates

    def short_peaks_for_both(
        tracker: RatioTracker, ts: float, day_shift: float
    ) -> tuple[float, float]:
        short, _ = usual_rates(tracker, ts, day_shift)
        return short, short

    monkeypatch.setattr(RatioTracker, "usual_rates", short_peaks_for_both)
    assert _loops_caught() < caught


def _first_alarm(seed: int, team: str) -> Finding | None:
    """The first finding about the user of the benchmark's user runaway in ``team`` (seed
    ``seed``) while it runs, or None."""
    from tokenradar.evaluation.benchmark import build_config
    from tokenradar.evaluation.windows import aggregate_windows
    from tokenradar.simulator import generate

    logging.getLogger("tokenradar").setLevel(logging.WARNING)
    simulation = generate(build_config(seed))
    incident = next(
        label
        for label in simulation.true_incidents
        if label.kind == "user_runaway" and label.team == team
    )
    detector = UsageDetector(team)
    events = (event for event in simulation.events() if event["team"] == team)
    for window in aggregate_windows(events):
        if window.end > incident.end:
            return None
        for finding in detector.update(window):
            if finding.user == incident.user and window.end >= incident.start:
                return finding
    return None


@pytest.mark.parametrize(("seed", "team"), [(17, "partner-api"), (27, "forecasting")])
def test_a_day_long_loop_is_caught_by_the_day_volume(
    monkeypatch: pytest.MonkeyPatch, seed: int, team: str
) -> None:
    """Loops of the labelled benchmark (development seeds) at 12-33x a user's mean rate, day and
    night for 14-16 hours: within the user's busy hours and learned by their hourly references
    within hours, but over the day several times the most they ever sent."""
    finding = _first_alarm(seed, team)
    assert finding is not None
    # It explains itself in the day volume's terms: requests over the last 24 hours (per window)
    # against the busiest earlier day.
    assert finding.metric == "requests"
    assert finding.observed > 2.0 * finding.expected > 0.0
    assert "last 24 h" in finding.summary
    monkeypatch.setattr(DayVolume, "excess", lambda volume: float("nan"))
    assert _first_alarm(seed, team) is None


def test_a_sparse_users_odd_request_is_no_alarm_but_their_night_loop_is() -> None:
    # About ten requests a weekday, all in the morning, for three weeks: by then the user's own
    # tail is trusted. One request at 20:00 is twenty times their usual rate there, and as
    # likely as one in twenty; a request every two minutes at night is neither.
    horizons = UserHorizons()
    user = UserModel(first_seen=MONDAY)
    rng = random.Random(3)

    def window(ts: float, requests: int) -> float:
        step = user.observe(ts + 60.0, 2000.0 * requests, requests, 60.0, horizons)
        user.learn(ts + 60.0, 2000.0 * requests, requests, 60.0, step, horizons, in_alarm=False)
        return step.tail_probability

    for minute in range(21 * 1440):
        ts = MONDAY + 60.0 * minute
        weekday, hour = int(ts // DAY + 3) % 7, (ts % DAY) / 3600.0
        requests = poisson(rng, 0.04) if weekday < 5 and 8.0 <= hour < 12.0 else 0
        if requests:
            window(ts, requests)
    assert user.knows_its_tail()
    assert window(MONDAY + 21 * DAY + 20 * 3600.0, 1) > 1e-3
    night = MONDAY + 22 * DAY + 2 * 3600.0
    assert min(window(night + 120.0 * i, 1) for i in range(30)) < 1e-5


@pytest.mark.parametrize(
    ("count", "mean"), [(1, 0.05), (3, 0.2), (5, 0.225), (12, 4.0), (40, 30.0), (400, 390.0)]
)
def test_poisson_upper_tail_matches_the_sum_of_the_probabilities_below_the_count(
    count: int, mean: float
) -> None:
    below = sum(math.exp(k * math.log(mean) - mean - math.lgamma(k + 1)) for k in range(count))
    assert poisson_upper_tail(float(count), mean) == pytest.approx(1.0 - below, rel=1e-6)
