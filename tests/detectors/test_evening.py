"""A working day's evening is judged as one count against the same hours of recent working days:
a ramp that starts in the morning has climbed by then, in hours the day-over-day CUSUM leaves
alone."""

from __future__ import annotations

import random

from alerts.lifecycle import TeamAlertLifecycle
from detectors import UsageDetector, UsageDetectorSettings
from detectors.base import Finding
from detectors.rates import WorkingDayCeiling

from .streams import DAY, MONDAY, team_windows

SETTINGS = UsageDetectorSettings(warmup_seconds=2 * DAY)
THURSDAY = MONDAY + 3 * DAY
HOUR = 3600.0


def _team_findings(boost, seed: int = 2) -> list[tuple[float, Finding]]:  # type: ignore[no-untyped-def]
    detector = UsageDetector("search", SETTINGS)
    windows = team_windows(days=7, users=30, seed=seed, boost=boost)
    return [(w.end, f) for w in windows for f in detector.update(w) if f.user is None]


def test_an_evening_above_recent_working_evenings_is_a_slow_ramp() -> None:
    """Everyone at 1.6 times their usual rate on Thursday evening: nothing in the afternoon, and
    the evening found as it closes, at midnight."""

    def evening(user: str, ts: float) -> float:
        return 1.6 if THURSDAY + 17 * HOUR <= ts < THURSDAY + DAY else 1.0

    for seed in (2, 3):
        findings = _team_findings(evening, seed)
        assert findings, "an evening at 1.6 times recent working evenings was not found"
        at, first = findings[0]
        assert first.kind == "slow_ramp"
        assert "evening" in first.summary
        assert first.observed > 1.3 * first.expected
        assert THURSDAY + DAY <= at <= THURSDAY + DAY + HOUR


def test_an_evenings_one_verdict_fires_an_alert_as_the_team_falls_silent() -> None:
    """Everyone at 1.6 times their usual rate on Thursday evening, then a team that sends
    nothing from 00:01 to 06:00. The evening is judged in the first window after it, whether
    that is at 00:00 or at 06:00; a team silent after that one window still gets its alert: the
    lifecycle takes the evening's seven hours as held, it does not wait for a second window."""
    friday = THURSDAY + DAY

    def evening_then_night(user: str, ts: float) -> float:
        if THURSDAY + 17 * HOUR <= ts < friday:
            return 1.6
        return 0.0 if friday + 60.0 <= ts < friday + 6 * HOUR else 1.0

    for seed in (2, 3, 4):
        detector = UsageDetector("search", SETTINGS)
        lifecycle = TeamAlertLifecycle("search")
        verdicts, fired = [], []
        for w in team_windows(days=7, users=30, seed=seed, boost=evening_then_night):
            findings = [f for f in detector.update(w) if f.user is None]
            verdicts += [w.end for f in findings if "evening" in f.summary]
            fired += [
                (w.end, a)
                for a in lifecycle.decide(w.start, w.end, w.end, findings)
                if a.status == "firing"
            ]
        assert verdicts, f"seed {seed}: the evening was not found"
        assert fired, f"seed {seed}: the evening's finding raised no alert"
        at, alert = fired[0]
        assert alert.kind == "slow_ramp"
        assert at == verdicts[0]


def test_ordinary_evenings_raise_nothing() -> None:
    for seed in (2, 3, 4):
        assert _team_findings(lambda user, ts: 1.0, seed) == []


def test_one_users_evening_loop_is_not_the_team_s() -> None:
    """One person at thirty times their usual rate through Thursday evening lifts the team's
    evening above recent ones; the excess is theirs, not the team's."""

    def loop(user: str, ts: float) -> float:
        return 30.0 if user == "user0" and THURSDAY + 18 * HOUR <= ts < THURSDAY + DAY else 1.0

    findings = _team_findings(loop)
    assert [f for _, f in findings if "evening" in f.summary] == []


def test_the_ceiling_judges_each_working_evening_once_as_the_day_closes() -> None:
    friday = THURSDAY + DAY
    rng = random.Random(1)
    ceiling = WorkingDayCeiling()
    verdicts = []
    for hour in range(int(MONDAY // HOUR), int((MONDAY + 7 * DAY) // HOUR)):
        local = hour % 24
        friday_evening = friday <= hour * HOUR < friday + DAY and local >= 17
        level = 100.0 if 9 <= local < 17 else 20.0
        ceiling.count(
            hour * HOUR, rng.gauss(level, 3.0) * (2.0 if friday_evening else 1.0), 0.0,
            judge_evening=True,
        )  # fmt: skip
        p = ceiling.closed_evening[0]
        if p == p:
            verdicts.append((hour * HOUR, p))
    # Wednesday's (the first day with the team's overdispersion known: Tuesday's hours judged
    # against Monday's), Thursday's and Friday's, each at the midnight that closes it; none at
    # the weekend.
    assert [at for at, _ in verdicts] == [friday - DAY, friday, friday + DAY]
    wednesday, thursday, doubled = (p for _, p in verdicts)
    assert wednesday > 0.01
    assert thursday > 0.01
    assert doubled < 1e-6


def test_an_evening_finding_names_the_users_above_their_usual_share_of_the_evening() -> None:
    """Ten of thirty people at 2.5 times their usual rate through Thursday evening: the finding's
    contributors are users, read from the evening's hours, and they are among the ten, each with
    about a tenth of the excess."""
    boosted = {f"user{i}" for i in range(10)}

    def evening(user: str, ts: float) -> float:
        on = THURSDAY + 17 * HOUR <= ts < THURSDAY + DAY
        return 2.5 if on and user in boosted else 1.0

    findings = [f for _, f in _team_findings(evening) if "evening" in f.summary]
    assert findings, "a third of the team at 2.5 times its evening rate was not found"
    contributors = findings[0].top_contributors
    assert [c.dimension for c in contributors] == ["user"] * 3
    assert {c.name for c in contributors} <= boosted
    assert all(0.05 < c.share < 0.2 for c in contributors)
