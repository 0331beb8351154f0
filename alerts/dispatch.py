"""From lifecycle changes to delivered notifications.

Two halves, joined by the outbox:

* :class:`AlertDispatcher` ``accept``\\ s each alert the lifecycle emitted: it routes it, applies
  silences, mutes and inhibition, and writes one outbox entry per target. Entries of new
  episodes wait for the team's group window (30 s by default) so alerts that arrive together are
  announced together. Call it before acknowledging the alert's input.
* :class:`OutboxRelay` delivers due entries lane by lane (a lane is one target and one team, in
  event-time order), through the notifiers, under the throttle and the retry policy. Failures
  are rescheduled with backoff, or dead-lettered when permanent or past the deadline.

:func:`build_delivery` wires both from :class:`~alerts.config.AlertingConfig`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from rich.console import Console

from alerts.clock import Clock, SystemClock
from alerts.config import AlertingConfig
from alerts.inhibition import DEFAULT_INHIBIT_RULES, ActiveAlerts, InhibitRule
from alerts.model import Alert
from alerts.notifiers.base import Notifier, Receipt
from alerts.notifiers.console import ConsoleNotifier
from alerts.notifiers.pagerduty import PagerDutyNotifier
from alerts.notifiers.slack import SlackNotifier
from alerts.notifiers.slack_webhook import SlackWebhookNotifier
from alerts.outbox import (
    DeadLetterSink,
    DeliveryLedger,
    InMemoryDeadLetters,
    Outbox,
    OutboxEntry,
    entry_id_for,
)
from alerts.retry import DeliveryFailure, FailureKind, RetryPolicy, classify_exception
from alerts.routing import Router, Target, TeamsFile
from alerts.silences import InMemorySilenceStore, SilenceStore, muting, silencing
from alerts.store import InMemoryTable, StateTable
from alerts.throttle import Throttle
from alerts.transport import Transport

log = logging.getLogger(__name__)

# Targets whose new episodes wait for the group window; a page never waits.
GROUPED_NOTIFIERS = frozenset({"slack", "slack_webhook", "console"})
DEFAULT_SERIES_POINTS = 30
# Upper bound of one idle wait of the relay loop, so new entries are picked up promptly even
# without a wake-up call.
RELAY_IDLE_POLL_SECONDS = 1.0


class RecentSeries:
    """The last closed windows' values per team and metric, for the sparkline.

    The core feeds it every closed window (:meth:`observe`); the dispatcher reads it when an
    alert is accepted and stores the series with the outbox entry, so a restart does not lose it.
    """

    def __init__(self, points: int = DEFAULT_SERIES_POINTS) -> None:
        self.points = points
        self._series: dict[tuple[str, str], deque[float]] = {}

    def observe(self, team: str, values: Mapping[str, float]) -> None:
        """Append one window's value of each metric (``{"total_tokens": ..., ...}``)."""
        for metric, value in values.items():
            key = (team, metric)
            if key not in self._series:
                self._series[key] = deque(maxlen=self.points)
            self._series[key].append(float(value))

    def series(self, team: str, metric: str) -> tuple[float, ...]:
        """The recent values of ``metric`` for ``team``, oldest first."""
        return tuple(self._series.get((team, metric), ()))


class AlertDispatcher:
    """Turns accepted alerts into outbox entries.

    Parameters
    ----------
    router
        Routes and targets.
    outbox
        Where entries go.
    silences
        Silences and mutes, read on every alert.
    clock
        Wall-clock time (silence expiry, group windows).
    group_wait_seconds
        How long a team's first new episode waits for others to share its message.
    active
        The firing view inhibition needs.
    inhibit_rules
        Which kinds inhibit which.
    series
        Where sparkline data comes from (optional).
    wake
        Set whenever an entry is added, to wake the relay.
    """

    def __init__(
        self,
        router: Router,
        outbox: Outbox,
        silences: SilenceStore,
        clock: Clock,
        group_wait_seconds: float,
        *,
        active: ActiveAlerts | None = None,
        inhibit_rules: Sequence[InhibitRule] = DEFAULT_INHIBIT_RULES,
        series: RecentSeries | None = None,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.router = router
        self.outbox = outbox
        self.silences = silences
        self.clock = clock
        self.group_wait_seconds = group_wait_seconds
        self.active = active or ActiveAlerts()
        self.inhibit_rules = tuple(inhibit_rules)
        self.series = series
        self.wake = wake
        # (lane) -> wall-clock time at which the open group of new episodes is sent.
        self._group_closes: dict[str, float] = {}

    def accept(self, alert: Alert, series: Sequence[float] | None = None) -> list[OutboxEntry]:
        """Route ``alert`` and write its outbox entries; returns the entries added.

        Accepting the same alert twice (after a restart) adds nothing the second time.
        """
        now = self.clock.now()
        self.active.observe(alert)
        if alert.status == "firing":
            silence = silencing(self.silences, alert, now)
            if silence is not None:
                log.info(
                    "alert silenced",
                    extra={"dedup_key": alert.dedup_key, "silence_id": silence.silence_id},
                )
                return []
            inhibitor = self.active.inhibitor_of(alert, self.inhibit_rules)
            if inhibitor is not None:
                log.info(
                    "alert inhibited",
                    extra={"dedup_key": alert.dedup_key, "inhibited_by": inhibitor.dedup_key},
                )
                return []
        if series is None and self.series is not None:
            series = self.series.series(alert.team, alert.metric)
        added: list[OutboxEntry] = []
        for target in self.router.targets(alert, now):
            if alert.status == "firing":
                mute = muting(self.silences, alert.team, target.notifier, now)
                if mute is not None:
                    log.info(
                        "notifier muted",
                        extra={"dedup_key": alert.dedup_key, "mute_id": mute.mute_id,
                               "notifier": target.notifier},
                    )  # fmt: skip
                    continue
            entry = OutboxEntry(
                entry_id=entry_id_for(alert, target.key),
                target=target.key,
                alert=alert,
                series=tuple(series or ()),
                enqueued_at=now,
                not_before=self._not_before(alert, target, now),
            )
            if self.outbox.put(entry):
                added.append(entry)
        if added and self.wake is not None:
            self.wake.set()
        return added

    def accept_all(self, alerts: Iterable[Alert]) -> list[OutboxEntry]:
        """:meth:`accept` each alert in order."""
        return [entry for alert in alerts for entry in self.accept(alert)]

    def _not_before(self, alert: Alert, target: Target, now: float) -> float:
        if alert.status != "firing" or target.notifier not in GROUPED_NOTIFIERS:
            return now
        lane = f"{target.key}|{alert.team}"
        closes = self._group_closes.get(lane)
        if closes is None or closes <= now:
            closes = self._group_closes[lane] = now + self.group_wait_seconds
        return closes


@dataclass(slots=True)
class RelayReport:
    """What one relay pass did."""

    delivered: int = 0
    rescheduled: int = 0
    dead_lettered: int = 0
    failures: list[str] = field(default_factory=list)


class OutboxRelay:
    """Delivers due outbox entries through the notifiers.

    Parameters
    ----------
    outbox, ledger
        Pending entries and per-episode delivery state.
    notifiers
        By notifier name (``slack``, ``slack_webhook``, ``pagerduty``, ``console``).
    policy
        Backoff, jitter and deadline.
    dead_letters
        Where permanently failed entries go.
    clock
        Wall-clock time.
    max_batch
        Entries of one lane handed to a notifier at once (the grouping limit).
    """

    def __init__(
        self,
        outbox: Outbox,
        ledger: DeliveryLedger,
        notifiers: Mapping[str, Notifier],
        policy: RetryPolicy,
        dead_letters: DeadLetterSink,
        clock: Clock,
        max_batch: int,
    ) -> None:
        self.outbox = outbox
        self.ledger = ledger
        self.notifiers = dict(notifiers)
        self.policy = policy
        self.dead_letters = dead_letters
        self.clock = clock
        self.max_batch = max_batch

    def _due_lanes(self, now: float) -> dict[str, list[OutboxEntry]]:
        lanes: dict[str, list[OutboxEntry]] = defaultdict(list)
        blocked: set[tuple[str, str]] = set()
        for entry in self.outbox.pending():
            lane, key = entry.lane, entry.alert.dedup_key
            # Changes of one dedup_key are delivered in order: one that is not due (or does not
            # fit in this batch) holds back the later changes of the same key.
            if (lane, key) in blocked or not entry.due(now) or len(lanes[lane]) >= self.max_batch:
                blocked.add((lane, key))
                continue
            lanes[lane].append(entry)
        return {lane: entries for lane, entries in lanes.items() if entries}

    def next_due(self) -> float | None:
        """The earliest wall-clock time at which some pending entry can be attempted."""
        heads: dict[tuple[str, str], float] = {}
        for entry in self.outbox.pending():
            heads.setdefault(
                (entry.lane, entry.alert.dedup_key), max(entry.not_before, entry.next_attempt_at)
            )
        return min(heads.values()) if heads else None

    async def run_once(self) -> RelayReport:
        """Deliver every lane that has due entries, lanes concurrently."""
        report = RelayReport()
        lanes = self._due_lanes(self.clock.now())
        await asyncio.gather(*(self._deliver_lane(entries, report) for entries in lanes.values()))
        return report

    async def drain(self, max_passes: int = 1000) -> RelayReport:
        """Run passes, waiting on the clock in between, until nothing is pending."""
        total = RelayReport()
        for _ in range(max_passes):
            due = self.next_due()
            if due is None:
                break
            wait = due - self.clock.now()
            if wait > 0:
                await self.clock.sleep(wait)
            report = await self.run_once()
            total.delivered += report.delivered
            total.rescheduled += report.rescheduled
            total.dead_lettered += report.dead_lettered
            total.failures.extend(report.failures)
        return total

    async def run(self, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        """Deliver until ``stop`` is set, sleeping until the next due entry or a wake-up."""
        wake = wake or asyncio.Event()
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("outbox relay pass failed")
            due = self.next_due()
            wait = RELAY_IDLE_POLL_SECONDS
            if due is not None:
                wait = min(wait, max(0.0, due - self.clock.now()))
            wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    async def _deliver_lane(self, entries: list[OutboxEntry], report: RelayReport) -> None:
        target = Target.from_key(entries[0].target)
        notifier = self.notifiers.get(target.notifier)
        receipt = Receipt(self.outbox, self.ledger, self.clock)
        if notifier is None:
            failure = DeliveryFailure(
                FailureKind.PERMANENT, f"no notifier configured for {target.notifier}"
            )
        else:
            try:
                await notifier.deliver(target, entries, receipt)
                failure = None
            except Exception as exc:
                failure = classify_exception(exc)
        report.delivered += len(receipt.finished)
        if failure is None:
            return
        report.failures.append(failure.reason)
        now = self.clock.now()
        batch_ids = {e.entry_id for e in entries}
        left = [e for e in self.outbox.pending() if e.entry_id in batch_ids]
        if not left:
            return
        # One schedule for the whole batch, so entries grouped together stay together.
        attempts = max(e.attempts for e in left) + 1
        first = min(
            (e.first_attempt_at for e in left if e.first_attempt_at is not None), default=now
        )
        next_at = self.policy.next_attempt_at(failure, attempts, first, now)
        for entry in left:
            self._after_failure(entry, failure, attempts, first, next_at, now, report)

    def _after_failure(
        self,
        entry: OutboxEntry,
        failure: DeliveryFailure,
        attempts: int,
        first: float,
        next_at: float | None,
        now: float,
        report: RelayReport,
    ) -> None:
        if next_at is None:
            why = "permanent" if failure.kind is FailureKind.PERMANENT else "deadline passed"
            reason = f"{why}: {failure.reason}"
            log.error(
                "notification dead-lettered",
                extra={"entry_id": entry.entry_id, "target": entry.target, "reason": reason,
                       "attempts": attempts},
            )  # fmt: skip
            self.dead_letters.dead_letter(entry, reason)
            self.outbox.complete(entry.entry_id, now, state="dead")
            report.dead_lettered += 1
            return
        # A retryable failure means the request was not processed, so a repeat cannot
        # duplicate anything; an ambiguous one keeps the in-flight mark for reconciliation.
        in_flight = None if failure.kind is FailureKind.RETRYABLE else entry.in_flight_since
        self.outbox.update(
            entry.model_copy(
                update={
                    "attempts": attempts,
                    "first_attempt_at": first,
                    "next_attempt_at": next_at,
                    "in_flight_since": in_flight,
                    "last_error": failure.reason,
                }
            )
        )
        log.warning(
            "notification failed, retrying",
            extra={"entry_id": entry.entry_id, "target": entry.target, "reason": failure.reason,
                   "attempts": attempts, "retry_in": round(next_at - now, 3)},
        )  # fmt: skip
        report.rescheduled += 1


@dataclass(slots=True)
class AlertDelivery:
    """The wired delivery path: accept alerts on one side, run the relay on the other."""

    dispatcher: AlertDispatcher
    relay: OutboxRelay
    router: Router
    transport: Transport
    wake: asyncio.Event

    def accept(self, alert: Alert, series: Sequence[float] | None = None) -> list[OutboxEntry]:
        """See :meth:`AlertDispatcher.accept`."""
        return self.dispatcher.accept(alert, series)

    async def close(self) -> None:
        """Close network resources."""
        await self.transport.close()


def build_notifiers(
    config: AlertingConfig,
    router: Router,
    transport: Transport,
    clock: Clock,
    console: Console | None = None,
) -> dict[str, Notifier]:
    """Every notifier the settings allow, by name; the console one is always there.

    Throttles live in the notifiers, so a process should build them once and share them between
    all the relays it runs (the limits are per channel and routing key, not per relay).
    """
    slack_throttle = Throttle(config.slack_messages_per_second, clock)
    notifiers: dict[str, Notifier] = {"console": ConsoleNotifier(console)}
    if config.slack_token is not None:
        notifiers["slack"] = SlackNotifier(
            transport,
            config.slack_token,
            config.slack_api_url,
            router,
            slack_throttle,
            config.max_alerts_per_message,
        )
    notifiers["slack_webhook"] = SlackWebhookNotifier(
        transport, router, slack_throttle, config.max_alerts_per_message
    )
    notifiers["pagerduty"] = PagerDutyNotifier(
        transport,
        router,
        config.pagerduty_events_url,
        Throttle(config.pagerduty_events_per_second, clock, burst=2),
    )
    return notifiers


def build_delivery(
    config: AlertingConfig,
    *,
    teams: TeamsFile | None = None,
    outbox_table: StateTable | None = None,
    ledger_table: StateTable | None = None,
    silences: SilenceStore | None = None,
    dead_letters: DeadLetterSink | None = None,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    console: Console | None = None,
    series: RecentSeries | None = None,
    active: ActiveAlerts | None = None,
    router: Router | None = None,
    transport: Transport | None = None,
    notifiers: Mapping[str, Notifier] | None = None,
) -> AlertDelivery:
    """Wire dispatcher, outbox, notifiers and relay from the settings.

    Tables default to memory; the worker passes its Kafka-backed tables (see ``docs/alerts.md``)
    and, as it runs one delivery per partition, a shared ``router``, ``transport`` and
    ``notifiers``. Network clients are created lazily, inside the event loop, on first use.
    """
    clock = clock or SystemClock()
    router = router or Router(config, teams)
    outbox = Outbox(outbox_table if outbox_table is not None else InMemoryTable())
    ledger = DeliveryLedger(ledger_table if ledger_table is not None else InMemoryTable())
    transport = transport or Transport(config.http_timeout_seconds)
    if notifiers is None:
        notifiers = build_notifiers(config, router, transport, clock, console)
    wake = asyncio.Event()
    dispatcher = AlertDispatcher(
        router,
        outbox,
        silences if silences is not None else InMemorySilenceStore(),
        clock,
        config.group_wait_seconds,
        active=active,
        series=series,
        wake=wake,
    )
    relay = OutboxRelay(
        outbox,
        ledger,
        notifiers,
        RetryPolicy.from_config(config, rng),
        dead_letters if dead_letters is not None else InMemoryDeadLetters(),
        clock,
        max_batch=config.max_alerts_per_message * 5,
    )
    return AlertDelivery(dispatcher, relay, router, transport, wake)


# ``replay --deliver`` raises a whole history in seconds; a short group window is enough to
# group what one replayed window raised.
REPLAY_GROUP_WAIT_SECONDS = 1.0


async def deliver_alerts(
    alerts: Iterable[Alert],
    config: AlertingConfig,
    *,
    teams: TeamsFile | None = None,
    console: Console | None = None,
) -> RelayReport:
    """Send ``alerts`` through the configured notifiers and wait until all are delivered.

    For ``tokenradar replay --deliver``: trying templates and routing against a test workspace.
    """
    replay_config = config.model_copy(update={"group_wait_seconds": REPLAY_GROUP_WAIT_SECONDS})
    delivery = build_delivery(replay_config, teams=teams, console=console)
    try:
        for alert in alerts:
            delivery.accept(alert)
        return await delivery.relay.drain()
    finally:
        await delivery.close()
