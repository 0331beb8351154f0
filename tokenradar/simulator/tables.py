"""The organisation compiled into arrays indexed by user, team, tool and model.

The generator works on whole minutes of the whole organisation at once; these tables are what
it indexes into.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tokenradar.pricing import DEFAULT_PRICES
from tokenradar.simulator.catalogue import MODEL_INDEX, MODELS, TOOLS
from tokenradar.simulator.config import SimulationConfig
from tokenradar.simulator.organisation import Organisation
from tokenradar.simulator.rhythm import (
    MINUTES_PER_DAY,
    batch_profile,
    night_owl_profile,
    office_profile,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NEVER_JOINED_BEFORE = np.iinfo(np.int64).min // 2
"""Join minute of users present from the start."""

OFFICE_PROFILE = 0
NIGHT_OWL_PROFILE = 1


@dataclass(frozen=True, eq=False)
class OrganisationTables:
    """Per-user, per-team and per-model arrays of an :class:`Organisation`."""

    user_names: tuple[str, ...]
    team_names: tuple[str, ...]
    user_team: IntArray
    user_utc_offset: IntArray
    """Team's UTC offset minus the user's personal shift, in minutes."""
    user_peak_rate: FloatArray
    user_profile: IntArray
    user_is_service: BoolArray
    user_join_minute: IntArray
    """Minute (relative to the start) of the user's first possible request."""
    user_tool_cumulative: FloatArray
    user_fixed_model: IntArray
    """Model index for service accounts, -1 for people."""
    user_mean_rate: FloatArray
    """Average requests per minute over a normal week."""
    profiles: FloatArray
    """Shape (profiles, 7, 1440)."""
    team_model_cumulative: FloatArray
    """Shape (teams, tools, models)."""
    team_reports_cost: BoolArray
    team_reports_cached: BoolArray
    price_input: FloatArray
    price_cached: FloatArray
    price_output: FloatArray

    @property
    def user_count(self) -> int:
        """Number of users."""
        return len(self.user_names)

    def user_index(self, name: str) -> int:
        """Position of the user called ``name``."""
        return self.user_names.index(name)

    def team_index(self, name: str) -> int:
        """Position of the team called ``name``."""
        return self.team_names.index(name)

    def cost(
        self, model: IntArray, input_tokens: IntArray, cached: IntArray, output: IntArray
    ) -> FloatArray:
        """Cost in USD of requests, vectorised; the rule of :func:`tokenradar.pricing.cost_usd`."""
        uncached = input_tokens - cached
        return (
            uncached * self.price_input[model]
            + cached * self.price_cached[model]
            + output * self.price_output[model]
        ) / 1_000_000.0


def compile_tables(organisation: Organisation, config: SimulationConfig) -> OrganisationTables:
    """Compile ``organisation`` for the generator."""
    variation = config.variation
    team_names = tuple(team.name for team in organisation.teams)
    team_position = {name: index for index, name in enumerate(team_names)}
    profiles: list[FloatArray] = [office_profile(variation), night_owl_profile(variation)]
    batch_profile_of_team: dict[str, int] = {}
    for team in organisation.teams:
        if team.batch_job is not None:
            batch_profile_of_team[team.name] = len(profiles)
            profiles.append(
                batch_profile(team.batch_job.local_start_minute, team.batch_job.length_minutes)
            )
    start_epoch = config.start_epoch
    users = organisation.users
    user_profile = np.array(
        [
            batch_profile_of_team[user.team]
            if user.service
            else (NIGHT_OWL_PROFILE if user.night_owl else OFFICE_PROFILE)
            for user in users
        ],
        dtype=np.int64,
    )
    user_offset = np.array(
        [
            organisation.team(user.team).utc_offset_minutes - user.start_shift_minutes
            for user in users
        ],
        dtype=np.int64,
    )
    join_minute = np.array(
        [
            NEVER_JOINED_BEFORE
            if user.joins_at is None
            else int(np.ceil((user.joins_at - start_epoch) / 60.0))
            for user in users
        ],
        dtype=np.int64,
    )
    fixed_model = np.full(len(users), -1, dtype=np.int64)
    for index, user in enumerate(users):
        job = organisation.team(user.team).batch_job
        if user.service and job is not None:
            fixed_model[index] = MODEL_INDEX[job.model]
    tool_shares = np.array([user.tool_mix for user in users], dtype=float).reshape(-1, len(TOOLS))
    model_shares = np.zeros((len(team_names), len(TOOLS), len(MODELS)))
    for team_index, team in enumerate(organisation.teams):
        for tool_index, tool in enumerate(TOOLS):
            for model, share in team.model_mix[tool].items():
                model_shares[team_index, tool_index, MODEL_INDEX[model]] = share
    profile_stack = np.stack(profiles)
    peak = np.array([user.peak_requests_per_minute for user in users], dtype=float)
    mean_profile = profile_stack.reshape(len(profiles), -1).mean(axis=1)
    return OrganisationTables(
        user_names=tuple(user.name for user in users),
        team_names=team_names,
        user_team=np.array([team_position[user.team] for user in users], dtype=np.int64),
        user_utc_offset=user_offset,
        user_peak_rate=peak * config.rate_scale,
        user_profile=user_profile,
        user_is_service=np.array([user.service for user in users], dtype=bool),
        user_join_minute=join_minute,
        user_tool_cumulative=_cumulative(tool_shares),
        user_fixed_model=fixed_model,
        user_mean_rate=peak * config.rate_scale * mean_profile[user_profile],
        profiles=profile_stack,
        team_model_cumulative=_cumulative(model_shares),
        team_reports_cost=np.array([team.reports_cost for team in organisation.teams], dtype=bool),
        team_reports_cached=np.array(
            [team.reports_cached_tokens for team in organisation.teams], dtype=bool
        ),
        price_input=np.array([DEFAULT_PRICES[m].input_per_million for m in MODELS]),
        price_cached=np.array([DEFAULT_PRICES[m].cached_input_per_million for m in MODELS]),
        price_output=np.array([DEFAULT_PRICES[m].output_per_million for m in MODELS]),
    )


def _cumulative(shares: FloatArray) -> FloatArray:
    """Normalised cumulative shares along the last axis (for inverse-CDF sampling)."""
    totals = shares.sum(axis=-1, keepdims=True)
    safe = np.where(totals > 0, totals, 1.0)
    cumulative = np.cumsum(shares / safe, axis=-1)
    cumulative[..., -1] = 1.0
    return cumulative


def sample_categorical(
    rng: np.random.Generator, cumulative_rows: FloatArray
) -> npt.NDArray[np.intp]:
    """One draw per row of a cumulative distribution matrix."""
    draws = rng.random(size=(int(cumulative_rows.shape[0]),))
    chosen = (draws[:, None] >= cumulative_rows).sum(axis=1)
    # A draw can only reach the last column's total through rounding; keep it in range.
    capped: npt.NDArray[np.intp] = np.minimum(chosen, cumulative_rows.shape[1] - 1).astype(np.intp)
    return capped


__all__ = ["MINUTES_PER_DAY", "OrganisationTables", "compile_tables", "sample_categorical"]
