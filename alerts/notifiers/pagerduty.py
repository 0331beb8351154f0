"""PagerDuty Events API v2: one trigger per episode, one resolve when it ends."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alerts.notifiers.base import Receipt
from alerts.outbox import OutboxEntry
from alerts.render import pagerduty_resolve, pagerduty_trigger
from alerts.retry import DeliveryFailure, FailureKind
from alerts.routing import Router, Target
from alerts.throttle import Throttle
from alerts.transport import Transport

log = logging.getLogger(__name__)


class PagerDutyNotifier:
    """Sends Events API v2 ``trigger`` and ``resolve`` events.

    PagerDuty deduplicates by ``dedup_key``, so a retried event is harmless; the delivery ledger
    still makes sure an episode is triggered once (an escalation or a repeat of an episode
    PagerDuty already has sends nothing) and resolved only if it was triggered.

    Parameters
    ----------
    transport
        The network seam.
    router
        Looks up the routing key of a target's route when sending (the outbox holds no keys).
    events_url
        The enqueue endpoint.
    throttle
        Per-target token bucket (about 2 events a second a routing key).
    """

    def __init__(
        self, transport: Transport, router: Router, events_url: str, throttle: Throttle
    ) -> None:
        self.transport = transport
        self.router = router
        self.events_url = events_url
        self.throttle = throttle

    async def deliver(
        self, target: Target, entries: Sequence[OutboxEntry], receipt: Receipt
    ) -> None:
        """Trigger new episodes, resolve triggered ones, skip the rest."""
        route = self.router.route_by_ref(target.destination)
        for entry in entries:
            alert = entry.alert
            episode = receipt.ledger.episode(target.key, alert.dedup_key)
            if alert.status == "firing" and episode is not None:
                receipt.done(entry)  # PagerDuty already has this episode open
                continue
            if alert.status == "resolved" and episode is None:
                receipt.done(entry)  # never triggered: nothing to resolve
                continue
            if route.pagerduty_routing_key is None:
                raise DeliveryFailure(
                    FailureKind.PERMANENT, f"no PagerDuty routing key for route {route.ref!r}"
                )
            key = route.pagerduty_routing_key.get_secret_value()
            if alert.status == "firing":
                payload = pagerduty_trigger(alert, key, self.router.links(alert))
            else:
                payload = pagerduty_resolve(alert, key)
            await self.throttle.acquire(target.key)
            await self.transport.post_json(
                f"pagerduty {payload['event_action']}", self.events_url, payload
            )
            if alert.status == "firing":
                receipt.ledger.open_episode(target.key, alert.dedup_key, {"triggered": True})
            else:
                receipt.ledger.close_episode(target.key, alert.dedup_key)
            log.info(
                "pagerduty %s sent",
                payload["event_action"],
                extra={"dedup_key": alert.dedup_key, "alert_id": alert.alert_id},
            )
            receipt.done(entry)
