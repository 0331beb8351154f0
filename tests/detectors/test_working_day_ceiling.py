"""A team's first weekend is judged against its working days: a weekend hour is not busier than
the same hour of a working day."""

from __future__ import annotations

from itertools import islice

from detectors import UsageDetector, UsageDetectorFactory, UsageDetectorSettings
from detectors.base import Finding

from .streams import DAY, MONDAY, team_windows

SETTINGS = UsageDetectorSettings(warmup_seconds=2 * DAY)
SATURDAY = MONDAY + 5 * DAY


def _weekend_ramp(user: str, ts: float) -> float:
    """Everyone at four times their usual rate from Saturday on: a level the team's working
    nights never reached (the stream's weekends run at 0.6 times a working night)."""
    return 4.0 if ts >= SATURDAY else 1.0


def _findings(boost=lambda user, ts: 1.0, seed: int = 2) -> list[tuple[float, Finding]]:  # type: ignore[no-untyped-def]
    detector = UsageDetector("search", SETTINGS)
    windows = team_windows(days=7, users=30, seed=seed, boost=boost)
    return [(w.end, f) for w in windows for f in detector.update(w)]


def test_a_first_weekend_above_the_working_nights_is_a_slow_ramp() -> None:
    findings = _findings(_weekend_ramp)
    weekend = [(at, f) for at, f in findings if at >= SATURDAY and f.user is None]
    assert weekend, "a first weekend at 2.4 times the working nights was not found"
    at, first = weekend[0]
    assert first.kind == "slow_ramp"
    assert first.metric == "requests"
    assert first.observed > 1.5 * first.expected
    assert "weekend" in first.summary
    # Verdicts come as hours close: the first weekend hour's, 00:00, at 01:00.
    assert SATURDAY + 3600 <= at <= SATURDAY + 2 * 3600
    assert [f for _, f in findings if at < SATURDAY] == []


def test_a_quiet_first_weekend_raises_nothing() -> None:
    for seed in (2, 3):
        assert _findings(seed=seed) == []


def test_one_users_weekend_loop_is_not_the_team_s() -> None:
    """One person at forty times their usual rate through Saturday night lifts the team's two
    hours above its working nights; the excess is theirs, and the team's ceiling stays quiet."""

    def loop(user: str, ts: float) -> float:
        return 40.0 if user == "user0" and SATURDAY <= ts < SATURDAY + 6 * 3600 else 1.0

    findings = _findings(loop)
    assert [f for _, f in findings if f.user is None] == []


def test_a_restored_team_continues_its_weekend_exactly() -> None:
    factory = UsageDetectorFactory(warmup_seconds=2 * DAY)
    windows = list(team_windows(days=7, users=30, seed=2, boost=_weekend_ramp))
    cut = next(i for i, w in enumerate(windows) if w.start >= SATURDAY + 2.5 * 3600)
    straight = factory.create("search")
    straight_findings = [straight.update(w) for w in windows]
    first = factory.create("search")
    resumed_findings = [first.update(w) for w in islice(windows, cut)]
    resumed = factory.restore("search", first.to_state())
    resumed_findings += [resumed.update(w) for w in windows[cut:]]
    assert resumed_findings == straight_findings
    assert any(f.metric == "requests" for step in resumed_findings[cut:] for f in step)
    assert resumed.to_state() == straight.to_state()


def test_version_5_state_restores_with_an_empty_ceiling() -> None:
    """State written before the working-day ceiling (version 5) restores: the team starts
    counting its hours at the restore, and judges no weekend hour until it has two working days
    of its own again."""
    import msgpack

    factory = UsageDetectorFactory(warmup_seconds=2 * DAY)
    windows = list(team_windows(days=7, users=30, seed=2, boost=_weekend_ramp))
    cut = next(i for i, w in enumerate(windows) if w.start >= MONDAY + 4 * DAY)  # Friday
    detector = factory.create("search")
    for window in windows[:cut]:
        detector.update(window)
    plain = msgpack.unpackb(detector.to_state())
    plain["v"] = 5
    del plain["ceiling"]
    restored = factory.restore("search", msgpack.packb(plain))
    assert restored.ceiling.hour == -1
    findings = [f for w in windows[cut:] for f in restored.update(w)]
    assert restored.ceiling.first_hour == int(windows[cut].start // 3600)
    assert not any(f.metric == "requests" and f.user is None for f in findings)
