"""What to simulate: the organisation's size, the time span, the incidents and the confounders.

Everything that changes the generated traffic is in :class:`SimulationConfig`, so a config and
its seed identify a run exactly. :class:`Variation` holds the generator's own behavioural
parameters (cycle amplitudes, noise, request sizes, batch volumes); the benchmark draws several of
them with :meth:`Variation.randomised` so that detectors are not tuned to one generator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import numpy as np

IncidentKind = Literal[
    "user_runaway",
    "runaway_agent",
    "team_surge",
    "model_switch",
    "slow_ramp",
    "off_hours_loop",
]
INCIDENT_KINDS: Final[tuple[str, ...]] = (
    "user_runaway",
    "runaway_agent",
    "team_surge",
    "model_switch",
    "slow_ramp",
    "off_hours_loop",
)

ConfounderKind = Literal[
    "holiday",
    "onboarding",
    "new_team",
    "first_busy_morning",
    "model_trial",
]
CONFOUNDER_KINDS: Final[tuple[str, ...]] = (
    "holiday",
    "onboarding",
    "new_team",
    "first_busy_morning",
    "model_trial",
)

DEFAULT_START: Final[datetime] = datetime(2026, 11, 2, tzinfo=UTC)
"""A Monday, so that file runs are reproducible and start with a working week."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(w|d|h|m|s)")
_DURATION_UNITS: Final[dict[str, float]] = {
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
}


def parse_duration(text: str) -> timedelta:
    """Parse a compact duration such as ``90s``, ``15m``, ``2h``, ``3d``, ``1w`` or ``1d12h``.

    Examples
    --------
    >>> parse_duration("1d12h")
    datetime.timedelta(days=1, seconds=43200)
    >>> parse_duration("45m")
    datetime.timedelta(seconds=2700)
    """
    cleaned = text.strip().lower()
    if not cleaned:
        raise ValueError("empty duration")
    position = 0
    seconds = 0.0
    for match in _DURATION_PART.finditer(cleaned):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(cleaned):
        raise ValueError(f"cannot parse duration {text!r}; use e.g. 30s, 15m, 2h, 3d, 1w, 1d12h")
    return timedelta(seconds=seconds)


def format_duration(span: timedelta) -> str:
    """The inverse of :func:`parse_duration`, for display.

    Examples
    --------
    >>> format_duration(timedelta(days=1, hours=2, minutes=30))
    '1d2h30m'
    """
    remaining = round(span.total_seconds())
    if remaining == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time; a naive time is taken as UTC. The result is in UTC."""
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class IncidentSpec:
    """An incident to inject.

    Parameters
    ----------
    kind
        One of :data:`INCIDENT_KINDS`.
    at
        Offset from the simulation start; ``None`` lets the generator pick a plausible time
        (working hours for a surge, night for an off-hours loop).
    duration
        How long it lasts; ``None`` picks a kind-specific default.
    team
        The team; ``None`` picks one at random (the user's team when ``user`` is given).
    user
        The user, for user-level kinds; ``None`` picks one of the team's users.
    magnitude
        Kind-specific strength, ``None`` for a random value in the kind's usual range:

        * ``team_surge``, ``slow_ramp``: factor on the team's normal rate at that time of day
          (the ramp reaches it at its end and stays there);
        * ``user_runaway``: the user's volume over the incident is about this many times their
          mean rate over a normal week (the loop runs flat, day and night);
        * ``off_hours_loop``: the loop's rate as a multiple of the user's weekly mean rate;
        * ``model_switch``: factor on the team's (or user's) cost, token volume unchanged; the
          label carries the factor actually reachable from the team's model mix;
        * ``runaway_agent``: requests per minute of the loop (100k-200k input tokens each).
    """

    kind: str
    at: timedelta | None = None
    duration: timedelta | None = None
    team: str | None = None
    user: str | None = None
    magnitude: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in INCIDENT_KINDS:
            raise ValueError(
                f"unknown incident kind {self.kind!r}; expected one of {INCIDENT_KINDS}"
            )
        _check_timing(self.at, self.duration)
        if self.magnitude is not None and self.magnitude <= 0:
            raise ValueError(f"magnitude must be positive, got {self.magnitude}")


@dataclass(frozen=True, slots=True)
class ConfounderSpec:
    """A normal but unusual event that detectors should *not* alert on.

    Parameters
    ----------
    kind
        One of :data:`CONFOUNDER_KINDS`: ``holiday`` (a local day off for the teams in one time
        zone), ``onboarding`` (a team gaining about 30 % more people over a week), ``new_team``
        (a team that appears mid-stream), ``first_busy_morning`` (a new hire's first,
        busy morning), ``model_trial`` (a user trying an expensive model for an hour or two).
    at
        Offset from the simulation start; ``None`` picks one.
    duration
        ``None`` picks a kind-specific default.
    team
        The team concerned; ``None`` picks one (``new_team`` always creates a new one).
    user
        For ``model_trial``: the user; ``None`` picks one.
    """

    kind: str
    at: timedelta | None = None
    duration: timedelta | None = None
    team: str | None = None
    user: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in CONFOUNDER_KINDS:
            raise ValueError(
                f"unknown confounder kind {self.kind!r}; expected one of {CONFOUNDER_KINDS}"
            )
        _check_timing(self.at, self.duration)


def _check_timing(at: timedelta | None, duration: timedelta | None) -> None:
    if at is not None and at < timedelta(0):
        raise ValueError(f"offset must be non-negative, got {at}")
    if duration is not None and duration <= timedelta(0):
        raise ValueError(f"duration must be positive, got {duration}")


@dataclass(frozen=True, slots=True)
class Variation:
    """The generator's own behavioural parameters.

    The defaults describe a typical organisation. Every detector evaluation should run over
    several variations (see :meth:`randomised`), otherwise a detector ends up fitted to this
    particular simulator rather than to usage traffic.

    Parameters
    ----------
    night_level
        Activity at night relative to the working-day peak.
    weekend_level
        Activity on Saturday and Sunday relative to a weekday.
    monday_boost
        Extra activity on Monday mornings (the ramp after the weekend), as a fraction.
    friday_level
        Activity on Friday relative to the other weekdays.
    lunch_dip
        Depth of the midday dip, as a fraction of the peak.
    start_hour_spread_hours
        Standard deviation of users' personal start-of-day shift.
    user_activity_sigma
        Sigma of the log-normal spread of users' activity levels.
    hourly_noise
        Coefficient of variation of a user's activity from hour to hour (bursty sessions).
    daily_noise
        Sigma of the log-normal day-to-day variation of a user's activity.
    team_daily_noise
        Sigma of the log-normal day-to-day variation shared by a whole team.
    request_size_scale
        Multiplier on the median input and output tokens per request.
    request_size_sigma_scale
        Multiplier on the log-normal sigmas of request sizes (heavier or lighter tails).
    cache_hit_scale
        Multiplier on the share of input tokens served from the prompt cache (capped at 0.95).
    batch_job_scale
        Multiplier on nightly batch job request rates.
    batch_team_share
        Share of teams that run a nightly batch job.
    growth_per_week
        Organic growth of activity per week, as a fraction.
    night_owl_share
        Share of users who mostly work in the evening and at night.
    gateway_cost_share
        Share of teams whose gateway reports ``cost_usd``.
    gateway_cache_share
        Share of teams whose gateway reports ``cached_input_tokens`` (the others do not use
        prompt caching at all).
    """

    night_level: float = 0.03
    weekend_level: float = 0.10
    monday_boost: float = 0.15
    friday_level: float = 0.85
    lunch_dip: float = 0.25
    start_hour_spread_hours: float = 0.75
    user_activity_sigma: float = 0.8
    hourly_noise: float = 0.35
    daily_noise: float = 0.25
    team_daily_noise: float = 0.10
    request_size_scale: float = 1.0
    request_size_sigma_scale: float = 1.0
    cache_hit_scale: float = 1.0
    batch_job_scale: float = 1.0
    batch_team_share: float = 0.2
    growth_per_week: float = 0.02
    night_owl_share: float = 0.05
    gateway_cost_share: float = 0.5
    gateway_cache_share: float = 0.8

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value < 0:
                raise ValueError(f"variation {item.name} must be non-negative, got {value}")
        for name in (
            "night_level",
            "weekend_level",
            "lunch_dip",
            "batch_team_share",
            "night_owl_share",
            "gateway_cost_share",
            "gateway_cache_share",
        ):
            if getattr(self, name) > 1:
                raise ValueError(f"variation {name} must be at most 1, got {getattr(self, name)}")
        if self.request_size_scale == 0 or self.friday_level == 0:
            raise ValueError("request_size_scale and friday_level must be positive")

    @classmethod
    def randomised(cls, seed: int, spread: float = 1.0) -> Variation:
        """A random but plausible variation, for benchmarking across generator behaviours.

        Parameters
        ----------
        seed
            Seed of the draw.
        spread
            How far from the defaults to go: 0 gives the defaults, 1 the full plausible range.
        """
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7A21]))
        defaults = cls()

        def around(value: float, log_range: float) -> float:
            # Multiplicative jitter: parameters are scales, so symmetric in log space.
            return float(value * np.exp(rng.uniform(-log_range, log_range) * spread))

        return cls(
            night_level=min(around(defaults.night_level, 1.0), 0.2),
            weekend_level=min(around(defaults.weekend_level, 0.9), 0.5),
            monday_boost=around(defaults.monday_boost, 1.0),
            friday_level=min(around(defaults.friday_level, 0.15), 1.0),
            lunch_dip=min(around(defaults.lunch_dip, 0.8), 0.6),
            start_hour_spread_hours=around(defaults.start_hour_spread_hours, 0.7),
            user_activity_sigma=around(defaults.user_activity_sigma, 0.4),
            hourly_noise=around(defaults.hourly_noise, 0.7),
            daily_noise=around(defaults.daily_noise, 0.6),
            team_daily_noise=around(defaults.team_daily_noise, 0.7),
            request_size_scale=around(1.0, 0.7),
            request_size_sigma_scale=around(1.0, 0.3),
            cache_hit_scale=around(1.0, 0.3),
            batch_job_scale=around(1.0, 1.0),
            batch_team_share=min(around(defaults.batch_team_share, 0.7), 0.6),
            growth_per_week=around(defaults.growth_per_week, 1.0),
            night_owl_share=min(around(defaults.night_owl_share, 0.8), 0.3),
            gateway_cost_share=float(rng.uniform(0.5 - 0.4 * spread, 0.5 + 0.4 * spread)),
            gateway_cache_share=min(around(defaults.gateway_cache_share, 0.3), 1.0),
        )

    def to_dict(self) -> dict[str, float]:
        """The parameters as a plain mapping (for the labels file)."""
        return {item.name: float(getattr(self, item.name)) for item in fields(self)}


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """Everything that defines a simulated run.

    Parameters
    ----------
    seed
        Seed of all random draws; the same config gives the same events.
    teams
        Number of teams at the start (``new_team`` confounders add more).
    users_per_team_scale
        Multiplier on team sizes.
    start
        Event time of the start (UTC).
    duration
        Length of the simulated span.
    rate_scale
        Multiplier on every request rate (events per minute).
    incidents
        The incidents to inject.
    confounders
        The confounders to inject.
    nightly_batches
        Whether some teams run nightly batch jobs (labelled as ``confounder:nightly_batch``).
    variation
        The generator's behavioural parameters.
    event_id_prefix
        Prefix of the generated ``event_id`` values; ``None`` derives one from the seed and
        start, so that two runs of different times do not collide in a deduplicating consumer.
    """

    seed: int = 0
    teams: int = 12
    users_per_team_scale: float = 1.0
    start: datetime = DEFAULT_START
    duration: timedelta = timedelta(days=1)
    rate_scale: float = 1.0
    incidents: tuple[IncidentSpec, ...] = ()
    confounders: tuple[ConfounderSpec, ...] = ()
    nightly_batches: bool = True
    variation: Variation = field(default_factory=Variation)
    event_id_prefix: str | None = None

    def __post_init__(self) -> None:
        if self.teams < 1:
            raise ValueError(f"teams must be at least 1, got {self.teams}")
        if self.users_per_team_scale <= 0:
            raise ValueError(
                f"users_per_team_scale must be positive, got {self.users_per_team_scale}"
            )
        if self.rate_scale <= 0:
            raise ValueError(f"rate_scale must be positive, got {self.rate_scale}")
        if self.duration < timedelta(minutes=1):
            raise ValueError(f"duration must be at least a minute, got {self.duration}")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        if self.start.second or self.start.microsecond:
            # Traffic is generated minute by minute; a ragged start would shift every window.
            raise ValueError(f"start must be on a whole minute, got {self.start.isoformat()}")

    @property
    def start_epoch(self) -> float:
        """The start as seconds since the epoch."""
        return self.start.timestamp()

    @property
    def end_epoch(self) -> float:
        """The end (exclusive) as seconds since the epoch."""
        return self.start.timestamp() + self.duration.total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description of the config (for the labels file)."""
        return {
            "seed": self.seed,
            "teams": self.teams,
            "users_per_team_scale": self.users_per_team_scale,
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "duration_seconds": self.duration.total_seconds(),
            "rate_scale": self.rate_scale,
            "incidents": [_spec_to_dict(spec) for spec in self.incidents],
            "confounders": [_spec_to_dict(spec) for spec in self.confounders],
            "nightly_batches": self.nightly_batches,
            "variation": self.variation.to_dict(),
        }


def _spec_to_dict(spec: IncidentSpec | ConfounderSpec) -> dict[str, Any]:
    described: dict[str, Any] = {"kind": spec.kind}
    if spec.at is not None:
        described["at_seconds"] = spec.at.total_seconds()
    if spec.duration is not None:
        described["duration_seconds"] = spec.duration.total_seconds()
    if spec.team is not None:
        described["team"] = spec.team
    if spec.user is not None:
        described["user"] = spec.user
    if isinstance(spec, IncidentSpec) and spec.magnitude is not None:
        described["magnitude"] = spec.magnitude
    return described


def parse_incident_spec(text: str) -> IncidentSpec:
    """Parse ``KIND[@OFFSET][:DURATION][,team=..][,user=..][,x=MAGNITUDE]``.

    Examples
    --------
    >>> parse_incident_spec("team_surge@2h:90m,team=search,x=5")  # doctest: +NORMALIZE_WHITESPACE
    IncidentSpec(kind='team_surge', at=datetime.timedelta(seconds=7200),
                 duration=datetime.timedelta(seconds=5400), team='search', user=None,
                 magnitude=5.0)
    """
    kind, at, duration, options = _parse_spec_text(text, {"team", "user", "x"})
    magnitude = float(options["x"]) if "x" in options else None
    return IncidentSpec(
        kind=kind,
        at=at,
        duration=duration,
        team=options.get("team"),
        user=options.get("user"),
        magnitude=magnitude,
    )


def parse_confounder_spec(text: str) -> ConfounderSpec:
    """Parse ``KIND[@OFFSET][:DURATION][,team=..][,user=..]``.

    Examples
    --------
    >>> parse_confounder_spec("holiday@1d").at
    datetime.timedelta(days=1)
    """
    kind, at, duration, options = _parse_spec_text(text, {"team", "user"})
    return ConfounderSpec(
        kind=kind, at=at, duration=duration, team=options.get("team"), user=options.get("user")
    )


def _parse_spec_text(
    text: str, allowed_options: set[str]
) -> tuple[str, timedelta | None, timedelta | None, dict[str, str]]:
    head, *option_parts = [part.strip() for part in text.split(",")]
    options: dict[str, str] = {}
    for part in option_parts:
        key, separator, value = part.partition("=")
        if not separator or key.strip() not in allowed_options:
            raise ValueError(
                f"bad option {part!r} in {text!r}; allowed: {', '.join(sorted(allowed_options))}"
            )
        options[key.strip()] = value.strip()
    head, _, duration_text = head.partition(":")
    kind, _, at_text = head.partition("@")
    at = parse_duration(at_text) if at_text else None
    duration = parse_duration(duration_text) if duration_text else None
    return kind.strip(), at, duration, options
