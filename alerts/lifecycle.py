"""Alert lifecycle per ``dedup_key``: turns per-window decisions into firing and resolved alerts.

Pure and driven by event time. The streaming core keeps one :class:`TeamAlertLifecycle` per team
inside the team's checkpointed state and calls :meth:`TeamAlertLifecycle.decide` once per closed
window with the findings the team's detector returned for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from alerts.model import Alert, TopContributor, alert_id_for, dedup_key_for, utc
from detectors.base import SEVERITY_RANK, Finding

DEFAULT_RESOLVE_AFTER_WINDOWS = 5


@dataclass(slots=True)
class _Episode:
    kind: str
    user: str | None
    severity: str
    metric: str
    clean_windows: int = 0
    last_finding: dict[str, Any] = field(default_factory=dict)


class TeamAlertLifecycle:
    """Firing on the first window with a finding, resolved after enough clean windows.

    Parameters
    ----------
    team
        The team whose alerts this lifecycle decides.
    resolve_after_windows
        Consecutive closed windows without a finding for a ``dedup_key`` before it resolves.

    Examples
    --------
    >>> from detectors.base import Finding
    >>> lc = TeamAlertLifecycle("search", resolve_after_windows=1)
    >>> f = Finding(kind="team_surge", severity="error", metric="total_tokens",
    ...             observed=900.0, expected=100.0, score=0.99, summary="surge")
    >>> [a.status for a in lc.decide(0.0, 60.0, 90.0, [f])]
    ['firing']
    >>> lc.decide(60.0, 120.0, 150.0, [f])
    []
    >>> [a.status for a in lc.decide(120.0, 180.0, 210.0, [])]
    ['resolved']
    """

    def __init__(
        self, team: str, *, resolve_after_windows: int = DEFAULT_RESOLVE_AFTER_WINDOWS
    ) -> None:
        self.team = team
        self.resolve_after_windows = resolve_after_windows
        self._firing: dict[str, _Episode] = {}

    @property
    def firing_keys(self) -> list[str]:
        """The dedup keys currently firing."""
        return sorted(self._firing)

    def decide(
        self,
        window_start: float,
        window_end: float,
        detected_at: float,
        findings: Iterable[Finding],
    ) -> list[Alert]:
        """Alerts (lifecycle changes) caused by this window's findings."""
        alerts: list[Alert] = []
        seen: set[str] = set()
        for finding in findings:
            key = dedup_key_for(self.team, finding.kind, finding.user)
            if key in seen:
                continue
            seen.add(key)
            episode = self._firing.get(key)
            if episode is None:
                self._firing[key] = _Episode(
                    kind=finding.kind,
                    user=finding.user,
                    severity=finding.severity,
                    metric=finding.metric,
                    last_finding=_finding_fields(finding),
                )
                alerts.append(
                    self._alert(key, "firing", finding, window_start, window_end, detected_at)
                )
                continue
            episode.clean_windows = 0
            episode.last_finding = _finding_fields(finding)
            if SEVERITY_RANK[finding.severity] > SEVERITY_RANK[episode.severity]:
                episode.severity = finding.severity
                alerts.append(
                    self._alert(key, "firing", finding, window_start, window_end, detected_at)
                )
        for key in sorted(set(self._firing) - seen):
            episode = self._firing[key]
            episode.clean_windows += 1
            if episode.clean_windows >= self.resolve_after_windows:
                del self._firing[key]
                last = episode.last_finding
                resolved = Finding(
                    kind=episode.kind,
                    severity=episode.severity,  # type: ignore[arg-type]
                    metric=episode.metric,
                    observed=float(last.get("observed", 0.0)),
                    expected=float(last.get("expected", 0.0)),
                    score=0.0,
                    summary=f"resolved: {last.get('summary', episode.kind)}",
                    user=episode.user,
                )
                alerts.append(
                    self._alert(key, "resolved", resolved, window_start, window_end, detected_at)
                )
        return alerts

    def _alert(
        self,
        key: str,
        status: str,
        finding: Finding,
        window_start: float,
        window_end: float,
        detected_at: float,
    ) -> Alert:
        return Alert(
            alert_id=alert_id_for(key, f"{status}:{finding.severity}", window_end),
            dedup_key=key,
            status=status,
            kind=finding.kind,
            severity=finding.severity,
            team=self.team,
            user=finding.user,
            metric=finding.metric,
            observed=finding.observed,
            expected=finding.expected,
            score=min(1.0, max(0.0, finding.score)),
            window_start=utc(window_start),
            window_end=utc(window_end),
            detected_at=utc(detected_at),
            summary=finding.summary,
            top_contributors=[
                TopContributor(
                    dimension=c.dimension, name=c.name, share=min(1.0, max(0.0, c.share))
                )
                for c in finding.top_contributors
            ],
        )

    def to_state(self) -> dict[str, Any]:
        """Plain-data state for the team checkpoint."""
        return {
            "v": 1,
            "firing": {
                key: [e.kind, e.user, e.severity, e.metric, e.clean_windows, e.last_finding]
                for key, e in self._firing.items()
            },
        }

    @classmethod
    def from_state(
        cls,
        team: str,
        state: dict[str, Any],
        *,
        resolve_after_windows: int = DEFAULT_RESOLVE_AFTER_WINDOWS,
    ) -> TeamAlertLifecycle:
        """Restore a lifecycle saved by :meth:`to_state`."""
        lifecycle = cls(team, resolve_after_windows=resolve_after_windows)
        for key, (kind, user, severity, metric, clean, last) in state.get("firing", {}).items():
            lifecycle._firing[key] = _Episode(kind, user, severity, metric, clean, dict(last))
        return lifecycle


def _finding_fields(finding: Finding) -> dict[str, Any]:
    return {"observed": finding.observed, "expected": finding.expected, "summary": finding.summary}
