"""Settings of the alerting path, as one frozen model.

``tokenradar/settings.py`` embeds :class:`AlertingConfig` and fills it from the ``TOKENRADAR_``
environment variables (``TOKENRADAR_SLACK_TOKEN``, ``TOKENRADAR_PAGE_SEVERITIES``, ...). Secrets
are :class:`~pydantic.SecretStr`, so a repr or a log line shows ``**********`` instead of them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from alerts.model import AlertSeverity

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
DEFAULT_PAGE_SEVERITIES: tuple[AlertSeverity, ...] = ("critical", "error")

DEFAULT_REPEAT_INTERVAL_SECONDS = 4 * 3600.0
DEFAULT_GROUP_WAIT_SECONDS = 30.0
DEFAULT_FOR_WINDOWS = 2
DEFAULT_RESOLVE_AFTER_WINDOWS = 30
# Kinds that are facts rather than statistical noise fire on their first window.
DEFAULT_IMMEDIATE_KINDS: tuple[str, ...] = ("budget_exhausted",)

# Slack allows about one message per second per channel; PagerDuty about two events a second per
# routing key. Bursts beyond that are answered with 429.
DEFAULT_SLACK_MESSAGES_PER_SECOND = 1.0
DEFAULT_PAGERDUTY_EVENTS_PER_SECOND = 2.0

DEFAULT_RETRY_BASE_DELAY_SECONDS = 1.0
DEFAULT_RETRY_MAX_DELAY_SECONDS = 60.0
# An alert older than this is dead-lettered rather than delivered late into a different situation.
DEFAULT_DELIVERY_DEADLINE_SECONDS = 6 * 3600.0
DEFAULT_HTTP_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_ALERTS_PER_MESSAGE = 10


class AlertingConfig(BaseModel):
    """Where alerts go and how hard delivery tries.

    Every field has a default, so ``AlertingConfig()`` is a working local setup: with no Slack
    token, webhook or routing key, alerts go to the console notifier.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    slack_token: SecretStr | None = Field(None, description="Bot token for the Slack Web API.")
    slack_api_url: str = Field(DEFAULT_SLACK_API_URL, description="Base URL of the Web API.")
    slack_channel: str | None = Field(None, description="Default channel (id or #name).")
    slack_webhook_url: SecretStr | None = Field(
        None, description="Incoming-webhook URL, used when there is no token."
    )
    pagerduty_routing_key: SecretStr | None = Field(
        None, description="Default Events API v2 routing key."
    )
    pagerduty_events_url: str = DEFAULT_PAGERDUTY_EVENTS_URL
    page_severities: tuple[AlertSeverity, ...] = Field(
        DEFAULT_PAGE_SEVERITIES, description="Severities that page (comma-separated in the env)."
    )
    dashboard_url: str | None = Field(
        None,
        description="Link template added to notifications; {team}, {kind}, {user} are filled in.",
    )

    # Lifecycle (event time)
    for_windows: int = Field(DEFAULT_FOR_WINDOWS, ge=1)
    for_seconds: float | None = Field(None, ge=0)
    resolve_after_windows: int = Field(DEFAULT_RESOLVE_AFTER_WINDOWS, ge=1)
    resolve_after_seconds: float | None = Field(None, ge=0)
    repeat_interval_seconds: float = Field(DEFAULT_REPEAT_INTERVAL_SECONDS, gt=0)
    immediate_kinds: tuple[str, ...] = DEFAULT_IMMEDIATE_KINDS

    # Notification (wall-clock time)
    group_wait_seconds: float = Field(DEFAULT_GROUP_WAIT_SECONDS, ge=0)
    max_alerts_per_message: int = Field(DEFAULT_MAX_ALERTS_PER_MESSAGE, ge=1, le=20)
    slack_messages_per_second: float = Field(DEFAULT_SLACK_MESSAGES_PER_SECOND, gt=0)
    pagerduty_events_per_second: float = Field(DEFAULT_PAGERDUTY_EVENTS_PER_SECOND, gt=0)
    retry_base_delay_seconds: float = Field(DEFAULT_RETRY_BASE_DELAY_SECONDS, gt=0)
    retry_max_delay_seconds: float = Field(DEFAULT_RETRY_MAX_DELAY_SECONDS, gt=0)
    delivery_deadline_seconds: float = Field(DEFAULT_DELIVERY_DEADLINE_SECONDS, gt=0)
    http_timeout_seconds: float = Field(DEFAULT_HTTP_TIMEOUT_SECONDS, gt=0)

    @field_validator("page_severities", "immediate_kinds", mode="before")
    @classmethod
    def _split_comma_separated(cls, value: Any) -> Any:
        # The environment gives "critical,error"; code may give a list or tuple.
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    def secrets(self) -> list[str]:
        """Every configured secret value, for redaction and for the no-secret-in-logs test."""
        values = [self.slack_token, self.slack_webhook_url, self.pagerduty_routing_key]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
