"""Inhibition: while a team's data is missing or its budget is spent, its lesser alerts stay quiet.

A data gap makes every other detector of the team see nonsense, and an exhausted budget makes
surge alerts redundant. An :class:`InhibitRule` says which kinds inhibit; an inhibiting alert
that is firing suppresses the notifications of the same team's other alerts whose severity is not
above its own. Like silences, inhibition shapes notifications only; the alerts topic keeps
everything.

:class:`ActiveAlerts` is the view of what is firing that inhibition needs. It is a projection of
the alerts topic (which is keyed by ``dedup_key``, so its compacted form is exactly this view) and
can be rebuilt from it; its plain-data state is small enough to checkpoint too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from alerts.model import Alert
from alerts.store import StateTable
from detectors.base import SEVERITY_RANK

# Rows of the firing view in a delivery table are keyed by this prefix and the dedup_key.
ACTIVE_KEY_PREFIX = "active|"
DEFAULT_INHIBITING_KINDS = frozenset({"data_gap", "budget_exhausted"})


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """Firing alerts of ``source_kinds`` inhibit other alerts that share the ``equal`` labels.

    Only targets whose severity is at most the source's are inhibited: a critical surge still
    gets through a warning-level data gap.
    """

    source_kinds: frozenset[str]
    equal: tuple[str, ...] = ("team",)

    def inhibits(self, source: Alert, target: Alert) -> bool:
        """Whether firing ``source`` suppresses ``target``."""
        if source.dedup_key == target.dedup_key or source.kind not in self.source_kinds:
            return False
        if target.kind in self.source_kinds:
            return False
        if any(getattr(source, label) != getattr(target, label) for label in self.equal):
            return False
        return SEVERITY_RANK[target.severity] <= SEVERITY_RANK[source.severity]


DEFAULT_INHIBIT_RULES: tuple[InhibitRule, ...] = (InhibitRule(DEFAULT_INHIBITING_KINDS),)


class ActiveAlerts:
    """The latest firing alert of every ``dedup_key`` that has not resolved.

    With a ``table`` the view is durable: every change is written under ``active|<dedup_key>``
    and the view is read back from the table when it is created, so a worker that restarts (or
    takes over a partition) still knows that a team's budget is exhausted and keeps its lesser
    alerts quiet.
    """

    def __init__(self, alerts: Iterable[Alert] = (), *, table: StateTable | None = None) -> None:
        self._firing: dict[str, Alert] = {}
        self._table = table
        if table is not None:
            for key, value in table.items():
                if key.startswith(ACTIVE_KEY_PREFIX):
                    alert = Alert.model_validate(value)
                    self._firing[alert.dedup_key] = alert
        for alert in alerts:
            self.observe(alert)

    def observe(self, alert: Alert) -> None:
        """Fold one lifecycle change into the view."""
        key = ACTIVE_KEY_PREFIX + alert.dedup_key
        if alert.status == "firing":
            self._firing[alert.dedup_key] = alert
            if self._table is not None:
                self._table.set(key, alert.model_dump(mode="json"))
        elif self._firing.pop(alert.dedup_key, None) is not None and self._table is not None:
            self._table.delete(key)

    def firing(self, team: str | None = None) -> list[Alert]:
        """Firing alerts, of one team or all, ordered by ``dedup_key``."""
        return [
            alert
            for key, alert in sorted(self._firing.items())
            if team is None or alert.team == team
        ]

    def inhibitor_of(
        self, alert: Alert, rules: Iterable[InhibitRule] = DEFAULT_INHIBIT_RULES
    ) -> Alert | None:
        """The firing alert that inhibits ``alert`` under ``rules``, if any."""
        rules = tuple(rules)
        for source in self.firing(alert.team):
            if any(rule.inhibits(source, alert) for rule in rules):
                return source
        return None

    def to_state(self) -> list[dict[str, Any]]:
        """Plain-data state (the firing alerts in the contract's JSON shape)."""
        return [alert.model_dump(mode="json") for _, alert in sorted(self._firing.items())]

    @classmethod
    def from_state(cls, state: Iterable[dict[str, Any]]) -> ActiveAlerts:
        """Restore a view saved by :meth:`to_state`."""
        return cls(Alert.model_validate(plain) for plain in state)
