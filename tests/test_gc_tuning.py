from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

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
