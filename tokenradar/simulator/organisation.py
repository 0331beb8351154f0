"""The simulated organisation: teams, people, their habits, and what goes wrong.

Everything is drawn from one seeded generator, so a seed names an organisation. The
:class:`Variation` knobs change the organisation's character (cycle depth, noise, request sizes,
batch jobs) so detectors can be judged on organisations they were not tuned on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

MODELS = (
    "claude-haiku-4",
    "claude-sonnet-4",
    "claude-opus-4",
    "gpt-5-mini",
    "gpt-5",
    "o4-reasoning",
    "gemini-2.5-flash",
)
# The models an "expensive switch" moves to.
EXPENSIVE_MODELS = ("claude-opus-4", "o4-reasoning")
TOOLS = ("chat", "ide-assistant", "agent", "code-review", "batch")
# Median input / output tokens per request for each tool (log-normal around these).
TOOL_INPUT_MEDIAN = {
    "chat": 1_800,
    "ide-assistant": 6_000,
    "agent": 24_000,
    "code-review": 12_000,
    "batch": 3_000,
}
TOOL_OUTPUT_MEDIAN = {
    "chat": 450,
    "ide-assistant": 350,
    "agent": 1_200,
    "code-review": 900,
    "batch": 600,
}
TOOL_CACHED_SHARE = {
    "chat": 0.1,
    "ide-assistant": 0.55,
    "agent": 0.7,
    "code-review": 0.3,
    "batch": 0.0,
}

TEAM_WORDS = (
    "search",
    "ads",
    "payments",
    "infra",
    "ml-platform",
    "growth",
    "mobile",
    "web",
    "data",
    "security",
    "support",
    "risk",
    "maps",
    "identity",
    "billing",
    "storage",
    "video",
    "ranking",
    "devex",
    "research",
    "legal",
    "finance",
    "sales-eng",
    "trust",
    "observability",
    "catalog",
)
FIRST_NAMES = (
    "ana",
    "bo",
    "chen",
    "dara",
    "eli",
    "fatima",
    "gus",
    "hana",
    "ivan",
    "jo",
    "kofi",
    "lena",
    "mo",
    "nia",
    "omar",
    "pia",
    "quinn",
    "rui",
    "sara",
    "tomas",
    "uma",
    "vik",
    "wen",
    "xia",
    "yusuf",
    "zoe",
)

DEFAULT_START = datetime.fromisoformat("2026-11-02T00:00:00+00:00")  # a Monday

INCIDENT_KINDS = (
    "user_runaway",
    "runaway_agent",
    "team_surge",
    "model_switch",
    "slow_ramp",
    "off_hours_loop",
)
CONFOUNDER_KINDS = ("holiday", "onboarding", "new_team", "first_busy_morning")


@dataclass(frozen=True, slots=True)
class Variation:
    """How this organisation differs from the default one."""

    daily_amplitude: float = 1.0  # 0 = flat days, 1 = quiet nights
    weekend_level: float = 0.12  # weekend activity relative to weekdays
    monday_boost: float = 1.25  # Monday morning ramp
    noise_sigma: float = 0.35  # day-to-day log-normal wobble of each user's activity
    size_sigma: float = 0.9  # spread of request sizes (log-normal sigma)
    growth_per_week: float = 0.03  # organic growth
    batch_share: float = 0.3  # share of teams with a nightly batch job
    batch_rate_per_minute: float = 40.0  # batch job requests per minute while it runs
    rate_scale: float = 1.0  # overall requests per minute


@dataclass(frozen=True, slots=True)
class IncidentSpec:
    """An incident to inject: times are offsets in seconds from the simulation start."""

    kind: str
    at: float
    duration: float
    team: str | None = None
    user: str | None = None
    magnitude: float | None = None


@dataclass(frozen=True, slots=True)
class Incident:
    """Ground truth: what was injected, where and when (epoch seconds)."""

    kind: str
    team: str
    user: str | None
    start: float
    end: float
    magnitude: float

    @property
    def is_confounder(self) -> bool:
        return self.kind.startswith("confounder:")


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """Everything that defines a simulated stream."""

    seed: int = 1
    teams: int = 12
    start: datetime = DEFAULT_START
    duration_seconds: float = 86_400.0
    incidents: tuple[IncidentSpec, ...] = ()
    confounders: tuple[str, ...] = ()
    variation: Variation = field(default_factory=Variation)
    users_per_team_scale: float = 1.0
    cost_share: float = 0.5  # share of teams whose gateway sends cost_usd


@dataclass(slots=True)
class Team:
    name: str
    index: int
    utc_offset_hours: int
    users: list[str]
    peak_rate: np.ndarray  # requests per minute at a user's busiest hour
    night_owl: np.ndarray  # bool: works evenings too
    model_mix: np.ndarray
    tool_mix: np.ndarray
    sends_cost: bool
    batch_hour: int | None  # local hour at which the nightly batch job starts
    batch_user: str | None
    starts_at: float = float("-inf")  # a new team appears mid-stream
    joins_at: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per user


@dataclass(slots=True)
class Organisation:
    teams: list[Team]

    def team(self, name: str) -> Team:
        for team in self.teams:
            if team.name == name:
                return team
        raise KeyError(f"no team {name!r} (teams: {', '.join(t.name for t in self.teams)})")


def build_organisation(config: SimulationConfig, rng: np.random.Generator) -> Organisation:
    """Draw teams and people for ``config``."""
    variation = config.variation
    names = _team_names(config.teams, rng)
    teams = []
    for index, name in enumerate(names):
        # Heavy-tailed team sizes: a few big teams, many small ones.
        size = int(np.clip(rng.pareto(1.6) * 6 + 3, 3, 200) * config.users_per_team_scale)
        size = max(2, size)
        users = _user_names(name, size, rng)
        peak_rate = rng.lognormal(np.log(0.6), 0.8, size) * variation.rate_scale
        model_mix = rng.dirichlet(np.full(len(MODELS), 0.6))
        # Most teams barely touch the most expensive models.
        for expensive in EXPENSIVE_MODELS:
            model_mix[MODELS.index(expensive)] *= 0.1
        model_mix /= model_mix.sum()
        tool_mix = rng.dirichlet([3.0, 3.0, 1.5, 1.0, 0.01])
        has_batch = rng.random() < variation.batch_share
        teams.append(
            Team(
                name=name,
                index=index,
                utc_offset_hours=int(
                    rng.choice([-8, -5, 0, 1, 5, 8], p=[0.3, 0.25, 0.15, 0.15, 0.05, 0.1])
                ),
                users=users,
                peak_rate=peak_rate,
                night_owl=rng.random(size) < 0.08,
                model_mix=model_mix,
                tool_mix=tool_mix,
                sends_cost=bool(rng.random() < config.cost_share),
                batch_hour=int(rng.integers(0, 5)) if has_batch else None,
                batch_user=f"svc-{name}-nightly" if has_batch else None,
                joins_at=np.full(size, float("-inf")),
            )
        )
    return Organisation(teams)


def _team_names(count: int, rng: np.random.Generator) -> list[str]:
    words = list(TEAM_WORDS)
    rng.shuffle(words)
    names = []
    for i in range(count):
        base = words[i % len(words)]
        names.append(base if i < len(words) else f"{base}-{i // len(words) + 1}")
    return names


def _user_names(team: str, size: int, rng: np.random.Generator) -> list[str]:
    names = []
    for i in range(size):
        first = FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))]
        names.append(f"{first}.{team}{i}")
    return names
