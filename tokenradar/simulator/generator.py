"""The traffic generator: minutes of the whole organisation at a time, vectorised with numpy.

For each block of minutes the generator computes every user's expected requests per minute
(peak activity x weekly profile in local time x growth x day-to-day and hour-to-hour noise x
incident effects), draws Poisson counts, and then draws the requests' timestamps, tools, models
and token counts as arrays. Events come out sorted by event time; only one block is in memory.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tokenradar.simulator.catalogue import (
    AGENT_TOOL,
    EMBEDDING_MODEL,
    MODEL_INDEX,
    MODELS,
    TOOLS,
    RequestShapes,
)
from tokenradar.simulator.config import SimulationConfig
from tokenradar.simulator.incidents import Incident, Plan, make_plan
from tokenradar.simulator.organisation import (
    Organisation,
    OrganisationBuilder,
    build_organisation,
    extend_organisation,
)
from tokenradar.simulator.rhythm import MINUTES_PER_DAY, local_weekday_and_minute
from tokenradar.simulator.tables import OrganisationTables, sample_categorical

logger = logging.getLogger(__name__)

BLOCK_MINUTES: Final[int] = 15
"""Minutes generated at once; a divisor of a day so that blocks never straddle a day."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# "SS.mmmZ" for every millisecond of a minute, so that formatting a timestamp is two lookups.
_SECOND_SUFFIXES: Final[tuple[str, ...]] = tuple(
    f"{millisecond // 1000:02d}.{millisecond % 1000:03d}Z" for millisecond in range(60_000)
)


@dataclass(frozen=True, eq=False)
class EventBlock:
    """A block of events as columns, sorted by event time.

    ``ts_ms`` is epoch milliseconds; ``user``, ``team``, ``tool`` and ``model`` are indices into
    the simulation's ``user_names``, ``team_names``, :data:`TOOLS` and :data:`MODELS`. ``cost_usd``
    is always computed; whether an event *reports* it depends on its team's gateway.
    """

    first_minute: int
    """Minute of the block's start, relative to the simulation start."""
    ts_ms: IntArray
    user: IntArray
    team: IntArray
    tool: IntArray
    model: IntArray
    input_tokens: IntArray
    cached_input_tokens: IntArray
    output_tokens: IntArray
    cost_usd: FloatArray

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])


class Simulation:
    """A planned run: the organisation, the ground-truth labels and a way to stream the events.

    Create it with :func:`generate`. :meth:`events` can be called any number of times and
    yields the same events each time.
    """

    def __init__(self, config: SimulationConfig, plan: Plan, traffic_seed: np.random.SeedSequence):
        self.config = config
        self._plan = plan
        self._traffic_seed = traffic_seed
        self._shapes = RequestShapes(
            config.variation.request_size_scale,
            config.variation.request_size_sigma_scale,
            config.variation.cache_hit_scale,
        )
        self.event_id_prefix = config.event_id_prefix or _default_event_id_prefix(config)

    @property
    def organisation(self) -> Organisation:
        """The organisation, including teams and people that appear mid-stream."""
        return self._plan.organisation

    @property
    def incidents(self) -> tuple[Incident, ...]:
        """All labels, incidents and confounders, sorted by start."""
        return self._plan.labels

    @property
    def true_incidents(self) -> tuple[Incident, ...]:
        """The labels of injected incidents (what should fire)."""
        return tuple(label for label in self._plan.labels if not label.is_confounder)

    @property
    def confounders(self) -> tuple[Incident, ...]:
        """The labels of confounders (what should not fire)."""
        return tuple(label for label in self._plan.labels if label.is_confounder)

    @property
    def user_names(self) -> tuple[str, ...]:
        """User names in the order of :attr:`EventBlock.user`."""
        return self._plan.tables.user_names

    @property
    def team_names(self) -> tuple[str, ...]:
        """Team names in the order of :attr:`EventBlock.team`."""
        return self._plan.tables.team_names

    @property
    def start_epoch(self) -> float:
        """The start as epoch seconds."""
        return self.config.start_epoch

    @property
    def end_epoch(self) -> float:
        """The end (exclusive) as epoch seconds."""
        return self.config.end_epoch

    def labels_document(self) -> dict[str, Any]:
        """Everything an evaluator needs besides the events: config, organisation, labels."""
        return {
            "config": self.config.to_dict(),
            "event_id_prefix": self.event_id_prefix,
            "organisation": self.organisation.to_dict(),
            "incidents": [label.to_dict() for label in self.incidents],
        }

    # --- generation -----------------------------------------------------------------------

    def event_blocks(self) -> Iterator[EventBlock]:
        """The events as column blocks of :data:`BLOCK_MINUTES` minutes, in time order.

        This is the fast path for consumers that aggregate with numpy; :meth:`events` builds
        dictionaries from these blocks.
        """
        rng = np.random.default_rng(self._traffic_seed)
        tables = self._plan.tables
        total_minutes = int(self.config.duration.total_seconds() // 60)
        start_epoch_minute = int(self.config.start_epoch // 60)
        variation = self.config.variation
        user_count = tables.user_count
        is_person = ~tables.user_is_service
        hourly_shape = 1.0 / max(variation.hourly_noise, 1e-6) ** 2
        mood = _DailyMood(tables, variation.daily_noise, variation.team_daily_noise)
        growth_per_minute = np.log1p(variation.growth_per_week) / (7 * MINUTES_PER_DAY)
        for block_first in range(0, total_minutes, BLOCK_MINUTES):
            block_end = min(block_first + BLOCK_MINUTES, total_minutes)
            minutes = np.arange(block_first, block_end, dtype=np.int64)
            day_factor = mood.factors(rng, start_epoch_minute + minutes)
            session_noise = np.where(
                is_person, rng.gamma(hourly_shape, 1.0 / hourly_shape, user_count), 1.0
            )
            rates = self._base_rates(minutes, start_epoch_minute)
            rates *= day_factor * session_noise[None, :]
            rates *= np.exp(growth_per_minute * minutes)[:, None]
            self._apply_rate_effects(rates, block_first, block_end)
            counts = rng.poisson(rates)
            block = self._draw_events(rng, counts, block_first, block_end, start_epoch_minute)
            if len(block):
                yield block

    def _base_rates(self, minutes: IntArray, start_epoch_minute: int) -> FloatArray:
        tables = self._plan.tables
        local = (start_epoch_minute + minutes)[:, None] + tables.user_utc_offset[None, :]
        weekday, minute_of_day = local_weekday_and_minute(local)
        activity = tables.profiles[tables.user_profile[None, :], weekday, minute_of_day]
        rates = activity * tables.user_peak_rate[None, :]
        rates[minutes[:, None] < tables.user_join_minute[None, :]] = 0.0
        return rates

    def _apply_rate_effects(self, rates: FloatArray, block_first: int, block_end: int) -> None:
        for effect in self._plan.rate_effects:
            first = max(effect.first_minute, block_first)
            end = min(effect.end_minute, block_end)
            if first >= end or effect.users.size == 0:
                continue
            rows = np.arange(first - block_first, end - block_first)
            factor = effect.shape(np.arange(first, end, dtype=np.int64))
            cells = np.ix_(rows, effect.users)
            if effect.mode == "multiply":
                rates[cells] *= factor[:, None]
            else:
                # An added loop only runs once the user exists.
                joined = (
                    np.arange(first, end)[:, None]
                    >= self._plan.tables.user_join_minute[effect.users][None, :]
                )
                rates[cells] += factor[:, None] * effect.per_user[None, :] * joined

    def _draw_events(
        self,
        rng: np.random.Generator,
        counts: IntArray,
        block_first: int,
        block_end: int,
        start_epoch_minute: int,
    ) -> EventBlock:
        tables = self._plan.tables
        row_minutes, users = np.nonzero(counts)
        repeats = counts[row_minutes, users]
        event_minute = np.repeat(row_minutes + block_first, repeats).astype(np.int64)
        user = np.repeat(users, repeats).astype(np.int64)
        count = user.shape[0]
        team = tables.user_team[user]
        tool = sample_categorical(rng, tables.user_tool_cumulative[user]).astype(np.int64)
        model = sample_categorical(rng, tables.team_model_cumulative[team, tool]).astype(np.int64)
        fixed = tables.user_fixed_model[user]
        model = np.where(fixed >= 0, fixed, model)
        self._apply_model_overrides(rng, model, user, event_minute, block_first, block_end)
        input_tokens, cached, output = self._shapes.sample(
            rng,
            tool,
            tables.team_reports_cached[team],
            model != MODEL_INDEX[EMBEDDING_MODEL],
        )
        millisecond = rng.integers(0, 60_000, count)
        columns = [event_minute, user, team, tool, model, input_tokens, cached, output, millisecond]
        for burst_columns in self._draw_bursts(rng, block_first, block_end):
            columns = [
                np.concatenate([existing, extra])
                for existing, extra in zip(columns, burst_columns, strict=True)
            ]
        event_minute, user, team, tool, model, input_tokens, cached, output, millisecond = columns
        ts_ms = (start_epoch_minute + event_minute) * 60_000 + millisecond
        order = np.argsort(ts_ms, kind="stable")
        model = model[order]
        input_tokens, cached, output = input_tokens[order], cached[order], output[order]
        return EventBlock(
            first_minute=block_first,
            ts_ms=ts_ms[order],
            user=user[order],
            team=team[order],
            tool=tool[order],
            model=model,
            input_tokens=input_tokens,
            cached_input_tokens=cached,
            output_tokens=output,
            cost_usd=tables.cost(model, input_tokens, cached, output),
        )

    def _apply_model_overrides(
        self,
        rng: np.random.Generator,
        model: IntArray,
        user: IntArray,
        event_minute: IntArray,
        block_first: int,
        block_end: int,
    ) -> None:
        for override in self._plan.model_overrides:
            if override.end_minute <= block_first or override.first_minute >= block_end:
                continue
            affected = (
                np.isin(user, override.users)
                & (event_minute >= override.first_minute)
                & (event_minute < override.end_minute)
            )
            # Batch service accounts keep their model; the switch is a human decision.
            affected &= ~self._plan.tables.user_is_service[user]
            chosen = affected & (rng.random(model.shape[0]) < override.probability)
            model[chosen] = override.model

    def _draw_bursts(
        self, rng: np.random.Generator, block_first: int, block_end: int
    ) -> Iterator[list[IntArray]]:
        tables = self._plan.tables
        for burst in self._plan.bursts:
            first = max(burst.first_minute, block_first)
            end = min(burst.end_minute, block_end)
            if first >= end:
                continue
            per_minute = rng.poisson(burst.requests_per_minute, end - first)
            event_minute = np.repeat(np.arange(first, end, dtype=np.int64), per_minute)
            count = event_minute.shape[0]
            team_index = int(tables.user_team[burst.user])
            input_tokens = rng.integers(burst.input_low, burst.input_high + 1, count)
            # Each turn re-sends the growing transcript; part of it is a cache hit.
            cached_share = (
                rng.uniform(0.0, 0.6, count) if tables.team_reports_cached[team_index] else 0
            )
            cached = np.floor(input_tokens * cached_share).astype(np.int64)
            output = np.rint(np.exp(rng.normal(np.log(800.0), 0.7, count))).astype(np.int64)
            yield [
                event_minute,
                np.full(count, burst.user, dtype=np.int64),
                np.full(count, team_index, dtype=np.int64),
                np.full(count, AGENT_TOOL, dtype=np.int64),
                np.full(count, burst.model, dtype=np.int64),
                input_tokens.astype(np.int64),
                cached,
                np.maximum(output, 1),
                rng.integers(0, 60_000, count),
            ]

    def events(self) -> Iterator[dict[str, Any]]:
        """The usage events as JSON-ready dictionaries, in event-time order.

        Every event has ``event_id``, ``ts`` (RFC 3339 UTC with milliseconds), ``team``,
        ``user``, ``model``, ``tool``, ``input_tokens`` and ``output_tokens``; events of teams
        whose gateway reports them also carry ``cached_input_tokens`` and ``cost_usd``.
        """
        tables = self._plan.tables
        team_names = tables.team_names
        user_names = tables.user_names
        reports_cost = tables.team_reports_cost.tolist()
        reports_cached = tables.team_reports_cached.tolist()
        prefix = self.event_id_prefix
        start_epoch_minute = int(self.config.start_epoch // 60)
        sequence = 0
        for block in self.event_blocks():
            minute_prefixes = [
                datetime.fromtimestamp((start_epoch_minute + minute) * 60, tz=UTC).strftime(
                    "%Y-%m-%dT%H:%M:"
                )
                for minute in range(block.first_minute, block.first_minute + BLOCK_MINUTES)
            ]
            block_start_ms = (start_epoch_minute + block.first_minute) * 60_000
            offsets = (block.ts_ms - block_start_ms).tolist()
            rows = zip(
                offsets,
                block.user.tolist(),
                block.team.tolist(),
                block.tool.tolist(),
                block.model.tolist(),
                block.input_tokens.tolist(),
                block.cached_input_tokens.tolist(),
                block.output_tokens.tolist(),
                np.round(block.cost_usd, 8).tolist(),
                strict=True,
            )
            for offset, user, team, tool, model, input_tokens, cached, output, cost in rows:
                minute, millisecond = divmod(offset, 60_000)
                event: dict[str, Any] = {
                    "event_id": f"{prefix}-{sequence:010d}",
                    "ts": minute_prefixes[minute] + _SECOND_SUFFIXES[millisecond],
                    "team": team_names[team],
                    "user": user_names[user],
                    "model": MODELS[model],
                    "tool": TOOLS[tool],
                    "input_tokens": input_tokens,
                    "output_tokens": output,
                }
                if reports_cached[team]:
                    event["cached_input_tokens"] = cached
                if reports_cost[team]:
                    event["cost_usd"] = cost
                sequence += 1
                yield event


def _default_event_id_prefix(config: SimulationConfig) -> str:
    """A short prefix derived from the seed and the start, so runs at other times do not collide."""
    digest = hashlib.blake2s(
        f"{config.seed}:{config.start.isoformat()}".encode(), digest_size=4
    ).hexdigest()
    return f"sim{digest}"


def generate(config: SimulationConfig) -> Simulation:
    """Plan a simulated run: build the organisation, resolve incidents, label everything.

    Nothing is generated until :meth:`Simulation.events` (or :meth:`Simulation.event_blocks`)
    is iterated, so planning is cheap even for weeks of traffic.

    Parameters
    ----------
    config
        What to simulate.

    Returns
    -------
    Simulation
        The planned run.

    Examples
    --------
    >>> from datetime import timedelta
    >>> simulation = generate(SimulationConfig(seed=1, teams=3, duration=timedelta(hours=1)))
    >>> event = next(simulation.events())
    >>> {"event_id", "ts", "team", "user", "model", "tool"} <= set(event)
    True
    """
    organisation_seed, plan_seed, traffic_seed = np.random.SeedSequence(config.seed).spawn(3)
    organisation_rng = np.random.default_rng(organisation_seed)
    builder = OrganisationBuilder(organisation_rng, config.variation, config.users_per_team_scale)
    organisation = extend_organisation(builder, config, config.teams)
    plan = make_plan(config, builder, organisation, np.random.default_rng(plan_seed))
    logger.info(
        "planned simulation: %d teams, %d users, %d incidents, %d confounder labels",
        len(plan.organisation.teams),
        len(plan.organisation.users),
        sum(not label.is_confounder for label in plan.labels),
        sum(label.is_confounder for label in plan.labels),
    )
    return Simulation(config, plan, traffic_seed)


__all__ = ["BLOCK_MINUTES", "EventBlock", "Simulation", "build_organisation", "generate"]


class _DailyMood:
    """Day-to-day variation of activity, drawn per *local* day.

    A person's busy or quiet day starts at their own midnight, not at UTC midnight: a team eight
    hours west of UTC does not change its mood in the middle of its afternoon. A team's shared
    variation is drawn once per team and local day; service accounts run the same job every
    night and do not vary.
    """

    def __init__(self, tables: OrganisationTables, daily_noise: float, team_noise: float) -> None:
        self.offsets = tables.user_utc_offset
        self.teams = tables.user_team
        self.is_person = ~tables.user_is_service
        self.daily_noise = daily_noise
        self.team_noise = team_noise
        self.day = np.full(tables.user_count, np.iinfo(np.int64).min, dtype=np.int64)
        self.factor = np.ones(tables.user_count)
        self.team_days: dict[tuple[int, int], float] = {}

    def factors(self, rng: np.random.Generator, epoch_minutes: IntArray) -> FloatArray:
        """Factors of shape (minutes, users) for consecutive epoch minutes (less than a day)."""
        local_day = (epoch_minutes[:, None] + self.offsets[None, :]) // MINUTES_PER_DAY
        last_day = local_day[-1]
        changed = np.flatnonzero(last_day != self.day)
        if len(changed) == 0:
            return np.broadcast_to(self.factor, local_day.shape)
        previous = self.factor
        for key in sorted({(int(self.teams[u]), int(last_day[u])) for u in changed}):
            if key not in self.team_days:
                self.team_days[key] = float(np.exp(rng.normal(0.0, self.team_noise)))
        user_noise = np.exp(rng.normal(0.0, self.daily_noise, len(changed)))
        shared = np.array([self.team_days[(int(self.teams[u]), int(last_day[u]))] for u in changed])
        # A new array: factors handed out for earlier blocks stay as they were.
        self.factor = previous.copy()
        self.factor[changed] = np.where(self.is_person[changed], user_noise * shared, 1.0)
        self.day[changed] = last_day[changed]
        oldest = int(last_day.min()) - 1
        self.team_days = {key: v for key, v in self.team_days.items() if key[1] >= oldest}
        return np.where(local_day == last_day[None, :], self.factor[None, :], previous[None, :])
