"""The outbox: notifications the lifecycle accepted, kept until they are delivered.

An alert is written to the outbox (one :class:`OutboxEntry` per target) before the alert's input
is acknowledged, and removed only after the target confirmed it. A crash or an outage in between
leaves the entry there for the next relay run, so nothing accepted is lost.

Entries are keyed by ``<alert_id>:<target>``: the alert id is derived from the lifecycle change
itself, so an alert seen again after a restart maps to the same entry. A delivered entry leaves a
small *done* marker for :data:`DONE_MARKER_HORIZON_SECONDS` so the repeat is recognised and not
sent twice.

The :class:`DeliveryLedger` remembers, per target and ``dedup_key``, what the target has heard of
the current episode (the Slack message's channel and ``ts``, whether PagerDuty was triggered).
Notifiers consult it to send one trigger and one message per episode whatever the retries.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from alerts.model import Alert
from alerts.store import StateTable

log = logging.getLogger(__name__)

DONE_MARKER_HORIZON_SECONDS = 7 * 24 * 3600.0
_STATUS_ORDER = {"firing": 0, "resolved": 1}


class OutboxEntry(BaseModel):
    """One alert for one target, with its delivery progress."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entry_id: str
    target: str
    alert: Alert
    series: tuple[float, ...] = ()
    enqueued_at: float
    not_before: float
    attempts: int = 0
    first_attempt_at: float | None = None
    next_attempt_at: float = 0.0
    # Set just before a call that would duplicate a message if repeated; a retry (or a restart)
    # that finds it set must look for the message before sending again.
    in_flight_since: float | None = None
    last_error: str | None = None

    @property
    def lane(self) -> str:
        """Entries of one lane are delivered in order: one target, one team."""
        return f"{self.target}|{self.alert.team}"

    def order(self) -> tuple[float, str, int]:
        """Event-time order, stable across restarts: window end, then key, firing first."""
        alert = self.alert
        return (alert.window_end.timestamp(), alert.dedup_key, _STATUS_ORDER[alert.status])

    def due(self, now: float) -> bool:
        """Whether the entry may be attempted at ``now``."""
        return self.not_before <= now and self.next_attempt_at <= now


def entry_id_for(alert: Alert, target_key: str) -> str:
    """The idempotency key of one alert for one target."""
    return f"{alert.alert_id}:{target_key}"


class DeadLetterSink(Protocol):
    """Where notifications that cannot be delivered go (the dead-letter topic in the worker)."""

    def dead_letter(self, entry: OutboxEntry, reason: str) -> None:
        """Keep ``entry`` for people to look at, with why it failed."""
        ...


class InMemoryDeadLetters:
    """A :class:`DeadLetterSink` in a list."""

    def __init__(self) -> None:
        self.entries: list[tuple[OutboxEntry, str]] = []

    def dead_letter(self, entry: OutboxEntry, reason: str) -> None:
        """Keep the entry."""
        self.entries.append((entry, reason))


class Outbox:
    """Pending notifications over a :class:`~alerts.store.StateTable`."""

    def __init__(self, table: StateTable) -> None:
        self.table = table

    def put(self, entry: OutboxEntry) -> bool:
        """Add ``entry`` unless it is pending already or was delivered; True when added."""
        if self.table.get(entry.entry_id) is not None:
            return False
        self.table.set(entry.entry_id, {"state": "pending", "entry": entry.model_dump(mode="json")})
        return True

    def update(self, entry: OutboxEntry) -> None:
        """Save the progress of a pending entry."""
        self.table.set(entry.entry_id, {"state": "pending", "entry": entry.model_dump(mode="json")})

    def complete(self, entry_id: str, now: float, state: str = "done") -> None:
        """Mark an entry finished (``done`` or ``dead``); the marker blocks a repeat ``put``."""
        self.table.set(entry_id, {"state": state, "at": now})

    def pending(self) -> list[OutboxEntry]:
        """Every pending entry, in delivery order."""
        entries = [
            OutboxEntry.model_validate(value["entry"])
            for _, value in self.table.items()
            if value.get("state") == "pending"
        ]
        entries.sort(key=OutboxEntry.order)
        return entries

    def prune(self, now: float, horizon: float = DONE_MARKER_HORIZON_SECONDS) -> int:
        """Drop done markers older than ``horizon``; returns how many."""
        dropped = 0
        for key, value in self.table.items():
            if value.get("state") != "pending" and now - float(value.get("at", now)) > horizon:
                self.table.delete(key)
                dropped += 1
        return dropped


class DeliveryLedger:
    """What each target has heard of each open episode, and the Slack messages' contents."""

    def __init__(self, table: StateTable) -> None:
        self.table = table

    def episode(self, target: str, dedup_key: str) -> dict[str, Any] | None:
        """The target's record of the open episode of ``dedup_key``."""
        return self.table.get(f"episode|{target}|{dedup_key}")

    def open_episode(self, target: str, dedup_key: str, record: dict[str, Any]) -> None:
        """Record (or update) what the target knows of the episode."""
        self.table.set(f"episode|{target}|{dedup_key}", record)

    def close_episode(self, target: str, dedup_key: str) -> None:
        """Forget the episode: the next firing of ``dedup_key`` starts a new one."""
        self.table.delete(f"episode|{target}|{dedup_key}")

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """A posted Slack message: its alerts (contract JSON) and series, to re-render it."""
        return self.table.get(f"message|{channel}|{ts}")

    def save_message(
        self, channel: str, ts: str, alerts: Sequence[Alert], series: dict[str, list[float]]
    ) -> None:
        """Remember what a Slack message shows."""
        self.table.set(
            f"message|{channel}|{ts}",
            {"alerts": [a.model_dump(mode="json") for a in alerts], "series": series},
        )

    def drop_message(self, channel: str, ts: str) -> None:
        """Forget a Slack message whose alerts have all resolved."""
        self.table.delete(f"message|{channel}|{ts}")
