"""The worker's consumer fetches with the configured wait, not Faust's 1.5 s."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiokafka
import pytest

from stream.app import build_app
from stream.fetching import fetch_max_wait_of, set_fetch_max_wait
from tokenradar.settings import Settings


@pytest.mark.parametrize("wait_ms", [100, 40])
def test_the_worker_consumer_is_created_with_the_configured_fetch_wait(
    tmp_path: Path, wait_ms: int
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        consumer_fetch_max_wait_ms=wait_ms, data_dir=tmp_path, _env_file=None
    )
    app = build_app(settings).app

    async def create() -> aiokafka.AIOKafkaConsumer:
        thread = app.consumer._thread
        return thread._create_worker_consumer(thread.transport)

    consumer = asyncio.run(create())
    assert fetch_max_wait_of(consumer) == wait_ms


def test_the_fetch_wait_of_a_started_consumer_is_not_changed_silently() -> None:
    class Started:
        _fetcher = object()
        _fetch_max_wait_ms = 500

    with pytest.raises(RuntimeError, match="has started"):
        set_fetch_max_wait(Started(), 100)  # type: ignore[arg-type]
