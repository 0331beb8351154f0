"""Creating the service's topics with the right partition counts before anything uses them."""

from __future__ import annotations

import logging
import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from tokenradar.settings import Settings

log = logging.getLogger(__name__)

ADMIN_CONNECT_DEADLINE_SECONDS = 60.0
# How long ensure_topics waits for created topics to show in the broker's metadata.
METADATA_DEADLINE_SECONDS = 30.0
# The worker's Faust tables (stream/app.py), whose changelog topics are created with the others.
WORKER_TABLES = ("team-state", "partition-meta", "delivery-outbox", "delivery-ledger", "org-budget")


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
        # The changelogs of the worker's Faust tables, as Faust would declare them (compacted, the
        # usage topic's partitions). Faust declares them only as the worker starts, moments
        # before its consumer joins the group: a changelog the broker does not show in its
        # metadata yet is left out of the assignment, and the consumer takes it to have no
        # partitions until its next metadata refresh (five minutes); the first write to its
        # table then raises PartitionsMismatch, and the agent writing it crashes at every
        # message until then. Created here, they exist before any worker starts.
        *(
            NewTopic(
                changelog_topic(settings, table),
                partitions,
                1,
                topic_configs={"cleanup.policy": "compact"},
            )
            for table in WORKER_TABLES
        ),
    ]


def changelog_topic(settings: Settings, table: str) -> str:
    """The name Faust gives the changelog topic of the worker's table ``table``."""
    return f"{settings.app_id}-{table}-changelog"


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
            _wait_for_metadata(admin, {spec.name: spec.num_partitions for spec in missing})
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


def _wait_for_metadata(
    admin: KafkaAdminClient,
    partitions: dict[str, int],
    deadline_seconds: float = METADATA_DEADLINE_SECONDS,
) -> None:
    """Return once the broker's metadata shows every topic in ``partitions`` with its partitions.

    A created topic reaches the broker's metadata a little later; a consumer that joins before
    then leaves it out (see ``topic_specs``).
    """
    deadline = time.monotonic() + deadline_seconds
    while True:
        shown = {
            str(topic["name"]): len(topic["partitions"])
            for topic in admin.describe_topics(sorted(partitions))
            if not topic.get("error_code")
        }
        waiting = sorted(name for name, count in partitions.items() if shown.get(name) != count)
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics not in the broker's metadata yet: {', '.join(waiting)}")
        time.sleep(0.2)


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
