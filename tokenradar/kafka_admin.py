"""Creating the service's topics with the right partition counts before anything uses them."""

from __future__ import annotations

import logging
import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from tokenradar.settings import Settings

log = logging.getLogger(__name__)

ADMIN_CONNECT_DEADLINE_SECONDS = 60.0


def topic_specs(settings: Settings) -> list[NewTopic]:
    """The topics tokenradar reads and writes, with their partitions and configs."""
    partitions = settings.usage_partitions
    return [
        NewTopic(settings.usage_topic, partitions, 1),
        NewTopic(settings.alerts_topic, partitions, 1),
        NewTopic(settings.windows_topic, partitions, 1),
        NewTopic(settings.dead_letter_topic, 1, 1),
        # Keyed by team; only each team's latest snapshot matters, so the broker may compact.
        NewTopic(
            settings.budgets_topic,
            partitions,
            1,
            topic_configs={"cleanup.policy": "compact", "segment.ms": "600000"},
        ),
        # Team snapshots for the organisation's budget, all in the partition of "(organisation)";
        # as many partitions as the usage topic, so Faust assigns it with that usage partition.
        NewTopic(
            settings.org_budgets_topic,
            partitions,
            1,
            topic_configs={"cleanup.policy": "compact", "segment.ms": "600000"},
        ),
        # Every worker reads all of it; compaction keeps the latest version of each record.
        NewTopic(settings.silences_topic, 1, 1, topic_configs={"cleanup.policy": "compact"}),
    ]


def ensure_topics(
    settings: Settings, deadline_seconds: float = ADMIN_CONNECT_DEADLINE_SECONDS
) -> None:
    """Create missing topics; check that the usage topic has the configured partition count.

    Broker auto-creation would give a topic one partition, and replay would then partition
    events differently from the live topic, so topics are created explicitly here.
    """
    admin = _connect(settings, deadline_seconds)
    try:
        existing = set(admin.list_topics())
        missing = [spec for spec in topic_specs(settings) if spec.name not in existing]
        if missing:
            try:
                admin.create_topics(missing)
                log.info("created topics %s", ", ".join(spec.name for spec in missing))
            except TopicAlreadyExistsError:
                pass
        described = admin.describe_topics([settings.usage_topic])
        actual = len(described[0]["partitions"]) if described else 0
        if actual and actual != settings.usage_partitions:
            raise RuntimeError(
                f"topic {settings.usage_topic} has {actual} partitions but "
                f"TOKENRADAR_USAGE_PARTITIONS is {settings.usage_partitions}; "
                "set it to match, or replay would assign teams to other partitions"
            )
    finally:
        admin.close()


def _connect(settings: Settings, deadline_seconds: float) -> KafkaAdminClient:
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            return KafkaAdminClient(
                bootstrap_servers=settings.bootstrap_servers, client_id="tokenradar-admin"
            )
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}"
                ) from exc
            log.warning(
                "Kafka at %s not reachable yet (%s); retrying", settings.kafka_bootstrap, exc
            )
            time.sleep(1.0)
