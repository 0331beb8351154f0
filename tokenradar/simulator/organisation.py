"""The simulated organisation: teams, their people, habits, time zones and batch jobs.

Team sizes are heavy-tailed (a few teams of 50-200 people, many of 3-20). Each user has a
log-normal activity level, a personal shift of the working day and a tool mix close to the
team's. Some teams run a nightly batch job under a service account: large, regular, and normal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tokenradar.simulator.catalogue import (
    BASE_MODEL_MIX,
    BASE_TOOL_MIX,
    CHEAP_MODELS,
    EMBEDDING_MODEL,
    FIRST_NAMES,
    FRUGAL_AGENT_WEIGHT,
    FRUGAL_CHEAP_SHARE,
    FRUGAL_TEAM_SHARE,
    INTERACTIVE_TOOLS,
    LAST_NAMES,
    TEAM_NAMES,
    TOOLS,
)
from tokenradar.simulator.config import SimulationConfig, Variation

logger = logging.getLogger(__name__)

# (UTC offset in minutes, share of teams). Most of the organisation sits in one region; a few
# teams work from the Americas and Asia so that "night" is not the same hour for everyone.
_TIME_ZONES: tuple[tuple[int, float], ...] = (
    (60, 0.65),
    (-300, 0.15),
    (-480, 0.08),
    (330, 0.07),
    (540, 0.05),
)

MEDIAN_PEAK_REQUESTS_PER_MINUTE = 0.6
"""Requests per minute of a median user at the peak of a working day."""


@dataclass(frozen=True, slots=True)
class BatchJob:
    """A nightly job run by a service account at a fixed local time."""

    user: str
    local_start_minute: int
    """Minute of the local day at which the job starts."""
    length_minutes: int
    requests_per_minute: float
    model: str


@dataclass(frozen=True, slots=True)
class Team:
    """A team and the habits of its gateway.

    ``model_mix`` maps each tool to the team's model shares for it; ``tool_mix`` is the team's
    share of each interactive tool.
    """

    name: str
    utc_offset_minutes: int
    model_mix: Mapping[str, Mapping[str, float]]
    tool_mix: Mapping[str, float]
    reports_cost: bool
    reports_cached_tokens: bool
    batch_job: BatchJob | None = None
    appears_at: float | None = None
    """Event time at which a team created mid-stream starts sending, else ``None``."""

    @property
    def time_zone(self) -> str:
        """The UTC offset as text, e.g. ``UTC+05:30``."""
        sign = "+" if self.utc_offset_minutes >= 0 else "-"
        hours, minutes = divmod(abs(self.utc_offset_minutes), 60)
        return f"UTC{sign}{hours:02d}:{minutes:02d}"


@dataclass(frozen=True, slots=True)
class User:
    """A person (or a service account) sending requests."""

    name: str
    team: str
    peak_requests_per_minute: float
    """Activity at the peak of a normal working day."""
    tool_mix: tuple[float, ...]
    """Share of each tool in :data:`TOOLS` order."""
    start_shift_minutes: int
    """How much earlier (negative) or later this user's day runs than the team's."""
    night_owl: bool = False
    service: bool = False
    joins_at: float | None = None
    """Event time of the user's first possible request, ``None`` for users there from the start."""


@dataclass(frozen=True, slots=True)
class Organisation:
    """All teams and users, in a fixed order (the generator indexes users by position)."""

    teams: tuple[Team, ...]
    users: tuple[User, ...]
    _team_by_name: Mapping[str, Team] = field(init=False, repr=False, compare=False)
    _users_by_team: Mapping[str, tuple[User, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        team_by_name = {team.name: team for team in self.teams}
        if len(team_by_name) != len(self.teams):
            raise ValueError("team names must be unique")
        names = [user.name for user in self.users]
        if len(set(names)) != len(names):
            raise ValueError("user names must be unique")
        users_by_team: dict[str, list[User]] = {team.name: [] for team in self.teams}
        for user in self.users:
            if user.team not in users_by_team:
                raise ValueError(f"user {user.name} belongs to unknown team {user.team}")
            users_by_team[user.team].append(user)
        object.__setattr__(self, "_team_by_name", team_by_name)
        object.__setattr__(
            self, "_users_by_team", {name: tuple(users) for name, users in users_by_team.items()}
        )

    def team(self, name: str) -> Team:
        """The team called ``name``."""
        try:
            return self._team_by_name[name]
        except KeyError:
            raise KeyError(f"no team called {name!r}") from None

    def members(self, team: str) -> tuple[User, ...]:
        """The users of ``team`` (service accounts included)."""
        return self._users_by_team[team]

    def user(self, name: str) -> User:
        """The user called ``name``."""
        for user in self.users:
            if user.name == name:
                return user
        raise KeyError(f"no user called {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary (for the labels file)."""
        return {
            "teams": [
                {
                    "name": team.name,
                    "time_zone": team.time_zone,
                    "users": len(self.members(team.name)),
                    "reports_cost": team.reports_cost,
                    "reports_cached_tokens": team.reports_cached_tokens,
                    "appears_at": team.appears_at,
                    "batch_job": None
                    if team.batch_job is None
                    else {
                        "user": team.batch_job.user,
                        "local_start_minute": team.batch_job.local_start_minute,
                        "length_minutes": team.batch_job.length_minutes,
                        "requests_per_minute": team.batch_job.requests_per_minute,
                        "model": team.batch_job.model,
                    },
                }
                for team in self.teams
            ],
            "users": len(self.users),
        }


class OrganisationBuilder:
    """Creates teams and users with the organisation's random habits.

    The incident planner uses the same builder to add people and teams mid-stream, so that they
    look like everyone else.
    """

    def __init__(self, rng: np.random.Generator, variation: Variation, scale: float) -> None:
        self._rng = rng
        self._variation = variation
        self._scale = scale
        self._used_user_names: set[str] = set()
        self._used_team_names: set[str] = set()

    def team_sizes(self, count: int) -> list[int]:
        """Heavy-tailed team sizes: about one team in ten is big (50-200 people)."""
        rng = self._rng
        sizes = np.exp(rng.normal(np.log(8.0), 0.6, size=count))
        big_count = max(1, round(count / 10)) if count >= 5 else 0
        is_big = np.zeros(count, dtype=bool)
        is_big[rng.choice(count, size=big_count, replace=False)] = True
        sizes[is_big] = np.exp(rng.uniform(np.log(50), np.log(200), size=big_count))
        scaled = np.maximum(np.rint(sizes * self._scale), 1.0)
        # Small teams stay between 3 and 20 people (scaled), never below one person.
        small_upper = max(1.0, round(20 * self._scale))
        small_lower = min(3.0, small_upper)
        scaled[~is_big] = np.clip(scaled[~is_big], small_lower, small_upper)
        return [int(size) for size in scaled]

    def team_name(self) -> str:
        """An unused team name."""
        for round_number in range(1, 1000):
            for base in self._rng.permutation(TEAM_NAMES):
                name = str(base) if round_number == 1 else f"{base}-{round_number}"
                if name not in self._used_team_names:
                    self._used_team_names.add(name)
                    return name
        raise RuntimeError("ran out of team names")

    def make_team(self, appears_at: float | None = None, with_batch_job: bool = False) -> Team:
        """A new team with its own model and tool mix, time zone and gateway habits."""
        rng = self._rng
        name = self.team_name()
        offsets = [offset for offset, _ in _TIME_ZONES]
        weights = np.array([share for _, share in _TIME_ZONES])
        utc_offset = int(rng.choice(offsets, p=weights / weights.sum()))
        # Frugal teams run mostly on small models and use few agents; switching one of them to a
        # frontier model multiplies its bill by far more than it would for a team on mid-tier
        # models, which is what makes large model-switch factors possible.
        frugal = bool(rng.random() < FRUGAL_TEAM_SHARE)
        model_mix = {}
        for tool in TOOLS:
            base = dict(BASE_MODEL_MIX[tool])
            if frugal and tool != "batch":
                base = _with_cheap_share(base, FRUGAL_CHEAP_SHARE)
            model_mix[tool] = _dirichlet_around(rng, base, concentration=12.0)
        tool_base = dict(BASE_TOOL_MIX)
        if frugal:
            tool_base["agent"] *= FRUGAL_AGENT_WEIGHT
        tool_mix = _dirichlet_around(rng, tool_base, concentration=8.0)
        batch_job = None
        if with_batch_job:
            service_user = f"svc-{name}-nightly"
            self._used_user_names.add(service_user)
            batch_model = str(rng.choice(["claude-haiku-4", "gpt-5-mini", EMBEDDING_MODEL]))
            batch_job = BatchJob(
                user=service_user,
                local_start_minute=int(rng.integers(60, 5 * 60)),
                length_minutes=int(rng.integers(20, 75)),
                requests_per_minute=float(
                    np.exp(rng.uniform(np.log(40), np.log(250))) * self._variation.batch_job_scale
                ),
                model=batch_model,
            )
        return Team(
            name=name,
            utc_offset_minutes=utc_offset,
            model_mix=model_mix,
            tool_mix=tool_mix,
            reports_cost=bool(rng.random() < self._variation.gateway_cost_share),
            reports_cached_tokens=bool(rng.random() < self._variation.gateway_cache_share),
            batch_job=batch_job,
            appears_at=appears_at,
        )

    def make_users(
        self, team: Team, count: int, joins_at: list[float | None] | None = None
    ) -> list[User]:
        """``count`` new people in ``team`` (plus its batch service account, if any)."""
        rng = self._rng
        variation = self._variation
        arrival = joins_at if joins_at is not None else [None] * count
        team_tool_shares = np.array([team.tool_mix[tool] for tool in INTERACTIVE_TOOLS])
        users: list[User] = []
        for index in range(count):
            personal = rng.dirichlet(team_tool_shares * 15.0 + 1e-3)
            activity = MEDIAN_PEAK_REQUESTS_PER_MINUTE * float(
                np.exp(rng.normal(0.0, variation.user_activity_sigma))
            )
            users.append(
                User(
                    name=self.user_name(),
                    team=team.name,
                    peak_requests_per_minute=activity,
                    tool_mix=(*(float(share) for share in personal), 0.0),
                    start_shift_minutes=int(
                        rng.normal(0.0, variation.start_hour_spread_hours * 60.0)
                    ),
                    night_owl=bool(rng.random() < variation.night_owl_share),
                    joins_at=arrival[index],
                )
            )
        return users

    def service_user(self, team: Team) -> User | None:
        """The service account of ``team``'s batch job, if it has one."""
        job = team.batch_job
        if job is None:
            return None
        return User(
            name=job.user,
            team=team.name,
            peak_requests_per_minute=job.requests_per_minute,
            tool_mix=tuple(1.0 if tool == "batch" else 0.0 for tool in TOOLS),
            start_shift_minutes=0,
            service=True,
            joins_at=team.appears_at,
        )

    def user_name(self) -> str:
        """An unused ``first.last`` name."""
        rng = self._rng
        for _ in range(20):
            name = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}"
            if name not in self._used_user_names:
                self._used_user_names.add(name)
                return name
        # Large organisations exhaust the name pairs; number the duplicates as email systems do.
        base = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}"
        suffix = 2
        while f"{base}{suffix}" in self._used_user_names:
            suffix += 1
        self._used_user_names.add(f"{base}{suffix}")
        return f"{base}{suffix}"


def _with_cheap_share(base: Mapping[str, float], cheap_share: float) -> dict[str, float]:
    """``base`` rescaled so that the small models together take ``cheap_share``."""
    cheap_total = sum(share for model, share in base.items() if model in CHEAP_MODELS)
    other_total = sum(share for model, share in base.items() if model not in CHEAP_MODELS)
    if cheap_total == 0 or other_total == 0:
        return dict(base)
    return {
        model: share * cheap_share / cheap_total
        if model in CHEAP_MODELS
        else share * (1.0 - cheap_share) / other_total
        for model, share in base.items()
    }


def _dirichlet_around(
    rng: np.random.Generator, base: Mapping[str, float], concentration: float
) -> dict[str, float]:
    """Shares drawn around ``base`` (all keys kept, zero-share keys stay zero)."""
    names = list(base)
    weights = np.array([base[name] for name in names], dtype=float)
    weights /= weights.sum()
    drawn = rng.dirichlet(weights * concentration)
    return {name: float(share) for name, share in zip(names, drawn, strict=True)}


def build_organisation(config: SimulationConfig, rng: np.random.Generator) -> Organisation:
    """The organisation at the start of the simulation.

    Parameters
    ----------
    config
        Number of teams, size scale and variation parameters.
    rng
        Random source (the organisation's own stream, independent of the traffic).
    """
    builder = OrganisationBuilder(rng, config.variation, config.users_per_team_scale)
    return extend_organisation(builder, config, config.teams)


def extend_organisation(
    builder: OrganisationBuilder, config: SimulationConfig, team_count: int
) -> Organisation:
    """Build ``team_count`` teams with their members using ``builder``."""
    sizes = builder.team_sizes(team_count)
    batch_team_count = (
        round(team_count * config.variation.batch_team_share) if config.nightly_batches else 0
    )
    if config.nightly_batches and config.variation.batch_team_share > 0 and team_count >= 3:
        batch_team_count = max(batch_team_count, 1)
    teams: list[Team] = []
    users: list[User] = []
    for index, size in enumerate(sizes):
        # Spread the batch jobs over the list rather than giving them all to the first teams.
        has_batch = batch_team_count > 0 and index % max(1, team_count // batch_team_count) == 0
        has_batch = (
            has_batch and sum(team.batch_job is not None for team in teams) < batch_team_count
        )
        team = builder.make_team(with_batch_job=has_batch)
        teams.append(team)
        users.extend(builder.make_users(team, size))
        service = builder.service_user(team)
        if service is not None:
            users.append(service)
    organisation = Organisation(teams=tuple(teams), users=tuple(users))
    logger.debug("built organisation of %d teams, %d users", len(teams), len(users))
    return organisation
