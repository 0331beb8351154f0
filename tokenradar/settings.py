"""One frozen settings object for the whole service.

Every field can be set from the environment with the ``TOKENRADAR_`` prefix (``window_seconds`` is
``TOKENRADAR_WINDOW_SECONDS``) or from a ``.env`` file in the working directory. Secrets are
``SecretStr`` so they never show up in a repr or a log line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from alerts.config import (
    DEFAULT_DELIVERY_DEADLINE_SECONDS,
    DEFAULT_FOR_WINDOWS,
    DEFAULT_GROUP_WAIT_SECONDS,
    DEFAULT_HTTP_TIMEOUT_SECONDS,
    DEFAULT_IMMEDIATE_KINDS,
    DEFAULT_MAX_ALERTS_PER_MESSAGE,
    DEFAULT_PAGERDUTY_EVENTS_PER_SECOND,
    DEFAULT_REPEAT_INTERVAL_SECONDS,
    DEFAULT_RESOLVE_AFTER_WINDOWS,
    DEFAULT_RETRY_BASE_DELAY_SECONDS,
    DEFAULT_RETRY_MAX_DELAY_SECONDS,
    DEFAULT_SLACK_MESSAGES_PER_SECOND,
    AlertingConfig,
)

DEFAULT_BOOTSTRAP = "localhost:9092"


class Settings(BaseSettings):
    """tokenradar's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="TOKENRADAR_", env_file=".env", extra="ignore", frozen=True
    )

    # Kafka
    kafka_bootstrap: str = Field(DEFAULT_BOOTSTRAP, description="host:port[,host:port...]")
    usage_topic: str = "tokenradar-usage"
    alerts_topic: str = "tokenradar-alerts"
    dead_letter_topic: str = "tokenradar-dead-letter"
    windows_topic: str = "tokenradar-windows"
    budgets_topic: str = Field(
        "tokenradar-budgets",
        description="Compacted topic of each team's latest budget snapshot, keyed by team.",
    )
    silences_topic: str = Field(
        "tokenradar-silences", description="Compacted topic of silences and mutes."
    )
    usage_partitions: int = Field(
        6,
        ge=1,
        description="Partitions of the usage topic; replay partitions events the same way.",
    )

    # Event time
    window_seconds: int = Field(60, ge=1, description="Tumbling window size in event time.")
    allowed_lateness_seconds: int = Field(
        30, ge=0, description="How far behind the highest event time an event may arrive."
    )
    window_phase: Literal["aligned", "spread"] = Field(
        "aligned",
        description="aligned: every team's windows start on multiples of window_seconds, so they"
        " all close at once; spread: each team's are shifted by whole seconds fixed by its name,"
        " so closes (and the detector work they start) spread over the window.",
    )
    dedup_horizon_seconds: int = Field(
        600, ge=0, description="A repeated event_id within this much event time counts once."
    )
    max_future_skew_seconds: int = Field(
        86_400, ge=1, description="Events further ahead of stream time are rejected."
    )

    # Input limits
    max_message_bytes: int = Field(1_048_576, ge=1024, description="Largest accepted message.")
    max_event_bytes: int = Field(16_384, ge=256, description="Largest accepted single event.")
    max_tokens_per_event: int = Field(10_000_000, ge=1)
    max_cost_per_event_usd: float = Field(10_000.0, gt=0)

    detector: str = Field(
        "usage", description="usage (default), baseline or placeholder: see core/detection.py."
    )

    # Files
    teams_file: Path | None = Field(
        None, description="TOML file of per-team settings: routing, budgets, [org]."
    )
    prices_file: Path | None = Field(None, description="TOML file of model prices.")

    # Worker
    app_id: str = "tokenradar"
    data_dir: Path = Path(".state")
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    consumer_fetch_max_wait_ms: int = Field(
        100,
        ge=1,
        le=30_000,
        description="How long the broker may hold a fetch of the worker's consumer waiting for"
        " data; a fetch of quiet topics holds back the usage topic's for up to this long.",
    )
    checkpoint_interval_seconds: float = Field(
        1.0, gt=0, description="Wall-clock time between checkpoints of a partition's state."
    )
    checkpoint_every_events: int = Field(
        20_000, ge=1, description="Checkpoint a partition after this many events at the latest."
    )
    checkpoint_round_bytes: int = Field(
        8 * 2**20,
        ge=1,
        description=(
            "Team state a checkpoint writes before it lets the agent go on; the rest is written"
            " by the next ones, and a partition's messages are acknowledged once all of its"
            " changed teams are written."
        ),
    )
    checkpoint_max_delay_seconds: float = Field(
        10.0,
        gt=0,
        description="A partition unacknowledged this long is checkpointed whole, however large.",
    )
    session_timeout_seconds: float = Field(
        10.0, ge=6.0, description="How long a silent worker keeps its partitions."
    )
    log_level: str = "INFO"
    log_format: str = Field("text", description="text or json")

    # Alerting
    slack_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_channel: str | None = None
    slack_webhook_url: SecretStr | None = None
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    page_severities: str = "critical,error"
    dashboard_url: str | None = None
    group_wait_seconds: float = Field(
        DEFAULT_GROUP_WAIT_SECONDS,
        ge=0,
        description="How long a team's new alerts wait for others to share one message.",
    )
    http_timeout_seconds: float = Field(DEFAULT_HTTP_TIMEOUT_SECONDS, gt=0)
    retry_base_delay_seconds: float = Field(DEFAULT_RETRY_BASE_DELAY_SECONDS, gt=0)
    retry_max_delay_seconds: float = Field(DEFAULT_RETRY_MAX_DELAY_SECONDS, gt=0)
    delivery_deadline_seconds: float = Field(
        DEFAULT_DELIVERY_DEADLINE_SECONDS, gt=0, description="Give up (dead-letter) after this."
    )
    slack_messages_per_second: float = Field(DEFAULT_SLACK_MESSAGES_PER_SECOND, gt=0)
    pagerduty_events_per_second: float = Field(DEFAULT_PAGERDUTY_EVENTS_PER_SECOND, gt=0)
    max_alerts_per_message: int = Field(DEFAULT_MAX_ALERTS_PER_MESSAGE, ge=1, le=20)

    # Alert lifecycle (event time)
    for_windows: int = Field(
        DEFAULT_FOR_WINDOWS, ge=1, description="Consecutive windows with a finding before firing."
    )
    for_seconds: float | None = Field(
        None, ge=0, description="Event time a finding must last before firing (replaces windows)."
    )
    resolve_after_windows: int = Field(
        DEFAULT_RESOLVE_AFTER_WINDOWS, ge=1, description="Clean windows before resolving."
    )
    resolve_after_seconds: float | None = Field(None, ge=0)
    repeat_interval_seconds: float = Field(
        DEFAULT_REPEAT_INTERVAL_SECONDS, gt=0, description="Re-announce a firing alert after this."
    )
    immediate_kinds: str = Field(
        ",".join(DEFAULT_IMMEDIATE_KINDS), description="Kinds that fire on their first window."
    )

    @field_validator("log_format")
    @classmethod
    def _known_log_format(cls, value: str) -> str:
        if value not in {"text", "json"}:
            raise ValueError("log_format must be 'text' or 'json'")
        return value

    def alerting_config(self) -> AlertingConfig:
        """The delivery settings as the ``alerts`` package takes them."""
        return AlertingConfig(
            slack_token=self.slack_token,
            slack_api_url=self.slack_api_url,
            slack_channel=self.slack_channel,
            slack_webhook_url=self.slack_webhook_url,
            pagerduty_routing_key=self.pagerduty_routing_key,
            pagerduty_events_url=self.pagerduty_events_url,
            page_severities=self.page_severities,  # a validator splits "critical,error"
            dashboard_url=self.dashboard_url,
            group_wait_seconds=self.group_wait_seconds,
            http_timeout_seconds=self.http_timeout_seconds,
            retry_base_delay_seconds=self.retry_base_delay_seconds,
            retry_max_delay_seconds=self.retry_max_delay_seconds,
            delivery_deadline_seconds=self.delivery_deadline_seconds,
            slack_messages_per_second=self.slack_messages_per_second,
            pagerduty_events_per_second=self.pagerduty_events_per_second,
            max_alerts_per_message=self.max_alerts_per_message,
            for_windows=self.for_windows,
            for_seconds=self.for_seconds,
            resolve_after_windows=self.resolve_after_windows,
            resolve_after_seconds=self.resolve_after_seconds,
            repeat_interval_seconds=self.repeat_interval_seconds,
            immediate_kinds=self.immediate_kinds,  # a validator splits the comma-separated list
        )

    @property
    def bootstrap_servers(self) -> list[str]:
        """The bootstrap servers as a list."""
        return [part.strip() for part in self.kafka_bootstrap.split(",") if part.strip()]

    @property
    def org_budgets_topic(self) -> str:
        """The topic team snapshots are sent to for the organisation's budget (one partition used).

        Named after the budgets topic, so that deployments (and tests) that rename that one
        rename this one with it.
        """
        return f"{self.budgets_topic}-org"
