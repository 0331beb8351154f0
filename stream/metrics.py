"""Prometheus metrics of the worker, served at ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES_IN = Counter(
    "tokenradar_messages_in_total", "Messages consumed from the usage topic.", registry=REGISTRY
)
EVENTS_IN = Counter(
    "tokenradar_events_in_total", "Valid usage events applied to windows.", registry=REGISTRY
)
EVENTS_INVALID = Counter(
    "tokenradar_events_invalid_total",
    "Messages or events sent to the dead-letter topic.",
    registry=REGISTRY,
)
EVENTS_LATE = Counter(
    "tokenradar_events_late_total",
    "Events that arrived after their window closed (counted, not windowed).",
    registry=REGISTRY,
)
EVENTS_DUPLICATE = Counter(
    "tokenradar_events_duplicate_total",
    "Events whose event_id was seen within the dedup horizon.",
    registry=REGISTRY,
)
EVENTS_REKEYED = Counter(
    "tokenradar_events_rekeyed_total",
    "Events that arrived on another team's partition and were re-sent keyed by their team.",
    registry=REGISTRY,
)
WINDOWS_CLOSED = Counter(
    "tokenradar_windows_closed_total", "Team windows closed by the watermark.", registry=REGISTRY
)
ALERTS_RAISED = Counter(
    "tokenradar_alerts_total",
    "Alert lifecycle changes published.",
    ["status", "severity"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "tokenradar_consumer_lag_messages",
    "Messages between the last one processed and the end of the partition.",
    ["partition"],
    registry=REGISTRY,
)
WATERMARK = Gauge(
    "tokenradar_watermark_seconds",
    "Event-time watermark of a partition (seconds since the epoch).",
    ["partition"],
    registry=REGISTRY,
)
CHECKPOINT_SECONDS = Histogram(
    "tokenradar_checkpoint_seconds",
    "Time to flush outputs and write one partition's checkpoint.",
    registry=REGISTRY,
)
