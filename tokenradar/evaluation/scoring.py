"""Scoring alerts against labelled incidents.

An alert *matches* an incident when it fires for the incident's team between the incident's start
and its end plus a grace period. An incident is detected by its first matching firing; its delay
is that firing's ``detected_at`` minus the incident start. A user-level incident *names the right
user* when its first matching alert is about that user (its ``user``, or for a team-level alert its
top user contributor). A firing that matches no incident is a false alarm; false alarms are counted
after each team's warm-up and divided by the team-weeks observed after warm-up.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tokenradar.evaluation.runner import AlertRecord, RunResult

WEEK = 7 * 86_400.0


@dataclass(frozen=True, slots=True)
class Incident:
    """A labelled incident (event-time seconds)."""

    kind: str
    team: str
    start: float
    end: float
    user: str | None = None
    magnitude: float | None = None


@dataclass(frozen=True, slots=True)
class Confounder:
    """A labelled normal-but-unusual period (for explaining false alarms)."""

    kind: str
    team: str | None
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class IncidentOutcome:
    """How one incident fared."""

    incident: Incident
    detected: bool
    delay: float | None
    named_right_user: bool | None
    first_alert: AlertRecord | None


@dataclass(slots=True)
class Scorecard:
    """The numbers of one detector on one or more runs."""

    outcomes: list[IncidentOutcome] = field(default_factory=list)
    false_alarms: list[AlertRecord] = field(default_factory=list)
    false_alarm_causes: list[str] = field(default_factory=list)
    team_weeks: float = 0.0

    def extend(self, other: Scorecard) -> None:
        """Pool another scorecard into this one."""
        self.outcomes.extend(other.outcomes)
        self.false_alarms.extend(other.false_alarms)
        self.false_alarm_causes.extend(other.false_alarm_causes)
        self.team_weeks += other.team_weeks

    # ------------------------------------------------------------------------------- summaries
    def recall(self, kind: str | None = None) -> float:
        """Share of incidents (of ``kind``) detected."""
        chosen = [o for o in self.outcomes if kind is None or o.incident.kind == kind]
        return sum(o.detected for o in chosen) / len(chosen) if chosen else float("nan")

    def count(self, kind: str | None = None) -> int:
        """Number of incidents (of ``kind``)."""
        return sum(1 for o in self.outcomes if kind is None or o.incident.kind == kind)

    def median_delay(self, kind: str | None = None) -> float:
        """Median detection delay in seconds over detected incidents (of ``kind``)."""
        delays = [
            o.delay
            for o in self.outcomes
            if o.delay is not None and (kind is None or o.incident.kind == kind)
        ]
        return statistics.median(delays) if delays else float("nan")

    def user_naming(self, kind: str | None = None) -> float:
        """Share of detected user-level incidents whose first alert names the right user."""
        named = [
            o.named_right_user
            for o in self.outcomes
            if o.named_right_user is not None and (kind is None or o.incident.kind == kind)
        ]
        return sum(named) / len(named) if named else float("nan")

    def false_alarms_per_team_week(self) -> float:
        """False alarm episodes per team-week after warm-up."""
        return len(self.false_alarms) / self.team_weeks if self.team_weeks else float("nan")

    def kinds(self) -> list[str]:
        """Incident kinds present, sorted."""
        return sorted({o.incident.kind for o in self.outcomes})


def score_run(
    run: RunResult,
    incidents: Sequence[Incident],
    *,
    stream_start: float,
    stream_end: float,
    warmup_seconds: float,
    grace_seconds: float = 1800.0,
    confounders: Iterable[Confounder] = (),
) -> Scorecard:
    """Match the firing alerts of ``run`` to ``incidents``."""
    firings = _episode_starts(run.alerts)
    by_team: dict[str, list[AlertRecord]] = defaultdict(list)
    for alert in firings:
        by_team[alert.team].append(alert)
    card = Scorecard()
    matched: set[int] = set()
    for incident in incidents:
        candidates = [
            alert
            for alert in by_team.get(incident.team, [])
            if incident.start <= alert.detected_at <= incident.end + grace_seconds
        ]
        for alert in candidates:
            matched.add(id(alert))
        first = candidates[0] if candidates else None
        named = None
        if incident.user is not None and first is not None:
            named_user = first.user if first.user is not None else first.top_user
            named = named_user == incident.user
        card.outcomes.append(
            IncidentOutcome(
                incident=incident,
                detected=first is not None,
                delay=None if first is None else first.detected_at - incident.start,
                named_right_user=named,
                first_alert=first,
            )
        )
    confounder_list = list(confounders)
    for team, first_seen in run.team_first_seen.items():
        observed_from = max(first_seen, stream_start) + warmup_seconds
        if stream_end > observed_from:
            card.team_weeks += (stream_end - observed_from) / WEEK
        for alert in by_team.get(team, []):
            if id(alert) in matched or alert.detected_at < observed_from:
                continue
            card.false_alarms.append(alert)
            card.false_alarm_causes.append(_cause(alert, confounder_list))
    return card


def _episode_starts(alerts: Iterable[AlertRecord]) -> list[AlertRecord]:
    """The first firing of every alert episode (escalations of a firing episode are not new)."""
    firing: set[tuple[str, str, str | None]] = set()
    starts: list[AlertRecord] = []
    for alert in sorted(alerts, key=lambda a: (a.detected_at, a.team, a.kind, a.user or "")):
        key = (alert.team, alert.kind, alert.user)
        if alert.status == "firing":
            if key not in firing:
                firing.add(key)
                starts.append(alert)
        else:
            firing.discard(key)
    return starts


def _cause(alert: AlertRecord, confounders: Sequence[Confounder]) -> str:
    for confounder in confounders:
        if confounder.team not in (None, alert.team):
            continue
        if confounder.start - 3600 <= alert.detected_at <= confounder.end + 3 * 3600:
            return confounder.kind
    return "none"
