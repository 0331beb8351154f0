"""The long horizon of a user is judged against what their hours usually hold over an hour."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from detectors import UsageDetector
from detectors.users import RatioTracker

SEEDS = range(11, 19)


def _loops_caught() -> int:
    """Of eight simulated organisations, in how many a user's 20x loop over a working day (8 h
    from 09:00 UTC on the fourth day) is caught while it runs."""
    from tokenradar.evaluation.windows import aggregate_windows
    from tokenradar.simulator import IncidentSpec, SimulationConfig, generate

    logging.getLogger("tokenradar").setLevel(logging.WARNING)
    caught = 0
    for seed in SEEDS:
        base = SimulationConfig(seed=seed, teams=3, duration=timedelta(days=4))
        team = next(t.name for t in generate(base).organisation.teams if t.appears_at is None)
        config = SimulationConfig(
            seed=seed,
            teams=3,
            duration=timedelta(days=4),
            incidents=(
                IncidentSpec(
                    "user_runaway", at=timedelta(days=3, hours=9), duration=timedelta(hours=8),
                    team=team, magnitude=20.0,
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
