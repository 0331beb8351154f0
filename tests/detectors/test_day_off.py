"""A day off (a public holiday) is judged against its own level: a team-wide surge on it is
news even when it stays below an ordinary working day, and the quiet day itself is not."""

from __future__ import annotations

import math

from detectors import UsageDetector, UsageDetectorFactory, UsageDetectorSettings
from detectors.base import Finding

from .streams import DAY, MONDAY, team_windows

SETTINGS = UsageDetectorSettings(warmup_seconds=2 * DAY)
# The second Tuesday of the stream is a holiday: everyone at 12 % of a working day.
HOLIDAY = MONDAY + 8 * DAY
HOLIDAY_ACTIVITY = 0.12


def _holiday(user: str, ts: float) -> float:
    return HOLIDAY_ACTIVITY if HOLIDAY <= ts < HOLIDAY + DAY else 1.0


def _holiday_surge(user: str, ts: float) -> float:
    """Everyone at five times the holiday's level from 12:00 to 16:00: 0.6 of a working day."""
    surge = 5.0 if HOLIDAY + 12 * 3600 <= ts < HOLIDAY + 16 * 3600 else 1.0
    return _holiday(user, ts) * surge


def _team_findings(boost, seed: int = 3) -> list[tuple[float, Finding]]:  # type: ignore[no-untyped-def]
    detector = UsageDetector("search", SETTINGS)
    windows = team_windows(days=9, users=30, seed=seed, boost=boost)
    return [(w.end, f) for w in windows for f in detector.update(w) if f.user is None]


def _first_day_off_surge(findings: list[tuple[float, Finding]], day: float, what: str) -> Finding:
    """The first team finding on ``day``, checked to be the day-off verdict on a surge from
    12:00: verdicts come as hours close, 12:00's at 13:00, on two hours half of which surged."""
    on_the_day = [(at, f) for at, f in findings if day <= at < day + DAY]
    assert on_the_day, f"{what} was not found"
    at, first = on_the_day[0]
    assert first.kind == "team_surge"
    assert "day off" in first.summary
    assert day + 13 * 3600 <= at <= day + 14 * 3600
    return first


def test_a_surge_on_a_holiday_is_a_team_surge() -> None:
    first = _first_day_off_surge(_team_findings(_holiday_surge), HOLIDAY, "a 5x surge on a holiday")
    assert first.observed > 2.0 * first.expected


def test_a_quiet_holiday_raises_nothing() -> None:
    for seed in (3, 4):
        findings = [(at, f) for at, f in _team_findings(_holiday, seed) if at >= HOLIDAY]
        assert findings == []


def test_a_restored_team_continues_its_day_off_exactly() -> None:
    windows = list(team_windows(days=9, users=30, seed=3, boost=_holiday_surge))
    # Restored in the first minute of 13:00, before the verdict on 11:00-13:00 is read again.
    cut = next(i for i, w in enumerate(windows) if w.start >= HOLIDAY + 13 * 3600)
    straight = UsageDetector("search", SETTINGS)
    straight_findings = [straight.update(w) for w in windows]
    first = UsageDetector("search", SETTINGS)
    resumed_findings = [first.update(w) for w in windows[: cut + 1]]
    resumed = UsageDetectorFactory(warmup_seconds=2 * DAY).restore("search", first.to_state())
    resumed_findings += [resumed.update(w) for w in windows[cut + 1 :]]
    assert resumed_findings == straight_findings
    assert any("day off" in f.summary for step in resumed_findings[cut + 1 :] for f in step)


def test_state_without_a_day_off_verdict_restores() -> None:
    """A ceiling saved before the day-off verdict (six fields) restores without one: the next
    hour to close is judged as usual."""
    import msgpack

    windows = list(team_windows(days=9, users=30, seed=3, boost=_holiday_surge))
    cut = next(i for i, w in enumerate(windows) if w.start >= HOLIDAY + 12 * 3600)
    detector = UsageDetector("search", SETTINGS)
    for window in windows[:cut]:
        detector.update(window)
    plain = msgpack.unpackb(detector.to_state())
    plain["ceiling"] = plain["ceiling"][:6]
    restored = UsageDetectorFactory(warmup_seconds=2 * DAY).restore("search", msgpack.packb(plain))
    assert math.isnan(restored.ceiling.closed_off[0])
    findings = [f for w in windows[cut:] for f in restored.update(w) if f.user is None]
    assert any("day off" in f.summary for f in findings)


# The team's third day is a holiday: its overdispersion comes from its second day's hours,
# judged against its first day's.
THIRD_DAY = MONDAY + 2 * DAY


def _third_day_holiday_surge(user: str, ts: float) -> float:
    if not THIRD_DAY <= ts < THIRD_DAY + DAY:
        return 1.0
    return HOLIDAY_ACTIVITY * (5.0 if THIRD_DAY + 12 * 3600 <= ts < THIRD_DAY + 16 * 3600 else 1.0)


def test_a_surge_on_the_teams_third_day_a_holiday_is_found() -> None:
    """A team's Wednesday, after a Monday and a Tuesday, is a holiday with a surge from 12:00.
    Only Wednesday's own hours have two earlier working days; the team's overdispersion on that
    day comes from Tuesday's hours against Monday's, so the day off is judged (before, it was
    not judged until Thursday, and the surge was not found)."""
    detector = UsageDetector("search", SETTINGS)
    windows = team_windows(days=4, users=30, seed=3, boost=_third_day_holiday_surge)
    findings = [(w.end, f) for w in windows for f in detector.update(w) if f.user is None]
    _first_day_off_surge(findings, THIRD_DAY, "a 5x surge on the team's third day, a holiday")


def test_a_quiet_holiday_on_the_teams_third_day_raises_nothing() -> None:
    def holiday(user: str, ts: float) -> float:
        return HOLIDAY_ACTIVITY if THIRD_DAY <= ts < THIRD_DAY + DAY else 1.0

    for seed in (3, 4):
        detector = UsageDetector("search", SETTINGS)
        windows = team_windows(days=4, users=30, seed=seed, boost=holiday)
        assert [f for w in windows for f in detector.update(w) if f.user is None] == []


def test_a_holiday_does_not_widen_the_teams_overdispersion() -> None:
    """The hours of a day off are far below their usual counts: they are not the spread of the
    team's working days, and the overdispersion the verdicts divide by does not learn them. On
    a team's fourth day its working hours are few, and a holiday's would be a third of them."""
    holiday = MONDAY + 3 * DAY

    def boost(user: str, ts: float) -> float:
        return HOLIDAY_ACTIVITY if holiday <= ts < holiday + DAY else 1.0

    for seed in (3, 4):
        detector = UsageDetector("search", SETTINGS)
        before, after = math.nan, 0.0
        for window in team_windows(days=5, users=30, seed=seed, boost=boost):
            detector.update(window)
            if window.start < holiday:
                before = detector.ceiling.overdispersion()
            else:
                after = max(after, detector.ceiling.overdispersion())
        assert after <= before + 0.05, (seed, before, after)


def _nightly_job(user: str, ts: float) -> float:
    """``user0`` runs a job every night from 01:00 to 03:00 at about 12,000 requests an hour,
    more in each hour than the rest of the team sends in a working day (about 8,000)."""
    return 10_000.0 if user == "user0" and 3600.0 <= ts % DAY < 3 * 3600.0 else 1.0


def test_a_surge_on_a_holiday_is_found_in_a_team_with_a_nightly_job() -> None:
    """The job's two hours are most of the team's day: busy hours are judged against the day's
    mean hour with its two busiest hours lowered to the third, or no working hour would count as
    busy and the day off would never be judged."""

    def boost(user: str, ts: float) -> float:
        return _nightly_job(user, ts) * _holiday_surge(user, ts)

    _first_day_off_surge(
        _team_findings(boost), HOLIDAY, "a 5x surge on a holiday next to a nightly job"
    )


def test_a_quiet_holiday_with_a_nightly_job_raises_nothing() -> None:
    def boost(user: str, ts: float) -> float:
        return _nightly_job(user, ts) * _holiday(user, ts)

    for seed in (3, 4):
        findings = [(at, f) for at, f in _team_findings(boost, seed) if at >= HOLIDAY]
        assert findings == []
