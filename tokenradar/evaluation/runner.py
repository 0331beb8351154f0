"""Run a detector factory over a stream of events and collect the alerts it raises.

Two paths give the same kind of result:

* :func:`run_windows` drives detectors and the alert lifecycle directly from closed windows (from
  :func:`~tokenradar.evaluation.windows.aggregate_windows` or any other window source);
* :func:`run_core` sends the events through the streaming core's ``replay`` driver, exactly as
  ``tokenradar replay`` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from alerts.lifecycle import DEFAULT_RESOLVE_AFTER_WINDOWS, TeamAlertLifecycle
from alerts.model import Alert
from detectors.base import Finding, TeamDetector, TeamDetectorFactory, WindowSummary

log = logging.getLogger(__name__)

WindowObserver = Callable[[WindowSummary, TeamDetector, list[Finding]], None]


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """The parts of an alert the scorer needs (event-time seconds)."""

    team: str
    kind: str
    user: str | None
    severity: str
    status: str
    window_start: float
    window_end: float
    detected_at: float
    observed: float
    expected: float
    score: float
    summary: str
    top_user: str | None

    @classmethod
    def from_alert(cls, alert: Alert) -> AlertRecord:
        """From the alert contract."""
        top_user = next((c.name for c in alert.top_contributors if c.dimension == "user"), None)
        return cls(
            team=alert.team,
            kind=alert.kind,
            user=alert.user,
            severity=alert.severity,
            status=alert.status,
            window_start=alert.window_start.timestamp(),
            window_end=alert.window_end.timestamp(),
            detected_at=alert.detected_at.timestamp(),
            observed=alert.observed,
            expected=alert.expected,
            score=alert.score,
            summary=alert.summary,
            top_user=top_user,
        )


@dataclass(slots=True)
class RunResult:
    """Alerts of a run and when each team was first seen."""

    alerts: list[AlertRecord] = field(default_factory=list)
    team_first_seen: dict[str, float] = field(default_factory=dict)
    windows: int = 0
    end: float = 0.0


def run_windows(
    windows: Iterable[WindowSummary],
    factory: TeamDetectorFactory,
    *,
    resolve_after_windows: int = DEFAULT_RESOLVE_AFTER_WINDOWS,
    lateness_seconds: float = 30.0,
    observer: WindowObserver | None = None,
) -> RunResult:
    """Detectors and alert lifecycles per team, fed closed windows in order of end time.

    ``lateness_seconds`` is added to a window's end to give the event time at which the core would
    have closed it (its ``detected_at``).
    """
    result = RunResult()
    detectors: dict[str, TeamDetector] = {}
    lifecycles: dict[str, TeamAlertLifecycle] = {}
    for window in windows:
        detector = detectors.get(window.team)
        if detector is None:
            detector = detectors[window.team] = factory.create(window.team)
            lifecycles[window.team] = TeamAlertLifecycle(
                window.team, resolve_after_windows=resolve_after_windows
            )
            result.team_first_seen[window.team] = window.start
        findings = detector.update(window)
        if observer is not None:
            observer(window, detector, findings)
        detected_at = window.end + lateness_seconds
        for alert in lifecycles[window.team].decide(
            window.start, window.end, detected_at, findings
        ):
            result.alerts.append(AlertRecord.from_alert(alert))
        result.windows += 1
        result.end = max(result.end, window.end)
    return result


def run_core(
    events: Iterable[Mapping[str, Any]],
    factory: TeamDetectorFactory,
    *,
    partitions: int = 6,
    window_phase: str = "aligned",
) -> RunResult:
    """The events through the streaming core's ``replay`` driver (``tokenradar replay``)."""
    from tokenradar.core.engine import CoreConfig
    from tokenradar.replay import replay_messages

    result = RunResult()
    config = CoreConfig(window_phase=window_phase)
    replayed = replay_messages(_messages(events), config, factory, partitions, flush=True)
    for closed in replayed.windows:
        summary = closed.summary
        if summary.team not in result.team_first_seen:
            result.team_first_seen[summary.team] = summary.start
        result.end = max(result.end, summary.end)
    result.windows = len(replayed.windows)
    result.alerts = [AlertRecord.from_alert(alert) for alert in replayed.alerts]
    return result


def _messages(events: Iterable[Mapping[str, Any]], batch: int = 1) -> Iterator[bytes]:
    """Events as producer messages, one event each (as a JSONL file replays them; the core
    records a team's applied offset per message)."""
    pending: list[Mapping[str, Any]] = []
    for event in events:
        pending.append(event)
        if len(pending) >= batch:
            yield orjson.dumps(pending)
            pending = []
    if pending:
        yield orjson.dumps(pending)
