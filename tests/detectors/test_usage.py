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


def test_agent_loop_of_one_user_is_detected_and_named() -> None:
    """A user_runaway from the labelled simulator: 30x the user's mean rate, day and night."""
    from datetime import timedelta

    from tokenradar.evaluation.windows import aggregate_windows
    from tokenradar.simulator import IncidentSpec, SimulationConfig, generate

    base = SimulationConfig(seed=11, teams=3, duration=timedelta(days=4))
    team = next(t.name for t in generate(base).organisation.teams if t.appears_at is None)
    config = SimulationConfig(
        seed=11,
        teams=3,
        duration=timedelta(days=4),
        incidents=(
            IncidentSpec(
                "user_runaway", at=timedelta(days=3), duration=timedelta(hours=12),
                team=team, magnitude=30.0,
            ),
        ),
    )  # fmt: skip
    simulation = generate(config)
    (incident,) = simulation.true_incidents
    detector = UsageDetector(team, SETTINGS)
    events = (event for event in simulation.events() if event["team"] == team)
    findings = run(detector, aggregate_windows(events))
    during = [(at, f) for at, f in findings if incident.start <= at <= incident.end]
    assert during, "the loop was not detected"
    first_at, first = during[0]
    top_users = [c.name for c in first.top_contributors if c.dimension == "user"]
    assert first.user == incident.user or top_users[:1] == [incident.user]
    assert first_at - incident.start <= 30 * 60
    assert {f.user for _, f in during if f.user is not None} <= {incident.user}


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
