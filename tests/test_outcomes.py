"""bench/outcomes.py: which incidents and false alarms changed between two runs."""

from __future__ import annotations

from typing import Any

from bench.outcomes import difference, median_delays, missed_findings


def _record(seed: int, found: list[bool], alarms: list[tuple[str, str]]) -> dict[str, Any]:
    kinds = [("slow_ramp", "edge", None), ("user_runaway", "ads", "ana")]
    return {
        "seed": seed,
        "team_weeks": 1.0,
        "incidents": [
            {"kind": k, "team": t, "user": u, "start": 100.0 * i, "found": f, "delay": None}
            for i, ((k, t, u), f) in enumerate(zip(kinds, found, strict=True))
        ],
        "false_alarms": [
            {"team": team, "kind": kind, "user": None, "at": 0.0, "near": "none"}
            for team, kind in alarms
        ],
    }


def test_gains_losses_and_alarms_are_named() -> None:
    before = [_record(7, [False, True], [("ads", "team_surge"), ("ads", "team_surge")])]
    after = [_record(7, [True, False], [("ads", "team_surge"), ("web", "slow_ramp")])]
    assert difference(before, after) == [
        "7 gained slow_ramp edge",
        "7 lost user_runaway ads ana",
        "7 +1 false alarm slow_ramp web",
        "7 -1 false alarm team_surge ads",
        "incidents found 1 -> 1; false alarms 2 -> 2",
    ]


def test_identical_runs_show_only_the_totals() -> None:
    runs = [_record(3, [True, False], [("ads", "team_surge")])]
    assert difference(runs, runs) == ["incidents found 1 -> 1; false alarms 1 -> 1"]


def test_median_delays_per_kind_count_only_found_incidents() -> None:
    run = _record(5, [True, True], [])
    run["incidents"][0]["delay"] = 600.0
    run["incidents"][1]["delay"] = 180.0
    missed = _record(6, [False, True], [])
    missed["incidents"][1]["delay"] = 60.0
    assert median_delays([run, missed]) == {
        "all": (3, 3.0),
        "slow_ramp": (1, 10.0),
        "user_runaway": (2, 2.0),
    }


def test_the_findings_during_an_incident_are_listed_from_its_start() -> None:
    """Given as if it had been missed, a runaway agent of development seed 119 (found 3.5
    minutes in) comes back with its team's findings during it, from the window the agent's user
    was first flagged; the record is returned whole, with its findings beside it."""
    delay = 210.0
    incident: dict[str, Any] = {
        "kind": "runaway_agent",
        "team": "forecasting",
        "user": "maria.eriksen",
        "start": 1793884980.0,
        "found": True,
        "delay": delay,
    }
    [listed] = missed_findings(119, [incident])
    assert {k: listed[k] for k in incident} == incident and listed["seed"] == 119
    first_minute, kind, user = listed["findings"][0]
    assert 0.0 <= first_minute <= delay / 60.0
    assert (kind, user) == ("runaway_agent", "maria.eriksen")
    assert all(minute >= 0.0 for minute, _, _ in listed["findings"])
