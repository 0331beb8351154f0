"""Minute-by-minute generation of usage events, with incidents and confounders injected.

Each simulated minute draws, per team and user, a Poisson number of requests whose rate follows
the person's habits (working hours in the team's time zone, quiet weekends, Monday ramps, daily
wobble, slow growth), then adds nightly batch jobs and whatever the configuration injects. Events
come out in event-time order. Random draws for a minute come from a generator seeded by
``(seed, minute)``, so a stream is the same whether it is generated whole or from the middle.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from tokenradar.pricing import DEFAULT_PRICES, cost_usd
from tokenradar.simulator.organisation import (
    EXPENSIVE_MODELS,
    INCIDENT_KINDS,
    MODELS,
    TOOL_CACHED_SHARE,
    TOOL_INPUT_MEDIAN,
    TOOL_OUTPUT_MEDIAN,
    TOOLS,
    Incident,
    IncidentSpec,
    Organisation,
    SimulationConfig,
    Team,
    build_organisation,
)

MINUTE = 60.0
DAY = 86_400.0
DEFAULT_MAGNITUDE = {
    "user_runaway": 25.0,
    "runaway_agent": 30.0,  # requests per minute with 100k-200k token contexts
    "team_surge": 5.0,
    "model_switch": 10.0,
    "slow_ramp": 4.0,
    "off_hours_loop": 30.0,
}
CHEAP_MODELS = ("claude-haiku-4", "gpt-5-mini")
_TOOL_INDEX = {tool: i for i, tool in enumerate(TOOLS)}
_INPUT_MEDIAN = np.array([TOOL_INPUT_MEDIAN[t] for t in TOOLS], dtype=float)
_OUTPUT_MEDIAN = np.array([TOOL_OUTPUT_MEDIAN[t] for t in TOOLS], dtype=float)
_CACHED_SHARE = np.array([TOOL_CACHED_SHARE[t] for t in TOOLS], dtype=float)


@dataclass(slots=True)
class _Active:
    """An incident resolved to a team (and user) and absolute times."""

    incident: Incident
    team_index: int
    user_index: int | None
    ramp_seconds: float = 0.0


@dataclass(slots=True)
class Simulation:
    """A generated stream: its organisation, its ground truth and its events."""

    config: SimulationConfig
    organisation: Organisation
    incidents: list[Incident]
    _active: list[_Active] = field(default_factory=list)
    _holidays: set[tuple[int, str]] = field(default_factory=set)
    _first_busy: dict[tuple[int, int], float] = field(default_factory=dict)

    @property
    def start(self) -> float:
        return self.config.start.timestamp()

    @property
    def end(self) -> float:
        return self.start + self.config.duration_seconds

    def events(self, since: float | None = None) -> Iterator[dict[str, Any]]:
        """Events in event-time order, optionally from ``since`` (epoch seconds) on."""
        first_minute = int(self.start // MINUTE)
        if since is not None:
            first_minute = max(first_minute, int(since // MINUTE))
        last_minute = math.ceil(self.end / MINUTE)
        for minute in range(first_minute, last_minute):
            yield from self.minute_events(minute)

    def minute_events(self, minute: int) -> list[dict[str, Any]]:
        """All events of one minute (``minute`` counts minutes since the epoch)."""
        t0 = minute * MINUTE
        columns: list[tuple[np.ndarray, ...]] = []
        for team in self.organisation.teams:
            if t0 < team.starts_at:
                continue
            # One generator per team and minute: an incident in one team leaves the others'
            # draws untouched.
            rng = np.random.default_rng([self.config.seed, minute, team.index])
            batch = self._team_minute(team, t0, rng)
            if batch is not None:
                columns.append(batch)
        if not columns:
            return []
        ts, team_ix, user_ix, model_ix, tool_ix, inp, out, cached = (
            np.concatenate(parts) for parts in zip(*columns, strict=True)
        )
        order = np.argsort(ts, kind="stable")
        base = datetime.fromtimestamp(t0, tz=UTC)
        prefix = base.strftime("%Y-%m-%dT%H:%M:")
        teams = self.organisation.teams
        # Whole milliseconds within the minute, never rounded up to second 60.
        millis = np.minimum(np.floor((ts - t0) * 1000.0), 59_999).astype(np.int64).tolist()
        events = []
        # Ids count within a team, so one team's incident leaves other teams' ids unchanged.
        per_team = [0] * len(teams)
        for i in order.tolist():
            team = teams[int(team_ix[i])]
            n = per_team[team.index]
            per_team[team.index] = n + 1
            user_index = int(user_ix[i])
            user = team.batch_user if user_index < 0 else team.users[user_index]
            model = MODELS[int(model_ix[i])]
            input_tokens, output_tokens, cached_tokens = int(inp[i]), int(out[i]), int(cached[i])
            event: dict[str, Any] = {
                "ts": f"{prefix}{millis[i] / 1000:06.3f}Z",
                "team": team.name,
                "user": user,
                "model": model,
                "tool": TOOLS[int(tool_ix[i])],
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cached_input_tokens": cached_tokens,
                "event_id": f"s{self.config.seed}-{minute}-{team.index}-{n}",
            }
            if team.sends_cost:
                event["cost_usd"] = round(
                    cost_usd(model, input_tokens, cached_tokens, output_tokens, DEFAULT_PRICES), 8
                )
            events.append(event)
        return events

    # -- one team, one minute -------------------------------------------------------------------

    def _team_minute(
        self, team: Team, t0: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, ...] | None:
        variation = self.config.variation
        local = t0 + team.utc_offset_hours * 3600.0
        local_dt = datetime.fromtimestamp(local, tz=UTC)
        hour = local_dt.hour + local_dt.minute / 60.0
        weekday = local_dt.weekday()
        day_key = local_dt.strftime("%Y-%m-%d")
        day_index = int(local // DAY)

        level = _working_level(hour, variation.daily_amplitude)
        owl_level = max(level, _working_level(hour - 4.0, variation.daily_amplitude))
        rates = team.peak_rate * np.where(team.night_owl, owl_level, level)
        if (
            weekday >= 5
            or (team.index, day_key) in self._holidays
            or (-1, day_key) in self._holidays
        ):
            rates = rates * variation.weekend_level
        elif weekday == 0 and 8.0 <= hour < 12.0:
            rates = rates * variation.monday_boost
        rates = rates * self._daily_wobble(team, day_index)
        weeks = (t0 - self.start) / (7 * DAY)
        rates = rates * (1.0 + variation.growth_per_week) ** weeks
        rates = np.where(team.joins_at <= t0, rates, 0.0)
        for (team_index, user_index), first_day in self._first_busy.items():
            if team_index == team.index and first_day <= t0 < first_day + 4 * 3600:
                rates[user_index] *= 3.0

        extra_agent_rate = 0.0
        agent_user = 0
        switch_users: np.ndarray | None = None
        switch_model = 0
        for active in self._active:
            incident = active.incident
            if active.team_index != team.index or t0 < incident.start:
                continue
            # A ramp's new level stays after the ramp; every other incident ends.
            if t0 >= incident.end and incident.kind != "slow_ramp":
                continue
            x = incident.magnitude
            u = active.user_index
            if incident.kind == "user_runaway" and u is not None:
                # A loop runs day and night at many times the person's busiest rate.
                rates[u] = max(rates[u], x * team.peak_rate[u])
            elif incident.kind == "off_hours_loop" and u is not None:
                if weekday >= 5 or hour < 7.0 or hour >= 21.0:
                    rates[u] = max(rates[u], x * team.peak_rate[u])
            elif incident.kind == "team_surge":
                rates = rates * x
            elif incident.kind == "slow_ramp":
                progress = min(1.0, (t0 - incident.start) / max(active.ramp_seconds, 1.0))
                rates = rates * (1.0 + (x - 1.0) * progress)
            elif incident.kind == "runaway_agent" and u is not None:
                extra_agent_rate += x
                agent_user = u
            elif incident.kind == "model_switch":
                switch_model = MODELS.index(EXPENSIVE_MODELS[0])
                if u is None:
                    switch_users = np.ones(len(team.users), dtype=bool)
                else:
                    switch_users = np.zeros(len(team.users), dtype=bool)
                    switch_users[u] = True

        counts = rng.poisson(rates)
        total = int(counts.sum())
        user_ix = np.repeat(np.arange(len(team.users)), counts)
        model_ix = rng.choice(len(MODELS), size=total, p=team.model_mix)
        tool_ix = rng.choice(len(TOOLS), size=total, p=team.tool_mix)
        if switch_users is not None and total:
            model_ix = np.where(switch_users[user_ix], switch_model, model_ix)
        sigma = variation.size_sigma
        inp = rng.lognormal(np.log(_INPUT_MEDIAN[tool_ix]), sigma)
        out = rng.lognormal(np.log(_OUTPUT_MEDIAN[tool_ix]), sigma * 0.8)
        cached = inp * _CACHED_SHARE[tool_ix] * rng.random(total)

        parts_user = [user_ix]
        parts_model = [model_ix]
        parts_tool = [tool_ix]
        parts_in = [inp]
        parts_out = [out]
        parts_cached = [cached]

        if team.batch_hour is not None and team.batch_hour <= hour < team.batch_hour + 1.5:
            n = int(rng.poisson(variation.batch_rate_per_minute * variation.rate_scale))
            parts_user.append(np.full(n, -1))
            parts_model.append(np.full(n, MODELS.index(CHEAP_MODELS[team.index % 2])))
            parts_tool.append(np.full(n, _TOOL_INDEX["batch"]))
            parts_in.append(rng.lognormal(np.log(3_000), 0.3, n))
            parts_out.append(rng.lognormal(np.log(500), 0.3, n))
            parts_cached.append(np.zeros(n))
        if extra_agent_rate > 0:
            n = int(rng.poisson(extra_agent_rate))
            parts_user.append(np.full(n, agent_user))
            parts_model.append(np.full(n, int(np.argmax(team.model_mix * _PRICE_WEIGHT))))
            parts_tool.append(np.full(n, _TOOL_INDEX["agent"]))
            parts_in.append(rng.uniform(100_000, 200_000, n))
            parts_out.append(rng.uniform(1_000, 4_000, n))
            parts_cached.append(np.zeros(n))

        users = np.concatenate(parts_user)
        if users.size == 0:
            return None
        inputs = np.maximum(1, np.concatenate(parts_in)).astype(np.int64)
        cached_tokens = np.minimum(np.concatenate(parts_cached).astype(np.int64), inputs)
        return (
            t0 + rng.random(users.size) * MINUTE,
            np.full(users.size, team.index),
            users,
            np.concatenate(parts_model),
            np.concatenate(parts_tool),
            inputs,
            np.maximum(1, np.concatenate(parts_out)).astype(np.int64),
            cached_tokens,
        )

    def _daily_wobble(self, team: Team, day_index: int) -> np.ndarray:
        rng = np.random.default_rng([self.config.seed, 7919, team.index, day_index])
        sigma = self.config.variation.noise_sigma
        wobble: np.ndarray = rng.lognormal(-0.5 * sigma * sigma, sigma, len(team.users))
        return wobble


# Agents lean towards a team's pricier models.
_PRICE_WEIGHT = np.array([DEFAULT_PRICES[m].input_per_mtok for m in MODELS])


def _working_level(hour: float, amplitude: float) -> float:
    """Activity at a local hour relative to the busiest hour of a working day."""
    hour %= 24.0
    if 10.0 <= hour < 12.0 or 13.5 <= hour < 17.0:
        shape = 1.0
    elif 12.0 <= hour < 13.5:
        shape = 0.7  # lunch
    elif 7.0 <= hour < 10.0:
        shape = (hour - 7.0) / 3.0
    elif 17.0 <= hour < 21.0:
        shape = 1.0 - (hour - 17.0) / 4.0
    else:
        shape = 0.0
    return max(0.02, 1.0 - amplitude * (1.0 - shape))


def generate(config: SimulationConfig) -> Simulation:
    """Build the organisation, place the incidents and confounders, and return the stream."""
    rng = np.random.default_rng([config.seed, 1])
    organisation = build_organisation(config, rng)
    simulation = Simulation(config=config, organisation=organisation, incidents=[])
    start = config.start.timestamp()
    for spec in config.incidents:
        simulation._active.append(_place(spec, organisation, start, rng))
    simulation.incidents.extend(a.incident for a in simulation._active)
    for confounder in config.confounders:
        simulation.incidents.extend(_confound(confounder, simulation, start, rng))
    simulation.incidents.sort(key=lambda i: (i.start, i.kind, i.team))
    return simulation


def _place(
    spec: IncidentSpec, organisation: Organisation, start: float, rng: np.random.Generator
) -> _Active:
    if spec.kind not in INCIDENT_KINDS:
        raise ValueError(
            f"unknown incident kind {spec.kind!r} (known: {', '.join(INCIDENT_KINDS)})"
        )
    teams = organisation.teams
    if spec.team is not None:
        team = organisation.team(spec.team)
    elif spec.kind in {"team_surge", "slow_ramp", "model_switch"}:
        team = teams[int(rng.integers(len(teams)))]
    else:
        # A user-level incident in a team big enough that one person is a small share.
        sizes = np.array([len(t.users) for t in teams], dtype=float)
        team = teams[int(rng.choice(len(teams), p=sizes / sizes.sum()))]
    user_index: int | None = None
    needs_user = spec.kind in {"user_runaway", "runaway_agent", "off_hours_loop"}
    if spec.user is not None:
        user_index = team.users.index(spec.user)
    elif needs_user:
        # Someone with ordinary daytime habits, so the incident is the only oddity.
        candidates = [i for i in range(len(team.users)) if not team.night_owl[i]] or list(
            range(len(team.users))
        )
        user_index = int(rng.choice(candidates))
    magnitude = spec.magnitude or DEFAULT_MAGNITUDE[spec.kind]
    begin = start + spec.at
    end = begin + spec.duration
    ramp = 0.0
    if spec.kind == "slow_ramp":
        # The ramp takes the incident's duration; the new level then stays.
        ramp = spec.duration
        end = begin + spec.duration
    incident = Incident(
        kind=spec.kind,
        team=team.name,
        user=team.users[user_index] if user_index is not None else None,
        start=begin,
        end=end,
        magnitude=float(magnitude),
    )
    return _Active(incident, team.index, user_index, ramp)


def _confound(
    kind: str, simulation: Simulation, start: float, rng: np.random.Generator
) -> list[Incident]:
    organisation = simulation.organisation
    config = simulation.config
    days = max(1, int(config.duration_seconds // DAY))
    team = organisation.teams[int(rng.integers(len(organisation.teams)))]
    if kind == "holiday":
        # A weekday public holiday for the whole organisation, in the second half of the stream.
        day = start + DAY * int(rng.integers(max(1, days // 2), max(2, days)))
        date = datetime.fromtimestamp(day, tz=UTC)
        while date.weekday() >= 5:
            date += timedelta(days=1)
        key = date.strftime("%Y-%m-%d")
        simulation._holidays.add((-1, key))
        midnight = datetime(date.year, date.month, date.day, tzinfo=UTC).timestamp()
        return [
            Incident(
                "confounder:holiday",
                "*",
                None,
                midnight - 12 * 3600,
                midnight + DAY + 12 * 3600,
                0.0,
            )
        ]
    if kind == "onboarding":
        # The team grows by about 30% over a week: new people join on working days.
        extra = max(1, round(len(team.users) * 0.3))
        join_from = start + DAY * max(1, days // 3)
        joins = np.sort(join_from + rng.uniform(0, 7 * DAY, extra))
        team.users.extend(f"new{i}.{team.name}" for i in range(extra))
        team.peak_rate = np.concatenate([team.peak_rate, rng.lognormal(np.log(0.6), 0.8, extra)])
        team.night_owl = np.concatenate([team.night_owl, np.zeros(extra, dtype=bool)])
        team.joins_at = np.concatenate([team.joins_at, joins])
        return [
            Incident(
                "confounder:onboarding",
                team.name,
                None,
                float(joins[0]),
                float(joins[-1]) + DAY,
                1.3,
            )
        ]
    if kind == "new_team":
        candidates = [t for t in organisation.teams if t.starts_at == float("-inf")]
        newcomer = candidates[-1]
        newcomer.starts_at = start + DAY * max(1, days // 2) + 8 * 3600
        return [
            Incident(
                "confounder:new_team",
                newcomer.name,
                None,
                newcomer.starts_at,
                newcomer.starts_at + DAY,
                0.0,
            )
        ]
    if kind == "first_busy_morning":
        # Someone new arrives and spends their first morning trying everything.
        user_index = len(team.users)
        first_day = start + DAY * max(1, days // 2)
        morning = first_day - team.utc_offset_hours * 3600 + 9 * 3600
        team.users.append(f"first.{team.name}")
        team.peak_rate = np.append(team.peak_rate, 0.8)
        team.night_owl = np.append(team.night_owl, False)
        team.joins_at = np.append(team.joins_at, morning)
        simulation._first_busy[(team.index, user_index)] = morning
        return [
            Incident(
                "confounder:first_busy_morning",
                team.name,
                team.users[-1],
                morning,
                morning + 6 * 3600,
                3.0,
            )
        ]
    raise ValueError(f"unknown confounder {kind!r}")
