"""Settings reach the parts that use them: the lifecycle policy and window phase reach the core."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.lifecycle import LifecyclePolicy
from detectors.base import Finding
from detectors.placeholder import EWZScoreFactory
from tokenradar.core.engine import PartitionProcessor, window_offset
from tokenradar.core.router import core_config
from tokenradar.settings import Settings


def test_lifecycle_settings_reach_the_core(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TOKENRADAR_FOR_WINDOWS", "3")
    monkeypatch.setenv("TOKENRADAR_RESOLVE_AFTER_WINDOWS", "7")
    monkeypatch.setenv("TOKENRADAR_REPEAT_INTERVAL_SECONDS", "600")
    monkeypatch.setenv("TOKENRADAR_IMMEDIATE_KINDS", "budget_exhausted,data_gap")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    policy = core_config(settings).lifecycle
    assert policy == LifecyclePolicy(
        for_windows=3,
        resolve_after_windows=7,
        repeat_interval_seconds=600.0,
        immediate_kinds=frozenset({"budget_exhausted", "data_gap"}),
    )
    config = settings.alerting_config()
    assert (config.for_windows, config.resolve_after_windows) == (3, 7)


def test_a_teams_lifecycle_uses_the_configured_for_period() -> None:
    settings = Settings(for_windows=3, _env_file=None)  # type: ignore[call-arg]
    config = core_config(settings)
    processor = PartitionProcessor(0, config, EWZScoreFactory())
    state = processor._new_team("search")
    finding = Finding(
        kind="team_surge", severity="error", metric="total_tokens",
        observed=900.0, expected=100.0, score=0.99, summary="surge",
    )  # fmt: skip
    decisions = [
        state.lifecycle.decide(60.0 * i, 60.0 * (i + 1), 60.0 * (i + 1) + 30, [finding])
        for i in range(3)
    ]
    assert [[a.status for a in d] for d in decisions] == [[], [], ["firing"]]


def test_the_window_phase_setting_reaches_the_teams(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TOKENRADAR_WINDOW_PHASE", "spread")
    config = core_config(Settings(_env_file=None))  # type: ignore[call-arg]
    assert config.window_phase == "spread"
    state = PartitionProcessor(0, config, EWZScoreFactory())._new_team("search")
    assert state.window_offset == window_offset("search", 60, "spread")
    monkeypatch.setenv("TOKENRADAR_WINDOW_PHASE", "staggered")
    with pytest.raises(ValidationError, match="window_phase"):
        Settings(_env_file=None)  # type: ignore[call-arg]
