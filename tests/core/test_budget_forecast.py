"""The forecast on the simulator's steady traffic: mid-month projection against the actual month.

The simulated organisation has quiet nights and weekends, per-person daily wobble and 3% organic
growth a week, in teams spread over several time zones; the budget calendar is Los Angeles'. The
whole month goes through the same core as the worker, and the projection each team's budget
state makes at local midnight starting the 16th is compared with what the month really cost.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson

from detectors.placeholder import EWZScoreFactory
from tokenradar.core.budgets import BudgetConfig
from tokenradar.core.engine import CoreConfig
from tokenradar.core.router import Core
from tokenradar.simulator import SimulationConfig, generate

log = logging.getLogger(__name__)

LA = ZoneInfo("America/Los_Angeles")
MONTH_START = datetime(2026, 12, 1, tzinfo=LA)
MID_MONTH = datetime(2026, 12, 16, tzinfo=LA)
NEXT_MONTH = datetime(2027, 1, 1, tzinfo=LA)


def test_mid_month_projection_is_within_ten_percent_of_the_month() -> None:
    simulation = generate(
        SimulationConfig(
            seed=3,
            teams=3,
            start=MONTH_START,
            duration=NEXT_MONTH - MONTH_START,
        )
    )
    config = CoreConfig(budgets=BudgetConfig.parse('[org]\ntimezone = "America/Los_Angeles"\n'))
    core = Core(config, EWZScoreFactory(), 1)
    mid = MID_MONTH.timestamp()
    projected: dict[str, float] = {}
    for offset, event in enumerate(simulation.events()):
        if not projected and datetime.fromisoformat(event["ts"]).timestamp() >= mid:
            processor = core.processor(0)
            for team, state in processor.teams.items():
                outlook = state.budget.forecast(config.budgets.policy_for(team))
                assert outlook is not None and outlook.history_days == 14
                projected[team] = outlook.projected_usd
        core.handle(0, offset, orjson.dumps(event))
    processor = core.processor(0)
    processor.flush()
    actual = {team: state.budget.spent_usd for team, state in processor.teams.items()}
    assert all(state.budget.month == 2026 * 12 + 11 for state in processor.teams.values())
    errors = {team: projected[team] / actual[team] - 1 for team in actual}
    total_error = sum(projected.values()) / sum(actual.values()) - 1
    log.info("mid-month projection errors: %s; total %+.1f%%", errors, 100 * total_error)
    assert abs(total_error) < 0.10
    assert all(abs(error) < 0.10 for error in errors.values()), errors
