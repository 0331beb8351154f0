"""The organisation's budget in the worker: team snapshots in, organisation alerts out.

Every checkpoint that changes a team's budget also sends the team's snapshot to the
organisation topic (``<budgets topic>-org``), always to one partition: the usage partition
of the team ``(organisation)``. The topic has as many partitions as the usage topic, so Faust
assigns that partition to the worker that owns the same usage partition, and with it the
partition's delivery relay: organisation alerts go through the same outbox and notifiers as
the teams' alerts, with nothing crossing workers.

State lives in the ``org-budget`` table (memory store, rebuilt from its changelog whenever the
partition is assigned): one row per team and period (``team/<period>/<name>``, its latest
standing)
and one per announcement (``mark/<period>|<level>``). An alert's outbox entries and its copy on
the alerts topic are flushed to the broker before the mark that says it was announced is
written, and the mark is flushed before the next snapshot is read: a crash in between repeats
the alert with the same ``alert_id`` (which the outbox and consumers recognise), never loses it.

The agent's stream acknowledges snapshots by hand (:meth:`OrgBudgetAggregator.on_event`), and only
after a flush barrier (:func:`stream.flushing.flush`) that follows their table writes: Faust's own
flush before a commit gives up after 0.1 s without progress, so with automatic acks a snapshot's
offset could be committed while its standing was still in the producer's buffer, and a crash
then lost the standing for good (a month's last snapshot of a team is never sent again). One
barrier covers the snapshots read in a burst: it comes when no further snapshot is waiting in
the agent's buffer, or after :data:`ACK_BATCH` of them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from alerts.model import Alert
from tokenradar.core.budgets import BudgetConfig
from tokenradar.core.org_budget import OrgBudget, TeamStanding

from .runtime import publish_alert

log = logging.getLogger(__name__)

TEAM_PREFIX = b"team/"
MARK_PREFIX = b"mark/"
# Snapshots acknowledged after one flush barrier at the most, when more keep coming.
ACK_BATCH = 1000


class OrgBudgetAggregator:
    """Keeps :class:`OrgBudget` in a Faust table and hands its alerts to delivery.

    Parameters
    ----------
    config
        The organisation's budget.
    partition
        The partition of the organisation topic (and of the usage topic) it works in.
    table
        The ``org-budget`` Faust table (raw bytes, memory store).
    alerts_topic
        The alerts topic.
    flush
        Returns once everything handed to the producer is on the broker
        (:func:`stream.flushing.flush` of Faust's producer).
    accept
        Writes an alert's outbox entries for ``partition``.
    """

    def __init__(
        self,
        config: BudgetConfig,
        partition: int,
        *,
        table: Any,
        alerts_topic: Any,
        flush: Callable[[], Awaitable[None]],
        accept: Callable[[int, Alert], object],
    ) -> None:
        self.config = config
        self.partition = partition
        self.table = table
        self.alerts_topic = alerts_topic
        self._flush = flush
        self._accept = accept
        self._state: OrgBudget | None = None
        # Events handled whose table writes may not be on the broker yet: not acknowledged.
        self._unacked: list[Any] = []

    def forget(self) -> None:
        """Drop the cached state (the partition was revoked; its next owner reads the table)."""
        self._state = None
        # Their offsets are not committed: the partition's next owner reads them again.
        self._unacked = []

    async def on_event(self, stream: Any, event: Any, *, more: bool) -> None:
        """Handle one event of the agent's manual-ack ``stream``; ``more``: another is waiting.

        The events handled are acknowledged once a flush barrier has put their table writes on
        the broker: when no other event is waiting, or after :data:`ACK_BATCH` events.
        """
        await self.on_snapshot(bytes(event.value or b""), event.message)
        self._unacked.append(event)
        if more and len(self._unacked) < ACK_BATCH:
            return
        await self._flush()
        events, self._unacked = self._unacked, []
        for handled in events:
            await stream.ack(handled)

    def _restore(self) -> OrgBudget:
        standings: list[TeamStanding] = []
        marks: list[str] = []
        for key, value in list(self.table.items()):
            if value is None:
                continue
            if key.startswith(TEAM_PREFIX):
                standings.append(TeamStanding.from_plain(orjson.loads(value)))
            elif key.startswith(MARK_PREFIX):
                marks.append(key[len(MARK_PREFIX) :].decode())
        state = OrgBudget.restore(standings, marks)
        log.info(
            "organisation budget restored: %d teams, period %s, %d announcements",
            len(standings),
            state.period,
            len(marks),
        )
        return state

    async def on_snapshot(self, raw: bytes, message: Any) -> None:
        """Handle one team snapshot from the organisation topic (while the agent handles it)."""
        try:
            document = orjson.loads(raw)
            if not isinstance(document, dict) or "team" not in document:
                raise ValueError("not a team snapshot")
        except (orjson.JSONDecodeError, ValueError) as exc:
            log.warning(
                "%s[%d]@%d: ignored: %s", message.topic, message.partition, message.offset, exc
            )
            return
        if self._state is None:
            self._state = self._restore()
        state = self._state
        update = state.observe(document, self.config)
        for alert in update.alerts:
            await publish_alert(self.alerts_topic, alert)
            self._accept(self.partition, alert)
        if update.alerts:
            # The announcement is on the broker before the mark that records it.
            await self._flush()
        for period, team in update.standings_changed:
            key = TEAM_PREFIX + f"{period}/{team}".encode()
            standing = state.standings.get((period, team))
            if standing is None:
                if self.table.get(key) is not None:
                    del self.table[key]
            else:
                self.table[key] = orjson.dumps(standing.to_plain())
        for mark in update.marks_removed:
            key = MARK_PREFIX + mark.encode()
            if self.table.get(key) is not None:
                del self.table[key]
        for mark in update.marks_added:
            self.table[MARK_PREFIX + mark.encode()] = b"1"
        if update.marks_added:
            # The mark is on the broker before the next snapshot is read (see the module).
            await self._flush()
