"""Ground-truth labels and the plan that turns incident and confounder specs into traffic changes.

Every injected incident becomes an :class:`Incident` label; every confounder becomes a label of
kind ``confounder:<name>`` so that an evaluator can count alerts raised on normal-but-unusual
traffic as false alarms. The planner resolves unspecified teams, users, times and magnitudes
with its own random stream, then describes the changes to the traffic as *effects* that the
generator applies minute by minute:

* a :class:`RateEffect` multiplies or adds to the request rate of some users over a span,
* a :class:`Burst` adds requests of a fixed shape (a runaway agent loop),
* a :class:`ModelOverride` moves a share of some users' requests to another model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from tokenradar.pricing import DEFAULT_PRICES
from tokenradar.simulator.catalogue import (
    AGENT_TOOL,
    EMBEDDING_MODEL,
    EXPENSIVE_MODELS,
    MODEL_INDEX,
    MODELS,
    TOOL_INDEX,
    RequestShapes,
)
from tokenradar.simulator.config import ConfounderSpec, IncidentSpec, SimulationConfig
from tokenradar.simulator.organisation import Organisation, OrganisationBuilder, Team, User
from tokenradar.simulator.rhythm import MINUTES_PER_DAY, local_weekday_and_minute
from tokenradar.simulator.tables import OrganisationTables, compile_tables, sample_categorical

logger = logging.getLogger(__name__)

CONFOUNDER_PREFIX: Final[str] = "confounder:"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Incident:
    """A ground-truth label: something happened to ``team`` (and ``user``) in ``[start, end)``.

    Parameters
    ----------
    kind
        The incident kind (e.g. ``team_surge``), or ``confounder:<name>`` for normal traffic
        that merely looks unusual.
    team
        The team concerned.
    user
        The user concerned, ``None`` for team-level incidents.
    start, end
        Event-time seconds since the epoch (UTC); ``end`` is exclusive. For ``slow_ramp``,
        ``start`` is the start of the ramp.
    magnitude
        Kind-specific strength (see :class:`~tokenradar.simulator.config.IncidentSpec`).
    details
        Extra facts, e.g. the model switched to.
    """

    kind: str
    team: str
    user: str | None
    start: float
    end: float
    magnitude: float
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_confounder(self) -> bool:
        """Whether this label marks normal traffic that should not raise an alert."""
        return self.kind.startswith(CONFOUNDER_PREFIX)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, with the times also as RFC 3339 strings."""
        return {
            "kind": self.kind,
            "team": self.team,
            "user": self.user,
            "start": self.start,
            "end": self.end,
            "start_time": _rfc3339(self.start),
            "end_time": _rfc3339(self.end),
            "magnitude": self.magnitude,
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Incident:
        """The inverse of :meth:`to_dict`."""
        return cls(
            kind=str(data["kind"]),
            team=str(data["team"]),
            user=None if data.get("user") is None else str(data["user"]),
            start=float(data["start"]),
            end=float(data["end"]),
            magnitude=float(data["magnitude"]),
            details=dict(data.get("details") or {}),
        )


def _rfc3339(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


MinuteFunction = Callable[[IntArray], FloatArray]


@dataclass(frozen=True, eq=False)
class RateEffect:
    """Changes the request rate of ``users`` during minutes ``[first_minute, end_minute)``.

    With ``mode="multiply"`` the rate is multiplied by ``shape(minute)``; with ``mode="add"``
    ``per_user * shape(minute)`` requests per minute are added.
    """

    users: npt.NDArray[np.intp]
    first_minute: int
    end_minute: int
    mode: Literal["multiply", "add"]
    shape: MinuteFunction
    per_user: FloatArray


@dataclass(frozen=True, eq=False)
class Burst:
    """A loop sending ``requests_per_minute`` large agent requests from one user."""

    user: int
    first_minute: int
    end_minute: int
    requests_per_minute: float
    model: int
    input_low: int
    input_high: int


@dataclass(frozen=True, eq=False)
class ModelOverride:
    """Moves a share ``probability`` of ``users``' requests to ``model`` during a span."""

    users: npt.NDArray[np.intp]
    first_minute: int
    end_minute: int
    model: int
    probability: float


@dataclass(frozen=True, eq=False)
class Plan:
    """The final organisation, its compiled tables, the labels and the effects."""

    organisation: Organisation
    tables: OrganisationTables
    labels: tuple[Incident, ...]
    rate_effects: tuple[RateEffect, ...]
    bursts: tuple[Burst, ...]
    model_overrides: tuple[ModelOverride, ...]


@dataclass(frozen=True, slots=True)
class _KindDefaults:
    duration_hours: tuple[float, float]
    magnitude: tuple[float, float]


_INCIDENT_DEFAULTS: Final[dict[str, _KindDefaults]] = {
    "user_runaway": _KindDefaults((12.0, 36.0), (10.0, 50.0)),
    "runaway_agent": _KindDefaults((5 / 60, 1.0), (10.0, 40.0)),
    "team_surge": _KindDefaults((2.0, 6.0), (3.0, 7.0)),
    "model_switch": _KindDefaults((4.0, 24.0), (5.0, 20.0)),
    "slow_ramp": _KindDefaults((36.0, 72.0), (3.0, 5.0)),
    "off_hours_loop": _KindDefaults((2.0, 6.0), (10.0, 30.0)),
}

_CONFOUNDER_DURATION_HOURS: Final[dict[str, tuple[float, float]]] = {
    "holiday": (24.0, 24.0),
    "onboarding": (24.0 * 7, 24.0 * 7),
    "new_team": (24.0, 24.0),
    "first_busy_morning": (3.0, 3.0),
    "model_trial": (1.0, 2.0),
}

HOLIDAY_ACTIVITY: Final[float] = 0.12
ONBOARDING_GROWTH: Final[float] = 0.3
FIRST_MORNING_FACTOR: Final[float] = 3.0
MODEL_TRIAL_SHARE: Final[float] = 0.5
RUNAWAY_AGENT_INPUT: Final[tuple[int, int]] = (100_000, 200_000)

# When an incident's time is left open, it is placed after this share of the run (at most a day)
# so that detectors have seen some normal traffic first.
_WARM_UP_SHARE: Final[float] = 0.25
_WARM_UP_CAP_MINUTES: Final[int] = MINUTES_PER_DAY

TimePredicate = Callable[[int, float], bool]
"""(local weekday, local hour) -> whether a start time is plausible."""


def _working_hours(weekday: int, hour: float) -> bool:
    return weekday < 5 and 9.0 <= hour < 14.0


def _working_day(weekday: int, hour: float) -> bool:
    return weekday < 5 and 9.0 <= hour < 17.0


def _morning(weekday: int, hour: float) -> bool:
    return weekday < 5 and 8.0 <= hour < 11.0


def _off_hours(weekday: int, hour: float) -> bool:
    return hour < 4.0 or weekday >= 5


def _any_time(weekday: int, hour: float) -> bool:
    return True


_PLACEMENT: Final[dict[str, TimePredicate]] = {
    "user_runaway": _any_time,
    "runaway_agent": _working_day,
    "team_surge": _working_hours,
    "model_switch": _working_hours,
    "slow_ramp": _morning,
    "off_hours_loop": _off_hours,
    "holiday": _any_time,
    "onboarding": _morning,
    "new_team": _morning,
    "first_busy_morning": _any_time,
    "model_trial": _working_day,
}


class _Planner:
    """Resolves specs against the organisation and records labels and effects."""

    def __init__(
        self,
        config: SimulationConfig,
        builder: OrganisationBuilder,
        organisation: Organisation,
        rng: np.random.Generator,
    ) -> None:
        self.config = config
        self.builder = builder
        self.rng = rng
        self.teams: list[Team] = list(organisation.teams)
        self.users: list[User] = list(organisation.users)
        self.total_minutes = int(config.duration.total_seconds() // 60)
        self.start_epoch_minute = int(config.start_epoch // 60)
        self.labels: list[Incident] = []
        self.rate_effects: list[RateEffect] = []
        self.bursts: list[Burst] = []
        self.model_overrides: list[ModelOverride] = []
        # Effects that need user positions are created once the organisation is final.
        self.deferred: list[Callable[[OrganisationTables], None]] = []
        self._cost_ratio_cache: dict[str, dict[str, float]] = {}

    # --- times -----------------------------------------------------------------------------

    def epoch(self, minute: int) -> float:
        return self.config.start_epoch + 60.0 * minute

    def local_hour(self, team: Team, minute: int) -> tuple[int, float]:
        local = np.array([self.start_epoch_minute + minute + team.utc_offset_minutes])
        weekday, minute_of_day = local_weekday_and_minute(local)
        return int(weekday[0]), float(minute_of_day[0]) / 60.0

    def duration_minutes(self, spec_duration: float | None, hours: tuple[float, float]) -> int:
        if spec_duration is not None:
            return max(1, round(spec_duration / 60.0))
        low, high = hours
        return max(1, round(float(self.rng.uniform(low, high)) * 60.0))

    def place(
        self, kind: str, team: Team, at_seconds: float | None, duration: int
    ) -> tuple[int, int]:
        """First and end minute of an incident, clipped to the run."""
        if at_seconds is not None:
            first = int(at_seconds // 60)
            if first >= self.total_minutes:
                raise ValueError(
                    f"{kind} at {at_seconds / 3600:.1f}h starts after the end of the run "
                    f"({self.total_minutes / 60:.1f}h)"
                )
            return first, min(first + duration, self.total_minutes)
        warm_up = min(int(self.total_minutes * _WARM_UP_SHARE), _WARM_UP_CAP_MINUTES)
        latest = max(warm_up, self.total_minutes - duration)
        predicate = _PLACEMENT[kind]
        first = int(self.rng.integers(warm_up, latest + 1))
        for _ in range(400):
            candidate = int(self.rng.integers(warm_up, latest + 1))
            if predicate(*self.local_hour(team, candidate)):
                first = candidate
                break
        else:
            logger.debug("no plausible start for %s in %s; placing it anywhere", kind, team.name)
        first = min(first, self.total_minutes - 1)
        return first, min(first + duration, self.total_minutes)

    # --- who ------------------------------------------------------------------------------

    def team_named(self, name: str) -> Team:
        for team in self.teams:
            if team.name == name:
                return team
        raise ValueError(f"no team called {name!r}")

    def user_named(self, name: str) -> User:
        for user in self.users:
            if user.name == name:
                return user
        raise ValueError(f"no user called {name!r}")

    def people(self, team: Team, present_at_minute: int | None = None) -> list[User]:
        present_epoch = None if present_at_minute is None else self.epoch(present_at_minute)
        return [
            user
            for user in self.users
            if user.team == team.name
            and not user.service
            and (present_epoch is None or user.joins_at is None or user.joins_at <= present_epoch)
        ]

    def choose_team(self, name: str | None, user_name: str | None = None) -> Team:
        if user_name is not None:
            user_team = self.team_named(self.user_named(user_name).team)
            if name is not None and name != user_team.name:
                raise ValueError(f"user {user_name} is in team {user_team.name}, not {name}")
            return user_team
        if name is not None:
            return self.team_named(name)
        # Teams present from the start; a team appearing mid-stream has no history to break.
        candidates = [team for team in self.teams if team.appears_at is None]
        return candidates[int(self.rng.integers(len(candidates)))]

    def team_in_main_region(self) -> Team:
        """A random team in the time zone most teams are in (where a holiday matters most)."""
        offsets = [team.utc_offset_minutes for team in self.teams if team.appears_at is None]
        main_offset = max(set(offsets), key=offsets.count)
        candidates = [
            team
            for team in self.teams
            if team.appears_at is None and team.utc_offset_minutes == main_offset
        ]
        return candidates[int(self.rng.integers(len(candidates)))]

    def choose_user(
        self, team: Team, name: str | None, minute: int, avoid_night_owls: bool = False
    ) -> User:
        if name is not None:
            return self.user_named(name)
        candidates = [
            user
            for user in self.people(team, present_at_minute=minute)
            if not (avoid_night_owls and user.night_owl)
        ]
        if not candidates:
            candidates = self.people(team)
        if not candidates:
            raise ValueError(f"team {team.name} has no users to pick from")
        return candidates[int(self.rng.integers(len(candidates)))]

    def positions(self, tables: OrganisationTables, users: list[User]) -> npt.NDArray[np.intp]:
        return np.array([tables.user_index(user.name) for user in users], dtype=np.intp)

    # --- labels ---------------------------------------------------------------------------

    def label(
        self,
        kind: str,
        team: Team,
        user: User | None,
        first: int,
        end: int,
        magnitude: float,
        **details: Any,
    ) -> None:
        self.labels.append(
            Incident(
                kind=kind,
                team=team.name,
                user=None if user is None else user.name,
                start=self.epoch(first),
                end=self.epoch(end),
                magnitude=float(magnitude),
                details=details,
            )
        )

    # --- incidents ------------------------------------------------------------------------

    def incident(self, spec: IncidentSpec) -> None:
        defaults = _INCIDENT_DEFAULTS[spec.kind]
        magnitude = (
            spec.magnitude
            if spec.magnitude is not None
            else float(self.rng.uniform(*defaults.magnitude))
        )
        if spec.kind == "model_switch" and spec.team is None and spec.user is None:
            team = self.team_that_can_switch(magnitude)
        else:
            team = self.choose_team(spec.team, spec.user)
        duration = self.duration_minutes(
            None if spec.duration is None else spec.duration.total_seconds(),
            defaults.duration_hours,
        )
        at = None if spec.at is None else spec.at.total_seconds()
        first, end = self.place(spec.kind, team, at, duration)
        kind = spec.kind
        if kind == "user_runaway":
            user = self.choose_user(team, spec.user, first)
            self.label(kind, team, user, first, end, magnitude)
            self.deferred.append(
                lambda tables: self.add_flat_rate(tables, user, first, end, magnitude - 1.0)
            )
        elif kind == "off_hours_loop":
            user = self.choose_user(team, spec.user, first, avoid_night_owls=True)
            self.label(kind, team, user, first, end, magnitude)
            self.deferred.append(
                lambda tables: self.add_flat_rate(tables, user, first, end, magnitude)
            )
        elif kind == "runaway_agent":
            user = self.choose_user(team, spec.user, first)
            model = _top_model(team, "agent")
            self.label(kind, team, user, first, end, magnitude, model=model, unit="requests/min")
            self.deferred.append(
                lambda tables: self.bursts.append(
                    Burst(
                        user=tables.user_index(user.name),
                        first_minute=first,
                        end_minute=end,
                        requests_per_minute=magnitude,
                        model=MODEL_INDEX[model],
                        input_low=RUNAWAY_AGENT_INPUT[0],
                        input_high=RUNAWAY_AGENT_INPUT[1],
                    )
                )
            )
        elif kind in ("team_surge", "slow_ramp"):
            members = [] if spec.user is None else [self.user_named(spec.user)]
            if not members:
                members = self.people(team)
            if kind == "team_surge":
                shape = _constant(magnitude)
                self.label(kind, team, None, first, end, magnitude)
            else:
                ramp_minutes = max(
                    1,
                    min(
                        int(self.rng.uniform(1.0, 2.0) * MINUTES_PER_DAY), int(0.6 * (end - first))
                    ),
                )
                shape = _ramp(first, ramp_minutes, magnitude)
                self.label(
                    kind, team, None, first, end, magnitude,
                    ramp_end=self.epoch(first + ramp_minutes),
                )  # fmt: skip
            self.deferred.append(
                lambda tables: self.rate_effects.append(
                    RateEffect(
                        users=self.positions(tables, members),
                        first_minute=first,
                        end_minute=end,
                        mode="multiply",
                        shape=shape,
                        per_user=np.ones(len(members)),
                    )
                )
            )
        elif kind == "model_switch":
            switched = [self.user_named(spec.user)] if spec.user is not None else self.people(team)
            target, probability, achieved = self.model_switch_plan(team, magnitude)
            self.label(
                kind, team, switched[0] if spec.user is not None else None, first, end, achieved,
                model=target, share_switched=probability, requested_magnitude=magnitude,
            )  # fmt: skip
            self.deferred.append(
                lambda tables: self.model_overrides.append(
                    ModelOverride(
                        users=self.positions(tables, switched),
                        first_minute=first,
                        end_minute=end,
                        model=MODEL_INDEX[target],
                        probability=probability,
                    )
                )
            )
        else:  # pragma: no cover - IncidentSpec validates the kind
            raise ValueError(f"unknown incident kind {kind}")

    def add_flat_rate(
        self, tables: OrganisationTables, user: User, first: int, end: int, times_mean: float
    ) -> None:
        """Add ``times_mean`` times the user's mean rate, day and night."""
        index = tables.user_index(user.name)
        self.rate_effects.append(
            RateEffect(
                users=np.array([index], dtype=np.intp),
                first_minute=first,
                end_minute=end,
                mode="add",
                shape=_constant(1.0),
                per_user=np.array([tables.user_mean_rate[index] * max(times_mean, 0.0)]),
            )
        )

    def team_that_can_switch(self, magnitude: float) -> Team:
        """A random team whose bill can grow by ``magnitude`` by switching models.

        Teams on mid-tier models reach about 5-7x by moving to the frontier model; larger
        factors need a team that runs mostly on small models.
        """
        candidates = [team for team in self.teams if team.appears_at is None]
        feasible = [
            team for team in candidates if max(self.cost_ratios(team).values()) >= magnitude
        ]
        pool = feasible or [max(candidates, key=lambda team: max(self.cost_ratios(team).values()))]
        return pool[int(self.rng.integers(len(pool)))]

    def model_switch_plan(self, team: Team, magnitude: float) -> tuple[str, float, float]:
        """The model to switch to, the share of requests moved, and the cost factor reached.

        Moving a share ``p`` of requests to a model whose cost per request is ``R`` times the
        team's current average multiplies cost by ``1 + p (R - 1)``. The cheapest expensive
        model that can reach ``magnitude`` is chosen, which makes the switch as complete as
        possible (a team moving wholesale is the typical case).
        """
        ratios = self.cost_ratios(team)
        target = EXPENSIVE_MODELS[-1]
        for model in EXPENSIVE_MODELS:
            if ratios[model] >= magnitude:
                target = model
                break
        ratio = ratios[target]
        if ratio < magnitude:
            logger.warning(
                "a model switch can raise %s's cost only %.1fx, not %.1fx; labelling %.1fx",
                team.name, ratio, magnitude, ratio,
            )  # fmt: skip
        if ratio <= 1.0:
            return target, 1.0, ratio
        probability = float(min(1.0, (magnitude - 1.0) / (ratio - 1.0)))
        return target, probability, 1.0 + probability * (ratio - 1.0)

    def cost_ratios(self, team: Team, samples: int = 4000) -> dict[str, float]:
        """Cost per request on each model relative to the team's current mix, by simulation."""
        cached = self._cost_ratio_cache.get(team.name)
        if cached is None:
            cached = self._estimate_cost_ratios(team, samples)
            self._cost_ratio_cache[team.name] = cached
        return cached

    def _estimate_cost_ratios(self, team: Team, samples: int) -> dict[str, float]:
        variation = self.config.variation
        shapes = RequestShapes(
            variation.request_size_scale,
            variation.request_size_sigma_scale,
            variation.cache_hit_scale,
        )
        # Seeded by the team, not the planner's stream, so that asking about more teams does not
        # move every later random choice.
        rng = np.random.default_rng([self.config.seed, *team.name.encode("utf-8")])
        tool_names = list(team.tool_mix)
        tool_shares = np.array([team.tool_mix[name] for name in tool_names])
        tool_picks = rng.choice(len(tool_names), size=samples, p=tool_shares / tool_shares.sum())
        tools = np.array([TOOL_INDEX[tool_names[pick]] for pick in tool_picks], dtype=np.intp)
        model_rows = np.zeros((samples, len(MODELS)))
        for tool_name, mix in team.model_mix.items():
            row = np.zeros(len(MODELS))
            for model, share in mix.items():
                row[MODEL_INDEX[model]] = share
            model_rows[tools == TOOL_INDEX[tool_name]] = np.cumsum(row / row.sum())
        base_models = sample_categorical(rng, model_rows)
        input_tokens, cached, output = shapes.sample(
            rng,
            tools,
            np.full(samples, team.reports_cached_tokens),
            base_models != MODEL_INDEX[EMBEDDING_MODEL],
        )

        def total_cost(models: npt.NDArray[np.intp]) -> float:
            cost = 0.0
            for model_index in np.unique(models):
                price = DEFAULT_PRICES[MODELS[model_index]]
                chosen = models == model_index
                cost += float(
                    (input_tokens[chosen] - cached[chosen]).sum() * price.input_per_million
                    + cached[chosen].sum() * price.cached_input_per_million
                    + output[chosen].sum() * price.output_per_million
                )
            return cost

        base = total_cost(base_models)
        return {
            model: total_cost(np.full(samples, MODEL_INDEX[model], dtype=np.intp)) / base
            for model in EXPENSIVE_MODELS
        }

    # --- confounders ----------------------------------------------------------------------

    def structural_confounder(self, spec: ConfounderSpec) -> None:
        """Confounders that add people or teams; they run before the organisation is final."""
        kind = spec.kind
        hours = _CONFOUNDER_DURATION_HOURS[kind]
        duration = self.duration_minutes(
            None if spec.duration is None else spec.duration.total_seconds(), hours
        )
        at = None if spec.at is None else spec.at.total_seconds()
        label_kind = CONFOUNDER_PREFIX + kind
        if kind == "new_team":
            anchor = self.teams[0]
            first, end = self.place(kind, anchor, at, duration)
            appears_at = self.epoch(first)
            team = self.builder.make_team(appears_at=appears_at)
            size = self.builder.team_sizes(1)[0]
            # People move onto the gateway over the first couple of hours, not all at once.
            joins = sorted(float(appears_at + self.rng.uniform(0, 7200)) for _ in range(size))
            members = self.builder.make_users(team, size, joins_at=list(joins))
            self.teams.append(team)
            self.users.extend(members)
            self.label(label_kind, team, None, first, end, float(size), users=size)
        elif kind == "onboarding":
            team = self.choose_team(spec.team)
            first, end = self.place(kind, team, at, duration)
            current = len(self.people(team))
            newcomers = max(1, round(current * ONBOARDING_GROWTH))
            joins = sorted(
                float(self.epoch(first) + self.rng.uniform(0, 60.0 * (end - first)))
                for _ in range(newcomers)
            )
            self.users.extend(self.builder.make_users(team, newcomers, joins_at=list(joins)))
            self.label(
                label_kind, team, None, first, end, (current + newcomers) / max(current, 1),
                new_users=newcomers,
            )  # fmt: skip
        elif kind == "first_busy_morning":
            team = self.choose_team(spec.team)
            first = self.next_local_morning(team, 0 if at is None else int(at // 60), at is None)
            end = min(first + duration, self.total_minutes)
            (newcomer,) = self.builder.make_users(team, 1, joins_at=[self.epoch(first)])
            self.users.append(newcomer)
            self.label(label_kind, team, newcomer, first, end, FIRST_MORNING_FACTOR)
            self.deferred.append(
                lambda tables: self.rate_effects.append(
                    RateEffect(
                        users=self.positions(tables, [newcomer]),
                        first_minute=first,
                        end_minute=end,
                        mode="multiply",
                        shape=_constant(FIRST_MORNING_FACTOR),
                        per_user=np.ones(1),
                    )
                )
            )

    def next_local_morning(self, team: Team, from_minute: int, randomise: bool) -> int:
        """The first minute at 09:00 local time on a weekday at or after ``from_minute``."""
        if randomise:
            warm_up = min(int(self.total_minutes * _WARM_UP_SHARE), _WARM_UP_CAP_MINUTES)
            from_minute = int(self.rng.integers(warm_up, max(warm_up, self.total_minutes - 1) + 1))
        for minute in range(
            from_minute, min(from_minute + 8 * MINUTES_PER_DAY, self.total_minutes)
        ):
            weekday, hour = self.local_hour(team, minute)
            if weekday < 5 and abs(hour - 9.0) < 1e-9:
                return minute
        return min(from_minute, self.total_minutes - 1)

    def behavioural_confounder(self, spec: ConfounderSpec) -> None:
        """Confounders that change how existing people behave."""
        kind = spec.kind
        label_kind = CONFOUNDER_PREFIX + kind
        at = None if spec.at is None else spec.at.total_seconds()
        if kind == "holiday":
            team = self.choose_team(spec.team) if spec.team else self.team_in_main_region()
            anchor = int(at // 60) if at is not None else self.place(kind, team, None, 1)[0]
            # The whole local day containing the anchor, for every team in that time zone.
            local = self.start_epoch_minute + anchor + team.utc_offset_minutes
            day_first = anchor - (local % MINUTES_PER_DAY)
            first = max(0, day_first)
            end = min(day_first + MINUTES_PER_DAY, self.total_minutes)
            region = [t for t in self.teams if t.utc_offset_minutes == team.utc_offset_minutes]
            for region_team in region:
                self.label(label_kind, region_team, None, first, end, HOLIDAY_ACTIVITY)
            members = [user for t in region for user in self.people(t)]
            self.deferred.append(
                lambda tables: self.rate_effects.append(
                    RateEffect(
                        users=self.positions(tables, members),
                        first_minute=first,
                        end_minute=end,
                        mode="multiply",
                        shape=_constant(HOLIDAY_ACTIVITY),
                        per_user=np.ones(len(members)),
                    )
                )
            )
        elif kind == "model_trial":
            team = self.choose_team(spec.team, spec.user)
            duration = self.duration_minutes(
                None if spec.duration is None else spec.duration.total_seconds(),
                _CONFOUNDER_DURATION_HOURS[kind],
            )
            first, end = self.place(kind, team, at, duration)
            user = self.choose_user(team, spec.user, first)
            target = EXPENSIVE_MODELS[-1]
            ratio = self.cost_ratios(team)[target]
            self.label(
                label_kind, team, user, first, end, 1.0 + MODEL_TRIAL_SHARE * (ratio - 1.0),
                model=target, share_switched=MODEL_TRIAL_SHARE,
            )  # fmt: skip
            self.deferred.append(
                lambda tables: self.model_overrides.append(
                    ModelOverride(
                        users=self.positions(tables, [user]),
                        first_minute=first,
                        end_minute=end,
                        model=MODEL_INDEX[target],
                        probability=MODEL_TRIAL_SHARE,
                    )
                )
            )

    def nightly_batch_labels(self) -> None:
        """One ``confounder:nightly_batch`` label per run of every batch job."""
        for team in self.teams:
            job = team.batch_job
            if job is None:
                continue
            user = next(u for u in self.users if u.name == job.user)
            appears = (
                0
                if team.appears_at is None
                else int((team.appears_at - self.config.start_epoch) // 60)
            )
            local_start = self.start_epoch_minute + team.utc_offset_minutes
            # First run start at or before the run's start, then one per day.
            offset = (job.local_start_minute - local_start) % MINUTES_PER_DAY - MINUTES_PER_DAY
            run = offset
            while run < self.total_minutes:
                first, end = max(run, 0, appears), min(run + job.length_minutes, self.total_minutes)
                if end > first:
                    self.label(
                        CONFOUNDER_PREFIX + "nightly_batch", team, user, first, end,
                        job.requests_per_minute * self.config.rate_scale,
                        unit="requests/min", model=job.model,
                    )  # fmt: skip
                run += MINUTES_PER_DAY


def _top_model(team: Team, tool: str) -> str:
    mix = team.model_mix[tool]
    return max(mix, key=lambda model: mix[model])


def _constant(value: float) -> MinuteFunction:
    def shape(minutes: IntArray) -> FloatArray:
        return np.full(minutes.shape, value, dtype=float)

    return shape


def _ramp(first: int, ramp_minutes: int, magnitude: float) -> MinuteFunction:
    def shape(minutes: IntArray) -> FloatArray:
        progress = np.clip((minutes - first) / ramp_minutes, 0.0, 1.0)
        return 1.0 + (magnitude - 1.0) * progress

    return shape


_STRUCTURAL: Final[frozenset[str]] = frozenset({"new_team", "onboarding", "first_busy_morning"})


def make_plan(
    config: SimulationConfig,
    builder: OrganisationBuilder,
    organisation: Organisation,
    rng: np.random.Generator,
) -> Plan:
    """Resolve the config's incidents and confounders against ``organisation``.

    Parameters
    ----------
    config
        The run's config.
    builder
        The builder that made ``organisation``; it adds the people of onboarding and new-team
        confounders so that they look like everyone else.
    organisation
        The organisation at the start.
    rng
        The planner's random stream.
    """
    planner = _Planner(config, builder, organisation, rng)
    for confounder in config.confounders:
        if confounder.kind in _STRUCTURAL:
            planner.structural_confounder(confounder)
    for confounder in config.confounders:
        if confounder.kind not in _STRUCTURAL:
            planner.behavioural_confounder(confounder)
    for spec in config.incidents:
        planner.incident(spec)
    planner.nightly_batch_labels()
    final = Organisation(teams=tuple(planner.teams), users=tuple(planner.users))
    tables = compile_tables(final, config)
    for create_effect in planner.deferred:
        create_effect(tables)
    labels = tuple(sorted(planner.labels, key=lambda label: (label.start, label.kind, label.team)))
    return Plan(
        organisation=final,
        tables=tables,
        labels=labels,
        rate_effects=tuple(planner.rate_effects),
        bursts=tuple(planner.bursts),
        model_overrides=tuple(planner.model_overrides),
    )


__all__ = [
    "AGENT_TOOL",
    "CONFOUNDER_PREFIX",
    "Burst",
    "Incident",
    "ModelOverride",
    "Plan",
    "RateEffect",
    "make_plan",
]
