"""Slack through an incoming webhook: the fallback when there is no bot token.

A webhook can only post, so changes of an announced episode (escalation, repeat, resolve) are
new short messages instead of updates. A webhook cannot be searched either: an attempt that
ended without an answer is not repeated (dead-lettered), so Slack still gets each change at
most once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from alerts.notifiers.base import Receipt
from alerts.outbox import OutboxEntry
from alerts.render import AlertView, slack_message, thread_reply_text
from alerts.retry import DeliveryFailure, FailureKind, classify_http
from alerts.routing import Router, Target
from alerts.throttle import Throttle
from alerts.transport import Transport
from detectors.base import SEVERITY_RANK

log = logging.getLogger(__name__)


class SlackWebhookNotifier:
    """Posts alert messages to the incoming webhook of a target's route."""

    def __init__(
        self, transport: Transport, router: Router, throttle: Throttle, max_alerts_per_message: int
    ) -> None:
        self.transport = transport
        self.router = router
        self.throttle = throttle
        self.max_alerts_per_message = max_alerts_per_message

    async def deliver(
        self, target: Target, entries: Sequence[OutboxEntry], receipt: Receipt
    ) -> None:
        """Group the batch's new episodes into one post; post each other change on its own."""
        route = self.router.route_by_ref(target.destination)
        if route.slack_webhook_url is None:
            raise DeliveryFailure(
                FailureKind.PERMANENT, f"no Slack webhook for route {route.ref!r}"
            )
        url = route.slack_webhook_url.get_secret_value()
        ledger = receipt.ledger
        announce: list[OutboxEntry] = []
        for entry in entries:
            alert = entry.alert
            episode = ledger.episode(target.key, alert.dedup_key)
            opening = (
                episode is None
                and alert.status == "firing"
                and not any(e.alert.dedup_key == alert.dedup_key for e in announce)
            )
            if opening and len(announce) < self.max_alerts_per_message:
                announce.append(entry)
                continue
            await self._flush(target, url, announce, receipt)
            announce = [entry] if opening else []
            if opening:
                continue
            episode = ledger.episode(target.key, alert.dedup_key)
            if episode is None:
                receipt.done(entry)  # a change of an episode Slack never heard of
                continue
            if alert.status == "resolved":
                transition = "resolved"
            elif SEVERITY_RANK[alert.severity] > SEVERITY_RANK[str(episode["severity"])]:
                transition = "escalated"
            else:
                transition = "repeated"
            body: dict[str, Any] = {"text": thread_reply_text(alert, transition)}  # type: ignore[arg-type]
            await self._post(target, url, [entry], body, receipt)
            if alert.status == "resolved":
                ledger.close_episode(target.key, alert.dedup_key)
            else:
                severity = max(str(episode["severity"]), alert.severity, key=_rank)
                ledger.open_episode(target.key, alert.dedup_key, {"severity": severity})
            receipt.done(entry)
        await self._flush(target, url, announce, receipt)

    async def _flush(
        self, target: Target, url: str, announce: list[OutboxEntry], receipt: Receipt
    ) -> None:
        if not announce:
            return
        views = [AlertView(e.alert, e.series, tuple(self.router.links(e.alert))) for e in announce]
        await self._post(target, url, announce, slack_message(views), receipt)
        for entry in announce:
            receipt.ledger.open_episode(
                target.key, entry.alert.dedup_key, {"severity": entry.alert.severity}
            )
            receipt.done(entry)
        announce.clear()

    async def _post(
        self,
        target: Target,
        url: str,
        entries: list[OutboxEntry],
        body: dict[str, Any],
        receipt: Receipt,
    ) -> None:
        if any(e.in_flight_since is not None for e in entries):
            raise DeliveryFailure(
                FailureKind.PERMANENT,
                "an earlier webhook attempt may have posted; not posting again",
            )
        receipt.in_flight(entries)
        client = self.transport.webhook_client(url)
        await self.throttle.acquire(target.key)
        response = await self.transport.call("slack webhook", lambda: client.send_dict(body))
        failure = classify_http(response.status_code, dict(response.headers), response.body[:100])
        if failure is not None:
            raise DeliveryFailure(
                failure.kind,
                f"slack webhook: {failure.reason}",
                status=failure.status,
                retry_after=failure.retry_after,
            )
        log.info("slack webhook message posted", extra={"lane": target.key})


def _rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, 0)
