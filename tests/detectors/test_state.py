"""A detector restored from its state continues exactly as if it had never stopped."""

from __future__ import annotations

from itertools import islice

import pytest

from detectors import EWZScoreBaseline, UsageDetectorFactory
from detectors.base import TeamDetectorFactory

from .streams import DAY, MONDAY, team_windows


def _spiky(user: str, ts: float) -> float:
    return 30.0 if user == "user1" and MONDAY + 2.5 * DAY <= ts < MONDAY + 2.6 * DAY else 1.0


@pytest.mark.parametrize(
    "factory",
    [UsageDetectorFactory(warmup_seconds=DAY), EWZScoreBaseline(warmup_blocks=12)],
    ids=["usage", "baseline"],
)
def test_restore_mid_stream_gives_identical_findings(factory: TeamDetectorFactory) -> None:
    windows = list(team_windows(days=3, seed=8, boost=_spiky))
    cut = len(windows) * 4 // 5
    straight = factory.create("search")
    straight_findings = [straight.update(w) for w in windows]

    first_half = factory.create("search")
    resumed_findings = [first_half.update(w) for w in islice(windows, cut)]
    state = first_half.to_state()
    resumed = factory.restore("search", state)
    resumed_findings += [resumed.update(w) for w in windows[cut:]]

    assert resumed_findings == straight_findings
    assert any(resumed_findings), "the stream should contain at least one finding"
    assert resumed.to_state() == straight.to_state()


def test_state_is_versioned() -> None:
    import msgpack

    factory = UsageDetectorFactory()
    plain = msgpack.unpackb(factory.create("search").to_state())
    plain["v"] = 999
    with pytest.raises(ValueError, match="version"):
        factory.restore("search", msgpack.packb(plain))
