"""The one small interface every notifier implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from alerts.clock import Clock
from alerts.outbox import DeliveryLedger, Outbox, OutboxEntry
from alerts.routing import Target


class Receipt:
    """How a notifier reports progress on a batch while it delivers it.

    A notifier calls :meth:`done` for each entry as soon as its target has it, and
    :meth:`in_flight` just before a call that would duplicate a message if repeated. Entries not
    done when ``deliver`` raises are rescheduled (or dead-lettered) by the relay.
    """

    def __init__(self, outbox: Outbox, ledger: DeliveryLedger, clock: Clock) -> None:
        self.outbox = outbox
        self.ledger = ledger
        self.clock = clock
        self.finished: set[str] = set()

    def done(self, entry: OutboxEntry) -> None:
        """The target has ``entry`` (or never needs it): finish it durably."""
        self.outbox.complete(entry.entry_id, self.clock.now())
        self.finished.add(entry.entry_id)

    def in_flight(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        """Durably note that a non-idempotent call for ``entries`` is about to go out."""
        now = self.clock.now()
        marked = []
        for entry in entries:
            if entry.in_flight_since is None:
                entry = entry.model_copy(update={"in_flight_since": now})
                self.outbox.update(entry)
            marked.append(entry)
        return marked


class Notifier(Protocol):
    """Delivers batches of outbox entries of one lane (one target, one team)."""

    async def deliver(
        self, target: Target, entries: Sequence[OutboxEntry], receipt: Receipt
    ) -> None:
        """Deliver ``entries`` in order.

        Raises
        ------
        alerts.retry.DeliveryFailure
            On the first failure; entries already passed to ``receipt.done`` stay done.
        """
        ...
