from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from tokenradar.gc_tuning import GC_THRESHOLDS, tune_garbage_collector


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


@pytest.mark.usefixtures("thresholds")
def test_the_long_running_commands_collect_young_objects_less_often() -> None:
    gc.set_threshold(700, 10, 10)
    tune_garbage_collector()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] > 700
    # Older generations keep their ratios: full collections still happen.
    assert GC_THRESHOLDS[1:] == (10, 10)


@pytest.mark.usefixtures("thresholds")
def test_the_worker_command_tunes_the_collector_before_it_builds_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import stream.app
    import tokenradar.cli
    import tokenradar.kafka_admin

    class Built(Exception):
        """Stops the command where the app would start."""

    seen: list[tuple[int, ...]] = []

    def build_app(settings: object) -> None:
        seen.append(gc.get_threshold())
        raise Built

    gc.set_threshold(700, 10, 10)
    monkeypatch.setattr(tokenradar.cli, "_setup_logging", lambda settings: None)
    monkeypatch.setattr(tokenradar.kafka_admin, "ensure_topics", lambda settings: None)
    monkeypatch.setattr(stream.app, "build_app", build_app)
    result = CliRunner().invoke(tokenradar.cli.main, ["worker"])
    assert isinstance(result.exception, Built)
    assert seen == [GC_THRESHOLDS]
