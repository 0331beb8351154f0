"""bench/separability.py: every incident measured against its own team's clean traffic."""

from __future__ import annotations

from bench.separability import measure
from tokenradar.evaluation.benchmark import build_config
from tokenradar.simulator import generate


def test_every_incident_is_measured_and_loud_ones_stand_far_out() -> None:
    simulation = generate(build_config(11))
    rows = measure(11, simulation)
    assert sorted((r.kind, r.team, r.start) for r in rows) == sorted(
        (label.kind, label.team, label.start) for label in simulation.true_incidents
    )
    # Runaway agents (10-40x the tokens) and off-hours loops (10-30x, at night or at weekends)
    # are far beyond anything their user did at that hour on a clean day.
    loud = [r for r in rows if r.kind in ("runaway_agent", "off_hours_loop")]
    assert len(loud) == 4
    assert all(r.ratio > 10.0 for r in loud)
    # A surge is measured against the same team's clean hours: a few times their busiest.
    surges = [r.ratio for r in rows if r.kind == "team_surge"]
    assert len(surges) == 2
    assert all(1.5 < ratio < 20.0 for ratio in surges)
    # Holidays are read from the labels: an incident overlapping its team's holiday says so.
    holidays = [c for c in simulation.confounders if c.kind == "confounder:holiday"]
    assert holidays
    for row in rows:
        label = next(x for x in simulation.true_incidents if x.start == row.start)
        overlaps = any(
            h.team == row.team and h.start < label.end and h.end > label.start for h in holidays
        )
        assert row.holiday == overlaps
    assert any(row.holiday for row in rows)  # seed 11: a slow ramp of `sre` runs into one
