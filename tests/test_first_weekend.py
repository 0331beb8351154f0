"""bench/first_weekend.py: a team's first weekend against its working days."""

from __future__ import annotations

import math

from bench.first_weekend import first_weekend


def test_a_ramp_through_the_first_weekend_stands_above_the_teams_that_had_none() -> None:
    nulls, ramps = first_weekend(12)
    # Seed 12: twelve teams with a first weekend to measure, one slow ramp (`edge`, 4.9x from
    # Thursday) that climbs through it.
    assert len(nulls) >= 10
    assert [(seed, team) for seed, team, *_ in ramps] == [(12, "edge")]
    _, _, magnitude, ratio, z, detected = ramps[0]
    assert math.isclose(magnitude, 4.9, abs_tol=0.05)
    assert detected is None  # no detector run without ``detect``
    # Weekends are lighter than working days: no team without an incident comes near the ramp.
    assert all(null_ratio < 1.6 for null_ratio, _ in nulls)
    assert ratio > 1.6
    assert z > max(null_z for _, null_z in nulls) + 1.0
