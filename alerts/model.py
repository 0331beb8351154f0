"""The alert contract: what tokenradar publishes to the alerts topic and writes from ``replay``.

An alert is one lifecycle change of one ``dedup_key`` (``firing`` or ``resolved``). Its
``alert_id`` is derived from the change itself, so the same events always produce the same ids: a
consumer that sees an id twice (after a worker restart) can drop the repeat.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

ALERT_SCHEMA_VERSION = 1

AlertStatus = Literal["firing", "resolved"]
AlertSeverity = Literal["info", "warning", "error", "critical"]


class TopContributor(BaseModel):
    """A user, model, tool or team and its share of the excess that raised the alert.

    Teams appear in organisation-wide alerts (``team`` is ``(organisation)``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dimension: Literal["user", "model", "tool", "team"]
    name: str
    share: float = Field(ge=0.0, le=1.0)


class Alert(BaseModel):
    """One lifecycle change of an alert, as published on the alerts topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = Field(
        default=ALERT_SCHEMA_VERSION, description="Version of this contract."
    )
    alert_id: str = Field(description="Deterministic id of this change: same events, same id.")
    dedup_key: str = Field(description="team:kind, or team:kind:user for user-level alerts.")
    status: AlertStatus
    kind: str = Field(
        description="Incident class, e.g. team_surge, user_runaway, model_cost_shift."
    )
    severity: AlertSeverity
    team: str
    user: str | None = Field(
        description="The user for user-level alerts, null for team-level ones."
    )
    metric: str = Field(description="The measured quantity, e.g. total_tokens or cost_usd.")
    observed: float = Field(description="Observed value of the metric in the window.")
    expected: float = Field(description="What the detector expected for the window.")
    score: float = Field(ge=0.0, le=1.0, description="Anomaly score in [0, 1].")
    window_start: datetime = Field(description="Start of the window that caused the change (UTC).")
    window_end: datetime = Field(description="End of that window (exclusive, UTC).")
    detected_at: datetime = Field(description="Event time (stream watermark) of the change (UTC).")
    summary: str
    top_contributors: list[TopContributor] = Field(default_factory=list)
    # Budget alerts (budget_threshold, budget_forecast) only; null on every other kind.
    budget_usd: float | None = Field(
        default=None, description="The team's monthly budget in USD (budget alerts)."
    )
    spent_usd: float | None = Field(
        default=None, description="Month-to-date spend in USD (budget alerts)."
    )
    projected_usd: float | None = Field(
        default=None, description="Projected month-end spend in USD (budget alerts)."
    )
    exhausts_on: date | None = Field(
        default=None,
        description="Local date (organisation time zone) the budget runs out, if this month.",
    )
    threshold_pct: float | None = Field(
        default=None, description="The level crossed, in percent (budget_threshold only)."
    )

    def to_json(self) -> bytes:
        """The alert as compact JSON, as it goes on the topic."""
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, data: bytes | str) -> Alert:
        """Parse an alert written by :meth:`to_json`."""
        return cls.model_validate_json(data)


def dedup_key_for(team: str, kind: str, user: str | None) -> str:
    """The grouping key of an alert's episodes: team and kind, plus user for user-level alerts."""
    return f"{team}:{kind}" if user is None else f"{team}:{kind}:{user}"


def alert_id_for(dedup_key: str, status: str, window_end: float) -> str:
    """A stable id for one lifecycle change, so repeats after a restart can be recognised."""
    digest = hashlib.blake2b(
        f"{dedup_key}|{status}|{window_end:.3f}".encode(), digest_size=12
    ).hexdigest()
    return digest


def utc(seconds: float) -> datetime:
    """Event-time seconds since the epoch as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def alert_json_schema() -> dict[str, Any]:
    """JSON Schema of the alert contract (written to ``docs/schemas/alert.schema.json``)."""
    schema = Alert.model_json_schema()
    schema["$id"] = "https://tokenradar.dev/schemas/alert.schema.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
