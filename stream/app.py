"""The Faust application: topics, tables, the usage agent, health and metrics pages."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TP
from prometheus_client import generate_latest

from alerts.model import Alert
from alerts.routing import TeamsFile
from detectors.base import TeamDetectorFactory
from tokenradar.core.detection import default_detector_factory
from tokenradar.core.org_budget import ORG_TEAM
from tokenradar.core.router import Core, core_config, limits_from
from tokenradar.pricing import DEFAULT_PRICES, load_prices
from tokenradar.settings import Settings
from tokenradar.silence_topic import KafkaSilenceStore

from . import flushing, metrics
from .delivery import TopicDeadLetters, WorkerDelivery
from .fetching import FetchWaitTransport
from .org_budget import OrgBudgetAggregator
from .runtime import StreamRuntime
from .table_writes import ChangelogWrites

log = logging.getLogger(__name__)

# Prometheus' text format; aiohttp sets the charset itself and refuses one in content_type.
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"
# Faust falls back to the app's store when a table's store URL is falsy, and yarl's
# URL("memory://") is; a host part makes it truthy (the memory store ignores it).
DELIVERY_STORE_URL = "memory://delivery"
ORG_BUDGET_STORE_URL = "memory://org-budget"


@dataclass
class TokenradarApp:
    """The Faust app and the pieces tests and the CLI need to reach."""

    app: faust.App
    runtime: StreamRuntime
    settings: Settings
    delivery: WorkerDelivery
    silences: KafkaSilenceStore


def build_app(settings: Settings, factory: TeamDetectorFactory | None = None) -> TokenradarApp:
    """Create the Faust app for ``settings`` (topics must exist: see ``ensure_topics``)."""
    partitions = settings.usage_partitions
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers],
        store="rocksdb://",
        datadir=str(settings.data_dir),
        topic_partitions=partitions,
        topic_replication_factor=1,
        topic_allow_declare=True,
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Acks wait for checkpoints; a rebalance must not wait for them (only for a message being
        # handled or a checkpoint under way: StreamRuntime.revoke_partitions).
        stream_wait_empty=False,
        broker_commit_interval=settings.checkpoint_interval_seconds,
        # A worker that died must leave the group quickly so its replacement gets the partitions.
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=max(1.0, settings.session_timeout_seconds / 4),
        producer_max_request_size=max(1_048_576, settings.max_message_bytes + 4096),
        # A checkpoint hands thousands of records over at once, closed parts of team states
        # among them (tens of KiB each); with the default 16 KiB batches most went out as a batch
        # of their own. Batches stay below the broker's default max.message.bytes (1 MiB).
        producer_max_batch_size=524_288,
        consumer_max_fetch_size=max(4_194_304, settings.max_message_bytes * 2),
    )
    # Before anything reaches the transport (topics do): Faust's consumer would let the broker
    # hold a fetch of the quiet topics for 1.5 s while the usage topic waits (stream/fetching.py).
    app.transport = FetchWaitTransport(
        app.conf.broker_consumer, app, fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms
    )
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    usage_topic = app.topic(
        settings.usage_topic, key_type=bytes, value_type=bytes, partitions=partitions, **raw
    )
    alerts_topic = app.topic(settings.alerts_topic, partitions=partitions, **raw)
    windows_topic = app.topic(settings.windows_topic, partitions=partitions, **raw)
    dead_letter_topic = app.topic(settings.dead_letter_topic, partitions=1, **raw)
    budgets_topic = app.topic(settings.budgets_topic, partitions=partitions, **raw)
    org_topic = app.topic(settings.org_budgets_topic, partitions=partitions, **raw)

    def bytes_table(name: str, **options: Any) -> Any:
        # key_type/value_type bytes make Faust use the raw codec for the changelog and the store.
        return app.Table(
            name,
            default=None,
            partitions=partitions,
            key_type=bytes,
            value_type=bytes,
            **options,
        )

    team_table = bytes_table("team-state")
    meta_table = bytes_table("partition-meta")
    # Delivery state is written from the relay task too, outside any agent: see stream/delivery.py
    # for why these use the memory store and explicit changelog partitions.
    outbox_table = bytes_table("delivery-outbox", store=DELIVERY_STORE_URL)
    ledger_table = bytes_table("delivery-ledger", store=DELIVERY_STORE_URL)
    # The organisation's budget state: a handful of rows, rebuilt from the changelog on assignment
    # (stream/org_budget.py).
    org_table = bytes_table("org-budget", store=ORG_BUDGET_STORE_URL)
    silences = KafkaSilenceStore(settings)
    delivery = WorkerDelivery(
        settings.alerting_config(),
        outbox_table=outbox_table,
        ledger_table=ledger_table,
        silences=silences,
        producer=lambda: app.producer,
        dead_letters=TopicDeadLetters(dead_letter_topic),
        teams=TeamsFile.load(settings.teams_file),
    )
    prices = load_prices(settings.prices_file) if settings.prices_file else DEFAULT_PRICES
    core = Core(
        core_config(settings),
        factory or default_detector_factory(settings.detector),
        partitions,
        limits=limits_from(settings),
        prices=prices,
    )

    def highwater(partition: int) -> int | None:
        try:
            value = app.consumer.highwater(TP(settings.usage_topic, partition))
        except Exception:  # the consumer may be mid-rebalance
            return None
        return int(value) if value is not None else None

    def accept_alert(alert: Alert) -> None:
        # Runs while the agent handles the alert's input, so the checkpoint that acknowledges
        # the input also flushes the outbox entries written here.
        delivery.accept(core.partition_of(alert.team), alert)

    budget_config = core.config.budgets
    org_partition = core.partition_of(ORG_TEAM)
    org = OrgBudgetAggregator(
        budget_config,
        org_partition,
        table=org_table,
        alerts_topic=alerts_topic,
        flush=lambda: flushing.flush(app.producer),
        accept=delivery.accept,
    )
    runtime = StreamRuntime(
        settings,
        core,
        team_table=team_table,
        meta_table=meta_table,
        alerts_topic=alerts_topic,
        windows_topic=windows_topic,
        dead_letter_topic=dead_letter_topic,
        budgets_topic=budgets_topic,
        usage_topic=usage_topic,
        org_topic=org_topic if budget_config.org_monthly_budget_usd is not None else None,
        org_partition=org_partition,
        producer=lambda: app.producer,
        highwater=highwater,
        on_alert=accept_alert,
        on_window=lambda window: delivery.observe_window(
            window.summary, core.config.window_seconds
        ),
        team_writes=ChangelogWrites(team_table, producer=lambda: app.producer),
        rebalancing=lambda: bool(app.rebalancing),
    )

    @app.agent(usage_topic, name="usage", concurrency=1)
    async def usage_agent(stream: Any) -> None:
        manual = stream.noack()
        async for event in manual.events():
            if not silences.ready.is_set():
                # An alert accepted before the silences are read could notify despite one.
                await silences.ready.wait()
            await runtime.on_event(manual, event)

    @app.agent(org_topic, name="org-budget", concurrency=1)
    async def org_budget_agent(stream: Any) -> None:
        # Acks wait for the standings' rows to be flushed (stream/org_budget.py).
        manual = stream.noack()
        async for event in manual.events():
            await org.on_event(manual, event, more=not manual.channel.empty())

    @app.task  # type: ignore[untyped-decorator]  # faust declares it without types
    async def read_silences() -> None:
        while True:
            try:
                await silences.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading %s failed; retrying", settings.silences_topic)
                await asyncio.sleep(1.0)

    @app.task  # type: ignore[untyped-decorator]  # faust declares it without types
    async def checkpoint_quiet_partitions() -> None:
        # The last messages before a pause are checkpointed without waiting for the next one.
        while True:
            try:
                await runtime.checkpoint_quiet_partitions()
            except asyncio.CancelledError:
                raise
            except Exception:
                # As after a failed checkpoint in the agent: the messages stay unacknowledged
                # and the next checkpoint tries again.
                log.exception("checkpointing quiet partitions failed; retrying")
                await asyncio.sleep(1.0)

    @app.task  # type: ignore[untyped-decorator]  # faust declares it without types
    async def close_delivery_on_stop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await delivery.close()

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]  # mode's stub is too narrow
    async def on_rebalance_complete(sender: Any, **kwargs: Any) -> None:
        # Faust sends this once the tables are recovered, then resumes the usage partitions,
        # seeks them to the committed offsets and only then calls flow_control.resume(), which
        # empties every stream buffer. Flow control is still active from the changelog
        # recovery, so messages fetched during the seek would reach the agent's buffer and be
        # thrown away while the fetch position moves past them: the worker would never see
        # them (faust-streaming issue #596; docs/kafka.md). Suspended, the fetcher waits
        # before the buffer instead, and the resume lets it through in order.
        app.flow_control.suspend()
        # The outbox of each owned partition is complete.
        usage_name = usage_topic.get_topic_name()
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == usage_name}
        # Restore every owned partition now, not at its first message: a partition whose
        # messages were all acknowledged before a restart gets none, and its teams must still
        # be on /budgets and /health.
        for partition in sorted(owned):
            core.processor(partition)
        delivery.start(owned)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode's stub is too narrow
    async def on_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        usage_name = usage_topic.get_topic_name()
        lost = [tp.partition for tp in revoked if tp.topic == usage_name]
        delivery.series.forget(
            team
            for p in lost
            if (proc := core.processors.get(p)) is not None
            for team in proc.teams
        )
        # After a message being handled or a checkpoint (of the agent or the timer) finished.
        await runtime.revoke_partitions(lost)
        if org_partition in lost:
            org.forget()
        await delivery.revoke(lost)

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return web.json({**runtime.health(), "consumer": consumer_flow(app)})

    @app.page("/budgets")
    async def budgets(web: Any, request: Any) -> Any:
        return web.json({"teams": runtime.budgets()})

    @app.page("/metrics")
    async def prometheus_metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.REGISTRY), content_type=PROMETHEUS_CONTENT_TYPE)

    del usage_agent, org_budget_agent, on_revoked, health, budgets, prometheus_metrics
    del read_silences, checkpoint_quiet_partitions, close_delivery_on_stop, on_rebalance_complete
    return TokenradarApp(
        app=app, runtime=runtime, settings=settings, delivery=delivery, silences=silences
    )


def consumer_flow(app: faust.App) -> dict[str, Any]:
    """Whether the consumer may hand messages to the agents, and which partitions it fetches.

    A worker that owns partitions but whose flow is suspended, or whose stream partitions are
    paused, reads nothing; this makes such a worker visible on ``/health``.
    """
    try:
        consumer = app.consumer
        assignment = consumer.assignment()
    except Exception:  # not started, or mid-rebalance
        return {"started": False}
    paused: set[TP] = getattr(consumer, "_paused_partitions", set())
    return {
        "started": True,
        "flow_active": bool(getattr(consumer, "flow_active", False)),
        "streams_active": app.flow_control.is_active(),
        "recovered": app.tables.recovery.completed.is_set(),  # type: ignore[attr-defined]
        "rebalancing": bool(app.rebalancing),
        "assigned": sorted(f"{tp.topic}:{tp.partition}" for tp in assignment),
        "paused": sorted(f"{tp.topic}:{tp.partition}" for tp in paused),
    }
