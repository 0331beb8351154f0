"""A team's days and weekends follow its own midnight, read from when its users work."""

from __future__ import annotations

import msgpack
import pytest

from detectors import UsageDetector, UsageDetectorSettings
from detectors.robust import seasonal_bin

from .streams import DAY, MONDAY, diurnal, team_windows

HOUR = 3600.0
SETTINGS = UsageDetectorSettings(warmup_seconds=2 * DAY)


def _settled(offset: float, days: float = 4.0, **kwargs) -> UsageDetector:  # type: ignore[no-untyped-def]
    detector = UsageDetector("search", SETTINGS)
    for window in team_windows(days=days, users=8, utc_offset_hours=offset, **kwargs):
        detector.update(window)
    return detector


@pytest.mark.parametrize("offset", [-8.0, -5.0, 0.0, 1.0, 5.5, 9.0, 12.0])
def test_the_offset_is_read_from_the_hours_the_team_works(offset: float) -> None:
    detector = _settled(offset)
    assert detector.day_shift_settled
    assert abs(detector.day_shift / HOUR - offset) <= 1.0
    assert detector.day_shift % HOUR == 0.0


def test_a_nightly_batch_job_does_not_move_the_team_s_day() -> None:
    def batch(user: str, ts: float) -> float:
        local_hour = ((ts + 9 * HOUR) % DAY) / HOUR
        night_job = user == "user0" and 1.0 <= local_hour < 4.0
        return 20.0 / diurnal(ts + 9 * HOUR) if night_job else 1.0

    detector = _settled(9.0, boost=batch)
    assert abs(detector.day_shift / HOUR - 9.0) <= 1.0


def test_a_team_active_around_the_clock_keeps_utc_days() -> None:
    def flat(user: str, ts: float) -> float:
        return 1.0 / diurnal(ts + 9 * HOUR)

    detector = _settled(9.0, boost=flat)
    assert detector.day_shift_settled
    assert detector.day_shift == 0.0


def test_the_weekend_of_a_team_ahead_of_utc_starts_at_its_midnight() -> None:
    friday_evening_utc = MONDAY + 4 * DAY + 20 * HOUR  # Saturday 05:00 at UTC+9
    assert seasonal_bin(friday_evening_utc) == 20
    assert seasonal_bin(friday_evening_utc, 9 * HOUR) == 20 + 24
    sunday_late_utc = MONDAY + 6 * DAY + 23 * HOUR  # Monday 08:00 at UTC+9
    assert seasonal_bin(sunday_late_utc) == 23 + 24
    assert seasonal_bin(sunday_late_utc, 9 * HOUR) == 23


def test_hours_filed_under_the_wrong_day_type_are_relearned_once_the_days_are_settled() -> None:
    """A team eight hours behind UTC, first seen at 00:00 UTC on a Monday: its first hours are
    its Sunday afternoon, which UTC days file as a Monday's. Every later weekday afternoon is
    then about four times that bin's expectation, beyond the guard that keeps a bin from
    learning an excess quickly (before the hours were relearned: 102 findings, slow ramps at
    16:00-18:00 local on every day from Wednesday). A real surge in those hours on Friday is
    still found."""
    start = MONDAY + 4 * DAY + 24 * HOUR  # Friday 16:00 at UTC-8

    def surge(user: str, ts: float) -> float:
        return 5.0 if start <= ts < start + 2 * HOUR else 1.0

    quiet = UsageDetector("search", SETTINGS)
    findings = [
        f for w in team_windows(days=6, seed=3, users=80, utc_offset_hours=-8.0)
        for f in quiet.update(w)
    ]  # fmt: skip
    assert quiet.day_shift == -8 * HOUR
    assert findings == []
    detector = UsageDetector("search", SETTINGS)
    windows = team_windows(days=6, seed=3, users=80, utc_offset_hours=-8.0, boost=surge)
    caught = [
        (w.end, f.kind) for w in windows for f in detector.update(w) if f.user is None
    ]  # fmt: skip
    assert caught
    assert start <= caught[0][0] <= start + 15 * 60
    assert caught[0][1] == "team_surge"


def test_the_day_shift_survives_a_restore_and_so_does_the_count_before_it_settles() -> None:
    windows = list(team_windows(days=4, users=8, utc_offset_hours=-8.0, seed=4))
    straight = UsageDetector("search", SETTINGS)
    straight_findings = [f for w in windows for f in straight.update(w)]
    for cut in (len(windows) // 3, 2 * len(windows) // 3):  # before and after it settles
        first = UsageDetector("search", SETTINGS)
        findings = [f for w in windows[:cut] for f in first.update(w)]
        restored = UsageDetector.from_state("search", first.to_state())
        findings += [f for w in windows[cut:] for f in restored.update(w)]
        assert findings == straight_findings
        assert restored.to_state() == straight.to_state()
    assert straight.day_shift == -8 * HOUR


def test_a_version_2_state_keeps_utc_days_until_a_day_of_activity_has_been_counted() -> None:
    windows = list(team_windows(days=6, users=8, utc_offset_hours=9.0, seed=4))
    detector = UsageDetector("search", SETTINGS)
    cut = 4 * 1440 // 2
    for window in windows[:cut]:
        detector.update(window)
    plain = msgpack.unpackb(detector.to_state(), raw=False)
    plain["v"] = 2
    del plain["local_day"]
    restored = UsageDetector.from_state("search", msgpack.packb(plain, use_bin_type=True))
    assert restored.day_shift == 0.0 and not restored.day_shift_settled
    restart = windows[cut].start
    for window in windows[cut:]:
        restored.update(window)
        if window.end - restart < DAY:
            assert not restored.day_shift_settled
    assert restored.day_shift_settled
    assert abs(restored.day_shift / HOUR - 9.0) <= 1.0
