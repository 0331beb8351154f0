"""Slack through the Web API: one message per episode, updated in place, changes in its thread.

New episodes of a team that become due together are announced in one message (grouping). An
escalation, a repeat or the resolve of an announced episode updates that message with
``chat.update`` and adds a reply in its thread. The message's ``(channel, ts)`` per ``dedup_key``
is kept in the delivery ledger.

``chat.postMessage`` is not idempotent. Each message carries metadata with its delivery id; when
an attempt ended without an answer (a timeout, or a crash between sending and recording), the
next attempt first looks for that metadata in the channel's history (or the thread's replies) and
only posts if the message is not there. If it cannot look (the token lacks the history scope),
the entry is dead-lettered rather than risk a duplicate: Slack gets each change at most once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient

from alerts.model import Alert
from alerts.notifiers.base import Receipt
from alerts.outbox import OutboxEntry
from alerts.render import (
    METADATA_EVENT_TYPE,
    AlertView,
    Transition,
    key_digest,
    slack_message,
    slack_metadata,
    thread_reply_text,
)
from alerts.retry import DeliveryFailure, FailureKind
from alerts.routing import Router, Target
from alerts.throttle import Throttle
from alerts.transport import Transport
from detectors.base import SEVERITY_RANK

log = logging.getLogger(__name__)

# How far before an in-flight attempt to look for its message, for clock skew with Slack.
HISTORY_LOOKBACK_SECONDS = 300.0
HISTORY_PAGE_SIZE = 200


class SlackNotifier:
    """Posts, updates and threads alert messages with slack-sdk's ``AsyncWebClient``.

    Parameters
    ----------
    transport
        The network seam every call goes through; it builds the client (no built-in retries).
    token
        The bot token.
    api_url
        Base URL of the Web API (``https://slack.com/api/``, or a local test server).
    router
        For the links shown in messages.
    throttle
        Per-channel token bucket (about one message a second).
    max_alerts_per_message
        Alerts announced in one grouped message at most.
    """

    def __init__(
        self,
        transport: Transport,
        token: SecretStr,
        api_url: str,
        router: Router,
        throttle: Throttle,
        max_alerts_per_message: int,
    ) -> None:
        self.transport = transport
        self._token = token
        self.api_url = api_url
        self._client: AsyncWebClient | None = None
        self.router = router
        self.throttle = throttle
        self.max_alerts_per_message = max_alerts_per_message

    @property
    def client(self) -> AsyncWebClient:
        """The Web API client, built on the transport's current session."""
        session = self.transport.session()
        if self._client is None or self._client.session is not session:
            self._client = self.transport.slack_client(self._token.get_secret_value(), self.api_url)
        return self._client

    async def deliver(
        self, target: Target, entries: Sequence[OutboxEntry], receipt: Receipt
    ) -> None:
        """Announce new episodes in grouped messages, then apply changes to announced ones."""
        # Entries of keys without an announced episode start new episodes and are grouped;
        # everything after an episode's resolve in the same batch is handled in order later.
        new: dict[str, list[OutboxEntry]] = {}
        later: list[OutboxEntry] = []
        keys_later: set[str] = set()
        for entry in entries:
            key = entry.alert.dedup_key
            group = new.get(key)
            if key in keys_later or (group is not None and group[-1].alert.status == "resolved"):
                later.append(entry)
                keys_later.add(key)
            elif group is not None:
                group.append(entry)
            elif receipt.ledger.episode(target.key, key) is None:
                if entry.alert.status == "resolved":
                    receipt.done(entry)  # never announced (silenced, say): nothing to resolve
                else:
                    new[key] = [entry]
            else:
                later.append(entry)
                keys_later.add(key)
        groups = list(new.values())
        for start in range(0, len(groups), self.max_alerts_per_message):
            await self._announce(
                target, groups[start : start + self.max_alerts_per_message], receipt
            )
        for entry in later:
            await self._follow_up(target, entry, receipt)

    # -- new episodes -------------------------------------------------------------------------

    async def _announce(
        self, target: Target, groups: list[list[OutboxEntry]], receipt: Receipt
    ) -> None:
        """One message showing the latest state of each group's episode."""
        entries = [entry for group in groups for entry in group]
        delivery_id = groups[0][0].entry_id
        in_flight = [e.in_flight_since for e in entries if e.in_flight_since is not None]
        posted: tuple[str, str, list[str]] | None = None
        if in_flight:
            posted = await self._find(target.destination, delivery_id, min(in_flight), None)
        if posted is None:
            entries = receipt.in_flight(entries)
            latest = [group[-1] for group in groups]
            message = slack_message([self._view(e) for e in latest])
            await self.throttle.acquire(target.key)
            response = await self.transport.call(
                "slack chat.postMessage",
                lambda: self.client.chat_postMessage(
                    channel=target.destination,
                    text=message["text"],
                    blocks=message["blocks"],
                    metadata=slack_metadata(delivery_id, [e.alert.dedup_key for e in latest]),
                    unfurl_links=False,
                    unfurl_media=False,
                    link_names=False,
                ),
            )
            channel, ts = str(response["channel"]), str(response["ts"])
            covered = [key_digest(e.alert.dedup_key) for e in latest]
        else:
            channel, ts, covered = posted
            log.info("found a message sent before an interrupted attempt; not posting again")
        shown = [group for group in groups if key_digest(group[-1].alert.dedup_key) in covered]
        missing = [g for g in groups if key_digest(g[-1].alert.dedup_key) not in covered]
        self._remember(target, channel, ts, [g[-1] for g in shown], receipt)
        for group in shown:
            for entry in group:
                receipt.done(entry)
        log.info(
            "slack message posted",
            extra={"alerts": len(shown), "lane": target.key},
        )
        if missing:
            cleared = [
                [e.model_copy(update={"in_flight_since": None}) for e in group] for group in missing
            ]
            await self._announce(target, cleared, receipt)

    def _remember(
        self,
        target: Target,
        channel: str,
        ts: str,
        latest: Sequence[OutboxEntry],
        receipt: Receipt,
    ) -> None:
        ledger = receipt.ledger
        record = ledger.message(channel, ts)
        alerts = _alerts_of(record)
        series = dict(record["series"]) if record else {}
        for entry in latest:
            alerts[entry.alert.dedup_key] = entry.alert
            series[entry.alert.dedup_key] = list(entry.series)
        ledger.save_message(channel, ts, list(alerts.values()), series)
        for entry in latest:
            alert = entry.alert
            if alert.status == "resolved":
                ledger.close_episode(target.key, alert.dedup_key)
            else:
                ledger.open_episode(
                    target.key,
                    alert.dedup_key,
                    {"channel": channel, "ts": ts, "severity": alert.severity},
                )

    # -- changes of announced episodes --------------------------------------------------------

    async def _follow_up(self, target: Target, entry: OutboxEntry, receipt: Receipt) -> None:
        alert = entry.alert
        ledger = receipt.ledger
        episode = ledger.episode(target.key, alert.dedup_key)
        if episode is None:
            if alert.status == "resolved":
                receipt.done(entry)
            else:
                await self._announce(target, [[entry]], receipt)
            return
        channel, ts = str(episode["channel"]), str(episode["ts"])
        transition = _transition(alert, str(episode.get("severity", "info")))
        record = ledger.message(channel, ts)
        alerts = _alerts_of(record)
        alerts[alert.dedup_key] = alert
        series: dict[str, list[float]] = dict(record["series"]) if record else {}
        series[alert.dedup_key] = list(entry.series)
        views = [AlertView(a, tuple(series.get(k, ())), self._links(a)) for k, a in alerts.items()]
        message = slack_message(views)
        # chat.update is idempotent: repeating it after a failure shows the same message.
        await self.throttle.acquire(target.key)
        await self.transport.call(
            "slack chat.update",
            lambda: self.client.chat_update(
                channel=channel, ts=ts, text=message["text"], blocks=message["blocks"]
            ),
        )
        ledger.save_message(channel, ts, list(alerts.values()), series)
        await self._reply(target, channel, ts, entry, transition, receipt)
        if transition == "resolved":
            ledger.close_episode(target.key, alert.dedup_key)
            if all(a.status == "resolved" for a in alerts.values()):
                ledger.drop_message(channel, ts)
        else:
            severity = max(str(episode.get("severity", "info")), alert.severity, key=_rank)
            ledger.open_episode(
                target.key, alert.dedup_key, {"channel": channel, "ts": ts, "severity": severity}
            )
        log.info(
            "slack message updated",
            extra={"dedup_key": alert.dedup_key, "transition": transition, "lane": target.key},
        )
        receipt.done(entry)

    async def _reply(
        self,
        target: Target,
        channel: str,
        ts: str,
        entry: OutboxEntry,
        transition: Transition,
        receipt: Receipt,
    ) -> None:
        if entry.in_flight_since is not None:
            found = await self._find(channel, entry.entry_id, entry.in_flight_since, ts)
            if found is not None:
                return
        [entry] = receipt.in_flight([entry])
        text = thread_reply_text(entry.alert, transition)
        await self.throttle.acquire(target.key)
        await self.transport.call(
            "slack chat.postMessage (thread)",
            lambda: self.client.chat_postMessage(
                channel=channel,
                thread_ts=ts,
                text=text,
                metadata=slack_metadata(entry.entry_id, [entry.alert.dedup_key]),
                unfurl_links=False,
                unfurl_media=False,
                link_names=False,
            ),
        )

    # -- reconciliation -----------------------------------------------------------------------

    async def _find(
        self, channel: str, delivery_id: str, since: float, thread_ts: str | None
    ) -> tuple[str, str, list[str]] | None:
        """The ``(channel, ts, key digests)`` of a message carrying ``delivery_id``, if any.

        Raises a permanent failure when the history cannot be read: posting blind could
        duplicate the message.
        """
        oldest = f"{max(0.0, since - HISTORY_LOOKBACK_SECONDS):.6f}"
        try:
            if thread_ts is None:
                response = await self.transport.call(
                    "slack conversations.history",
                    lambda: self.client.conversations_history(
                        channel=channel,
                        oldest=oldest,
                        include_all_metadata=True,
                        limit=HISTORY_PAGE_SIZE,
                    ),
                )
            else:
                response = await self.transport.call(
                    "slack conversations.replies",
                    lambda: self.client.conversations_replies(
                        channel=channel,
                        ts=thread_ts,
                        include_all_metadata=True,
                        limit=HISTORY_PAGE_SIZE,
                    ),
                )
        except DeliveryFailure as failure:
            if failure.kind is FailureKind.PERMANENT:
                raise DeliveryFailure(
                    FailureKind.PERMANENT,
                    f"an earlier attempt may have posted and the history cannot be read "
                    f"({failure.reason}); not posting again",
                    status=failure.status,
                ) from failure
            raise
        for message in response.get("messages") or []:
            metadata: dict[str, Any] = message.get("metadata") or {}
            payload: dict[str, Any] = metadata.get("event_payload") or {}
            if (
                metadata.get("event_type") == METADATA_EVENT_TYPE
                and payload.get("delivery_id") == delivery_id
            ):
                found_channel = str(response.get("channel") or channel)
                return found_channel, str(message["ts"]), list(payload.get("keys") or [])
        return None

    def _view(self, entry: OutboxEntry) -> AlertView:
        return AlertView(entry.alert, entry.series, self._links(entry.alert))

    def _links(self, alert: Alert) -> tuple[tuple[str, str], ...]:
        return tuple(self.router.links(alert))


def _rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, 0)


def _transition(alert: Alert, announced_severity: str) -> Transition:
    if alert.status == "resolved":
        return "resolved"
    if _rank(alert.severity) > _rank(announced_severity):
        return "escalated"
    return "repeated"


def _alerts_of(record: dict[str, Any] | None) -> dict[str, Alert]:
    if not record:
        return {}
    alerts = (Alert.model_validate(plain) for plain in record.get("alerts", []))
    return {alert.dedup_key: alert for alert in alerts}
