from __future__ import annotations

from detectors import UsageDetector, UsageDetectorFactory, UsageDetectorSettings, default_factory
from detectors.base import Finding

from .streams import DAY, MONDAY, team_windows

SETTINGS = UsageDetectorSettings(warmup_seconds=2 * DAY)


def run(detector: UsageDetector, windows) -> list[tuple[float, Finding]]:  # type: ignore[no-untyped-def]
    return [(w.end, f) for w in windows for f in detector.update(w)]


def test_quiet_team_raises_nothing_after_warmup() -> None:
    findings = run(UsageDetector("search", SETTINGS), team_windows(days=6, seed=3))
    assert [f for _, f in findings] == []


def test_agent_loop_of_one_user_is_named() -> None:
    start = MONDAY + 3 * DAY + 11 * 3600  # Thursday, 11:00

    def loop(user: str, ts: float) -> float:
        return 10.0 if user == "user2" and ts >= start else 1.0

    findings = run(UsageDetector("search", SETTINGS), team_windows(days=4, seed=4, boost=loop))
    assert findings, "the loop was not detected"
    first_at, first = findings[0]
    top_users = [c.name for c in first.top_contributors if c.dimension == "user"]
    assert first.user == "user2" or top_users[:1] == ["user2"]
    assert first_at - start <= 15 * 60
    assert {f.user for _, f in findings if f.user is not None} <= {"user2"}


def test_price_switch_is_a_cost_finding() -> None:
    start = MONDAY + 3 * DAY + 10 * 3600

    def price(ts: float) -> float:
        return 10.0 if ts >= start else 1.0

    findings = run(
        UsageDetector("search", SETTINGS), team_windows(days=4, seed=5, price_boost=price)
    )
    kinds = {f.kind for _, f in findings}
    assert "model_cost_shift" in kinds
    costs = [f for _, f in findings if f.kind == "model_cost_shift"]
    assert max(f.observed / f.expected for f in costs) > 5
    assert ("model", "pricey") in {(c.dimension, c.name) for c in costs[0].top_contributors}


def test_factory_restores_what_it_created() -> None:
    factory = default_factory(warmup_seconds=DAY)
    assert isinstance(factory, UsageDetectorFactory)
    detector = factory.create("search")
    for window in team_windows(days=1.5, seed=6):
        detector.update(window)
    restored = factory.restore("search", detector.to_state())
    assert restored.to_state() == detector.to_state()
