"""Day-to-day variation follows each user's local day."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from tokenradar.simulator.generator import _DailyMood

UTC_MIDNIGHT = 20_000 * 1440  # an epoch minute at 00:00 UTC


def _mood(offsets: list[int], service: list[bool] | None = None) -> _DailyMood:
    count = len(offsets)
    tables = SimpleNamespace(
        user_utc_offset=np.array(offsets, dtype=np.int64),
        user_team=np.zeros(count, dtype=np.int64),
        user_is_service=np.array(service or [False] * count),
        user_count=count,
    )
    return _DailyMood(tables, daily_noise=0.5, team_noise=0.3)  # type: ignore[arg-type]


def _day(mood: _DailyMood, rng: np.random.Generator, first_minute: int) -> np.ndarray:
    """Factors minute by minute over 24 hours from ``first_minute``, in 15-minute blocks."""
    blocks = [
        mood.factors(rng, np.arange(start, start + 15, dtype=np.int64))
        for start in range(first_minute, first_minute + 1440, 15)
    ]
    return np.concatenate(blocks)


def test_mood_changes_at_local_midnight_only() -> None:
    rng = np.random.default_rng(3)
    west, utc = -480, 0
    mood = _mood([west, utc])
    factors = _day(mood, rng, UTC_MIDNIGHT - 60)
    minutes = np.arange(UTC_MIDNIGHT - 60, UTC_MIDNIGHT + 1380)
    changes_west = minutes[1:][np.diff(factors[:, 0]) != 0]
    changes_utc = minutes[1:][np.diff(factors[:, 1]) != 0]
    # The UTC user's day turns at 00:00 UTC; the user eight hours west turns at 08:00 UTC.
    assert list(changes_utc) == [UTC_MIDNIGHT]
    assert list(changes_west) == [UTC_MIDNIGHT + 480]


def test_team_shares_its_daily_variation_and_service_accounts_do_not_vary() -> None:
    rng = np.random.default_rng(5)
    mood = _mood([60, 60, 60], service=[False, False, True])
    logs = []
    for day in range(40):
        factors = mood.factors(
            rng, np.arange(UTC_MIDNIGHT + day * 1440 + 600, UTC_MIDNIGHT + day * 1440 + 615)
        )
        logs.append(np.log(factors[0]))
    values = np.array(logs)
    assert np.all(values[:, 2] == 0.0)
    # Two people of one team: their log factors share the team's part, so they correlate.
    assert np.corrcoef(values[:, 0], values[:, 1])[0, 1] > 0.0
    assert values[:, 0].std() > 0.3
