"""The labelled benchmark: scenarios, runs of several detectors on the same events, a table.

A scenario is a simulated organisation over several days with two incidents of every kind and one
of every confounder, all placed after the detectors' warm-up at times plausible for their kind
(surges in working hours, off-hours loops at night or at weekends, in the team's local time).
Every seed also draws its own generator behaviour (:meth:`Variation.randomised`) and its own size,
so the detector is judged on many generators, not one. Seeds below 100 are for development; the
held-out seeds (100 and up) are the ones results are reported on.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from detectors import EWZScoreBaseline, default_factory
from detectors.base import Finding, TeamDetector, TeamDetectorFactory, WindowSummary
from tokenradar.evaluation.runner import RunResult, run_core, run_windows
from tokenradar.evaluation.scoring import Confounder, Incident, Scorecard, score_run
from tokenradar.evaluation.windows import aggregate_windows

log = logging.getLogger(__name__)

DAY = 86_400.0
HOUR = 3_600.0
DEVELOPMENT_SEEDS = (1, 2, 3)
HELD_OUT_SEEDS = (101, 102, 103, 104, 105)
QUICK_SEEDS = (101, 102)
WARMUP_SECONDS = 2 * DAY
GRACE_SECONDS = 30 * 60.0

Source = Literal["simple", "core", "core-spread"]

# Kind -> (weekday, local hour) predicate, mirroring where such incidents happen in practice.
_PLACEMENT: dict[str, Callable[[int, float], bool]] = {
    "user_runaway": lambda day, hour: True,
    "runaway_agent": lambda day, hour: day < 5 and 9.0 <= hour < 17.0,
    "team_surge": lambda day, hour: day < 5 and 9.0 <= hour < 14.0,
    "model_switch": lambda day, hour: day < 5 and 9.0 <= hour < 14.0,
    "slow_ramp": lambda day, hour: day < 5 and 8.0 <= hour < 11.0,
    "off_hours_loop": lambda day, hour: hour < 4.0 or day >= 5,
    "holiday": lambda day, hour: day < 5,
    "onboarding": lambda day, hour: day < 5 and 8.0 <= hour < 11.0,
    "new_team": lambda day, hour: day < 5 and 8.0 <= hour < 11.0,
    "first_busy_morning": lambda day, hour: True,
    "model_trial": lambda day, hour: day < 5 and 9.0 <= hour < 17.0,
}
# Longest default duration per kind (hours), to keep incidents inside the run.
_LONGEST_HOURS = {
    "user_runaway": 36.0,
    "runaway_agent": 1.0,
    "team_surge": 6.0,
    "model_switch": 24.0,
    "slow_ramp": 72.0,
    "off_hours_loop": 6.0,
}


@dataclass(frozen=True, slots=True)
class ScenarioSize:
    """How big a scenario is."""

    teams: int = 12
    days: float = 9.0
    incidents_per_kind: int = 2


DEFAULT_SIZE = ScenarioSize()
QUICK_SIZE = ScenarioSize(teams=8, days=7.0, incidents_per_kind=1)


@dataclass(slots=True)
class Trace:
    """Per-window series of one team, for plots."""

    team: str
    ends: list[float] = field(default_factory=list)
    tokens: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    band: list[tuple[float, float, float]] = field(default_factory=list)


@dataclass(slots=True)
class ScenarioResult:
    """Scorecards of every detector on one scenario, and traces of the incident teams."""

    seed: int
    cards: dict[str, Scorecard]
    incidents: list[Incident]
    confounders: list[Confounder]
    traces: dict[str, Trace]
    alerts: dict[str, RunResult]


def build_config(seed: int, size: ScenarioSize = DEFAULT_SIZE) -> Any:
    """The simulation config of a seed: its own variation, size and incident placement."""
    from tokenradar.simulator import (
        INCIDENT_KINDS,
        ConfounderSpec,
        IncidentSpec,
        SimulationConfig,
        Variation,
        generate,
    )

    rng = random.Random(seed * 7919 + 17)
    base = SimulationConfig(
        seed=seed,
        teams=size.teams,
        duration=timedelta(days=size.days),
        users_per_team_scale=rng.choice((0.6, 1.0, 1.5)),
        rate_scale=rng.choice((0.7, 1.0, 1.4)),
        variation=Variation.randomised(seed),
    )
    organisation = generate(base).organisation
    teams = [team for team in organisation.teams if team.appears_at is None]
    rng.shuffle(teams)
    start = base.start_epoch
    end = base.end_epoch
    earliest = start + WARMUP_SECONDS + 6 * HOUR
    incidents = []
    busy: dict[str, list[tuple[float, float]]] = {}
    kinds = [kind for kind in INCIDENT_KINDS for _ in range(size.incidents_per_kind)]
    for index, kind in enumerate(kinds):
        team = teams[index % len(teams)]
        latest = end - _LONGEST_HOURS[kind] * HOUR * 0.5
        at = _plausible_time(rng, kind, team.utc_offset_minutes, earliest, latest)
        incidents.append(IncidentSpec(kind, at=timedelta(seconds=at - start), team=team.name))
        busy.setdefault(team.name, []).append((at - 6 * HOUR, at + _LONGEST_HOURS[kind] * HOUR))
    confounders = []
    for kind in ("holiday", "onboarding", "new_team", "first_busy_morning", "model_trial"):
        for _ in range(50):
            team = rng.choice(teams)
            at = _plausible_time(rng, kind, team.utc_offset_minutes, earliest, end - 12 * HOUR)
            spans = busy.get(team.name, [])
            if kind in ("holiday", "new_team") or all(not a <= at <= b for a, b in spans):
                break
        confounders.append(
            ConfounderSpec(
                kind,
                at=timedelta(seconds=at - start),
                team=None if kind in ("new_team",) else team.name,
            )
        )
    return SimulationConfig(
        seed=seed,
        teams=size.teams,
        duration=base.duration,
        users_per_team_scale=base.users_per_team_scale,
        rate_scale=base.rate_scale,
        variation=base.variation,
        incidents=tuple(incidents),
        confounders=tuple(confounders),
    )


def _plausible_time(
    rng: random.Random, kind: str, utc_offset_minutes: int, earliest: float, latest: float
) -> float:
    predicate = _PLACEMENT[kind]
    candidate = earliest
    for _ in range(500):
        candidate = 60.0 * math.floor(rng.uniform(earliest, max(earliest, latest)) / 60.0)
        local = candidate + 60.0 * utc_offset_minutes
        weekday = int((local // DAY + 3) % 7)
        hour = (local % DAY) / HOUR
        if predicate(weekday, hour):
            return candidate
    return candidate


def run_scenario(
    seed: int,
    factories: Mapping[str, TeamDetectorFactory],
    *,
    size: ScenarioSize = DEFAULT_SIZE,
    source: Source = "simple",
    trace_teams: int = 4,
) -> ScenarioResult:
    """Simulate one seed and run every detector factory on the same events."""
    from tokenradar.simulator import generate

    config = build_config(seed, size)
    simulation = generate(config)
    incidents = [
        Incident(
            kind=label.kind,
            team=label.team,
            start=label.start,
            end=label.end,
            user=label.user,
            magnitude=label.magnitude,
        )
        for label in simulation.true_incidents
    ]
    confounders = [
        Confounder(
            kind=label.kind.removeprefix("confounder:"),
            team=label.team,
            start=label.start,
            end=label.end,
        )
        for label in simulation.confounders
    ]
    traced = {incident.team for incident in incidents[:trace_teams]}
    traces: dict[str, Trace] = {team: Trace(team) for team in traced}
    cards: dict[str, Scorecard] = {}
    runs: dict[str, RunResult] = {}
    for name, factory in factories.items():
        observer = _tracer(traces) if name == next(iter(factories)) else None
        if source != "simple":
            phase = "spread" if source == "core-spread" else "aligned"
            run = run_core(simulation.events(), factory, window_phase=phase)
        else:
            run = run_windows(aggregate_windows(simulation.events()), factory, observer=observer)
        runs[name] = run
        cards[name] = score_run(
            run,
            incidents,
            stream_start=simulation.start_epoch,
            stream_end=simulation.end_epoch,
            warmup_seconds=WARMUP_SECONDS,
            grace_seconds=GRACE_SECONDS,
            confounders=confounders,
        )
        log.info(
            "seed %d %s: recall %.2f, %d false alarms over %.1f team-weeks",
            seed,
            name,
            cards[name].recall(),
            len(cards[name].false_alarms),
            cards[name].team_weeks,
        )
    return ScenarioResult(seed, cards, incidents, confounders, traces, runs)


def _tracer(
    traces: dict[str, Trace],
) -> Callable[[WindowSummary, TeamDetector, list[Finding]], None]:
    def observe(window: WindowSummary, detector: TeamDetector, findings: list[Finding]) -> None:
        trace = traces.get(window.team)
        if trace is None:
            return
        trace.ends.append(window.end)
        trace.tokens.append(float(window.totals.total_tokens))
        trace.cost.append(window.totals.cost_usd)
        band = getattr(detector, "team_band", None)
        trace.band.append(band() if callable(band) else (math.nan, math.nan, math.nan))

    return observe


def default_factories() -> dict[str, TeamDetectorFactory]:
    """Ours first (it is the one traced for plots), then the naive baseline."""
    return {"tokenradar": default_factory(), "baseline": EWZScoreBaseline()}


def pooled(results: Iterable[ScenarioResult]) -> dict[str, Scorecard]:
    """Scorecards of every detector pooled over scenarios."""
    pooled_cards: dict[str, Scorecard] = {}
    for result in results:
        for name, card in result.cards.items():
            pooled_cards.setdefault(name, Scorecard()).extend(card)
    return pooled_cards


def format_table(cards: Mapping[str, Scorecard], seeds: Sequence[int]) -> str:
    """The scorecard table: detectors side by side, per incident kind and overall."""
    names = list(cards)
    kinds = sorted({kind for card in cards.values() for kind in card.kinds()})
    header = f"{'metric':<34}" + "".join(f"{name:>16}" for name in names)
    lines = [f"seeds: {', '.join(map(str, seeds))}", header, "-" * len(header)]

    def row(label: str, values: Iterable[str]) -> None:
        lines.append(f"{label:<34}" + "".join(f"{value:>16}" for value in values))

    def minutes(seconds: float) -> str:
        return "-" if math.isnan(seconds) else f"{seconds / 60.0:.1f} min"

    def share(value: float) -> str:
        return "-" if math.isnan(value) else f"{value:.2f}"

    row("incidents", (str(cards[n].count()) for n in names))
    row("recall (all)", (share(cards[n].recall()) for n in names))
    for kind in kinds:
        row(f"  recall {kind}", (share(cards[n].recall(kind)) for n in names))
    row("median delay (all)", (minutes(cards[n].median_delay()) for n in names))
    for kind in kinds:
        row(f"  delay {kind}", (minutes(cards[n].median_delay(kind)) for n in names))
    row("right user named", (share(cards[n].user_naming()) for n in names))
    row("false alarms / team-week", (share(cards[n].false_alarms_per_team_week()) for n in names))
    row("  team-weeks after warm-up", (f"{cards[n].team_weeks:.1f}" for n in names))
    causes = sorted({c for card in cards.values() for c in card.false_alarm_causes})
    for cause in causes:
        row(
            f"  false alarms near {cause}",
            (str(cards[n].false_alarm_causes.count(cause)) for n in names),
        )
    return "\n".join(lines)
