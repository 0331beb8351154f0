"""Alert lifecycle per ``dedup_key``: turns per-window decisions into firing and resolved alerts.

Pure and driven by event time. The streaming core keeps one :class:`TeamAlertLifecycle` per team
inside the team's checkpointed state and calls :meth:`TeamAlertLifecycle.decide` once per closed
window with the findings the team's detector returned for it.

Each ``dedup_key`` moves through three phases::

    inactive --finding--> pending --"for" period met--> firing --clean period met--> resolved
                 ^            |                            |
                 +--clean-----+                            +-- escalation / repeat (firing again)

* **pending** is silent: a key must keep its finding for ``for_windows`` consecutive windows (or
  ``for_seconds`` of event time) before it fires, so one noisy window never pages. A single clean
  window drops a pending key. A finding whose evidence already spans the for-period (its
  ``evidence_seconds``: a verdict judged once over closed hours, such as a working day's evening)
  fires on its window: it is not one noisy window, and it is not judged again in the next one.
* **firing** emits one ``firing`` alert when it starts, another when the severity rises above
  every severity already announced in the episode (escalation), and a reminder after
  ``repeat_interval_seconds`` of event time without any announcement (repeat).
* **resolve hysteresis**: a firing key resolves only after ``resolve_after_windows`` consecutive
  clean windows (or ``resolve_after_seconds``), far more than it took to fire, so a flapping
  series stays one episode instead of a stream of fire/resolve pairs.

Windows the core never emitted (a team that sent nothing) count as clean windows.

Every emitted alert goes to the alerts topic at once; grouping, silences and throttling only shape
the notifications that are derived from these alerts later (``alerts.dispatch``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from alerts.config import (
    DEFAULT_FOR_WINDOWS,
    DEFAULT_IMMEDIATE_KINDS,
    DEFAULT_REPEAT_INTERVAL_SECONDS,
    AlertingConfig,
)
from alerts.config import DEFAULT_RESOLVE_AFTER_WINDOWS as _DEFAULT_RESOLVE_AFTER_WINDOWS
from alerts.model import (
    Alert,
    AlertSeverity,
    AlertStatus,
    TopContributor,
    alert_id_for,
    dedup_key_for,
    utc,
)
from detectors.base import SEVERITY_RANK, Contributor, Finding

log = logging.getLogger(__name__)

# Re-exported: the core's CoreConfig defaults to it.
DEFAULT_RESOLVE_AFTER_WINDOWS = _DEFAULT_RESOLVE_AFTER_WINDOWS
STATE_VERSION = 2

Phase = Literal["pending", "firing"]


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    """How long a key must be bad to fire, good to resolve, and quiet to be repeated.

    Parameters
    ----------
    for_windows
        Consecutive windows with a finding before a key fires (used when ``for_seconds`` is None).
    for_seconds
        Event time from the start of the first bad window to the end of the current one before a
        key fires; replaces ``for_windows`` when set.
    resolve_after_windows
        Consecutive clean windows before a firing key resolves.
    resolve_after_seconds
        Clean event time before a firing key resolves; replaces ``resolve_after_windows``.
    repeat_interval_seconds
        Event time after the last announcement of a firing key before it is announced again.
    immediate_kinds
        Kinds that fire on their first window (facts such as an exhausted budget, not noise).
    """

    for_windows: int = DEFAULT_FOR_WINDOWS
    for_seconds: float | None = None
    resolve_after_windows: int = DEFAULT_RESOLVE_AFTER_WINDOWS
    resolve_after_seconds: float | None = None
    repeat_interval_seconds: float = DEFAULT_REPEAT_INTERVAL_SECONDS
    immediate_kinds: frozenset[str] = frozenset(DEFAULT_IMMEDIATE_KINDS)

    @classmethod
    def from_config(cls, config: AlertingConfig) -> LifecyclePolicy:
        """The lifecycle part of the alerting settings."""
        return cls(
            for_windows=config.for_windows,
            for_seconds=config.for_seconds,
            resolve_after_windows=config.resolve_after_windows,
            resolve_after_seconds=config.resolve_after_seconds,
            repeat_interval_seconds=config.repeat_interval_seconds,
            immediate_kinds=frozenset(config.immediate_kinds),
        )


@dataclass(slots=True)
class _Track:
    """What the lifecycle remembers about one ``dedup_key`` that is pending or firing."""

    kind: str
    user: str | None
    metric: str
    phase: Phase
    streak_start: float
    streak_windows: int = 0
    clean_windows: int = 0
    clean_since: float | None = None
    # Pending: the highest severity seen so far. Firing: the highest severity announced.
    severity: str = "info"
    # Event time (window end) of the last firing announcement; None until known (old states).
    last_notified_at: float | None = None
    last: dict[str, Any] = field(default_factory=dict)

    def to_plain(self) -> list[Any]:
        return [
            self.kind,
            self.user,
            self.metric,
            self.phase,
            self.streak_start,
            self.streak_windows,
            self.clean_windows,
            self.clean_since,
            self.severity,
            self.last_notified_at,
            self.last,
        ]

    @classmethod
    def from_plain(cls, plain: list[Any]) -> _Track:
        (kind, user, metric, phase, start, streak, clean, since, severity, notified, last) = plain
        return cls(
            kind, user, metric, phase, float(start), int(streak), int(clean),
            None if since is None else float(since), severity,
            None if notified is None else float(notified), dict(last),
        )  # fmt: skip


class TeamAlertLifecycle:
    """The pending → firing → resolved lifecycle of every ``dedup_key`` of one team.

    Parameters
    ----------
    team
        The team whose alerts this lifecycle decides.
    resolve_after_windows
        Overrides ``policy.resolve_after_windows`` (kept for callers that only set this).
    policy
        The "for" period, resolve hysteresis and repeat interval; defaults to
        :class:`LifecyclePolicy`'s defaults.

    Examples
    --------
    >>> from detectors.base import Finding
    >>> lc = TeamAlertLifecycle("search", policy=LifecyclePolicy(for_windows=2,
    ...                                                          resolve_after_windows=1))
    >>> f = Finding(kind="team_surge", severity="error", metric="total_tokens",
    ...             observed=900.0, expected=100.0, score=0.99, summary="surge")
    >>> lc.decide(0.0, 60.0, 90.0, [f])  # pending: one window is not enough
    []
    >>> [a.status for a in lc.decide(60.0, 120.0, 150.0, [f])]
    ['firing']
    >>> lc.decide(120.0, 180.0, 210.0, [f])
    []
    >>> [a.status for a in lc.decide(180.0, 240.0, 270.0, [])]
    ['resolved']
    """

    def __init__(
        self,
        team: str,
        *,
        resolve_after_windows: int | None = None,
        policy: LifecyclePolicy | None = None,
    ) -> None:
        policy = policy or LifecyclePolicy()
        if resolve_after_windows is not None:
            policy = LifecyclePolicy(
                for_windows=policy.for_windows,
                for_seconds=policy.for_seconds,
                resolve_after_windows=resolve_after_windows,
                resolve_after_seconds=policy.resolve_after_seconds,
                repeat_interval_seconds=policy.repeat_interval_seconds,
                immediate_kinds=policy.immediate_kinds,
            )
        self.team = team
        self.policy = policy
        self._tracks: dict[str, _Track] = {}
        self._last_window_end: float | None = None

    @property
    def resolve_after_windows(self) -> int:
        """Consecutive clean windows before a firing key resolves."""
        return self.policy.resolve_after_windows

    @property
    def firing_keys(self) -> list[str]:
        """The dedup keys currently firing."""
        return sorted(k for k, t in self._tracks.items() if t.phase == "firing")

    @property
    def pending_keys(self) -> list[str]:
        """The dedup keys with a finding that have not yet met the "for" period."""
        return sorted(k for k, t in self._tracks.items() if t.phase == "pending")

    def decide(
        self,
        window_start: float,
        window_end: float,
        detected_at: float,
        findings: Iterable[Finding],
    ) -> list[Alert]:
        """Alerts (lifecycle changes) caused by this window's findings.

        Parameters
        ----------
        window_start, window_end
            The closed window, event-time seconds since the epoch.
        detected_at
            The stream's event time when the window closed.
        findings
            What the team's detector reports for this window.

        Returns
        -------
        list[Alert]
            Firing alerts (first fire, escalation, repeat) and resolved alerts, ordered by
            ``dedup_key``; empty when nothing changed.
        """
        when = (window_start, window_end, detected_at)
        alerts: list[Alert] = []
        self._count_skipped_windows(window_start, window_end, when, alerts)

        best: dict[str, Finding] = {}
        for finding in findings:
            key = dedup_key_for(self.team, finding.kind, finding.user)
            held = best.get(key)
            if held is None or SEVERITY_RANK[finding.severity] > SEVERITY_RANK[held.severity]:
                best[key] = finding

        for key in sorted(best):
            alert = self._bad_window(key, best[key], when)
            if alert is not None:
                alerts.append(alert)
        for key in sorted(set(self._tracks) - set(best)):
            alert = self._clean_windows(key, 1, window_start, when)
            if alert is not None:
                alerts.append(alert)

        if self._last_window_end is None or window_end > self._last_window_end:
            self._last_window_end = window_end
        return alerts

    # -- transitions --------------------------------------------------------------------------

    def _count_skipped_windows(
        self,
        window_start: float,
        window_end: float,
        when: tuple[float, float, float],
        alerts: list[Alert],
    ) -> None:
        """Windows the core never emitted (no traffic) are clean windows for every key."""
        previous_end = self._last_window_end
        size = window_end - window_start
        if previous_end is None or size <= 0 or window_start <= previous_end:
            return
        skipped = round((window_start - previous_end) / size)
        if skipped <= 0:
            return
        for key in sorted(self._tracks):
            alert = self._clean_windows(key, skipped, previous_end, when)
            if alert is not None:
                alerts.append(alert)

    def _bad_window(
        self, key: str, finding: Finding, when: tuple[float, float, float]
    ) -> Alert | None:
        window_start, window_end, _ = when
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = _Track(
                kind=finding.kind,
                user=finding.user,
                metric=finding.metric,
                phase="pending",
                streak_start=window_start,
                severity=finding.severity,
            )
        track.clean_windows = 0
        track.clean_since = None
        track.last = _finding_fields(finding)
        track.metric = finding.metric
        if track.phase == "pending":
            track.streak_windows += 1
            if SEVERITY_RANK[finding.severity] > SEVERITY_RANK[track.severity]:
                track.severity = finding.severity
            if not (
                self._for_period_met(track, window_end)
                or self._evidence_covers_for_period(finding, window_end - window_start)
            ):
                return None
            track.phase = "firing"
            track.last_notified_at = window_end
            return self._alert(key, track, "firing", when)
        # Firing already.
        if track.last_notified_at is None:
            track.last_notified_at = window_end
        if SEVERITY_RANK[finding.severity] > SEVERITY_RANK[track.severity]:
            track.severity = finding.severity
            track.last_notified_at = window_end
            return self._alert(key, track, "firing", when)
        if window_end - track.last_notified_at >= self.policy.repeat_interval_seconds:
            track.last_notified_at = window_end
            return self._alert(key, track, "firing", when)
        return None

    def _clean_windows(
        self, key: str, count: int, clean_since: float, when: tuple[float, float, float]
    ) -> Alert | None:
        track = self._tracks[key]
        if track.phase == "pending":
            # The condition must hold without a break; a gap starts the "for" period over.
            del self._tracks[key]
            return None
        track.clean_windows += count
        if track.clean_since is None:
            track.clean_since = clean_since
        if not self._resolve_period_met(track, when[1]):
            return None
        del self._tracks[key]
        return self._alert(key, track, "resolved", when)

    def _for_period_met(self, track: _Track, window_end: float) -> bool:
        policy = self.policy
        if track.kind in policy.immediate_kinds:
            return True
        if policy.for_seconds is not None:
            return window_end - track.streak_start >= policy.for_seconds
        return track.streak_windows >= policy.for_windows

    def _evidence_covers_for_period(self, finding: Finding, window_seconds: float) -> bool:
        policy = self.policy
        period = policy.for_seconds
        if period is None:
            period = policy.for_windows * window_seconds
        return finding.evidence_seconds >= period

    def _resolve_period_met(self, track: _Track, window_end: float) -> bool:
        policy = self.policy
        if policy.resolve_after_seconds is not None and track.clean_since is not None:
            return window_end - track.clean_since >= policy.resolve_after_seconds
        return track.clean_windows >= policy.resolve_after_windows

    def _alert(
        self, key: str, track: _Track, status: AlertStatus, when: tuple[float, float, float]
    ) -> Alert:
        window_start, window_end, detected_at = when
        last = track.last
        severity: AlertSeverity = track.severity  # type: ignore[assignment]
        summary = str(last.get("summary", track.kind))
        return Alert(
            alert_id=alert_id_for(key, f"{status}:{severity}", window_end),
            dedup_key=key,
            status=status,
            kind=track.kind,
            severity=severity,
            team=self.team,
            user=track.user,
            metric=track.metric,
            observed=float(last.get("observed", 0.0)),
            expected=float(last.get("expected", 0.0)),
            score=0.0 if status == "resolved" else _clamp01(float(last.get("score", 0.0))),
            window_start=utc(window_start),
            window_end=utc(window_end),
            detected_at=utc(detected_at),
            summary=f"Resolved: {summary}" if status == "resolved" else summary,
            top_contributors=[
                TopContributor(dimension=dimension, name=name, share=_clamp01(share))
                for dimension, name, share in last.get("contributors", [])
            ],
        )

    # -- checkpoint ---------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Plain-data state for the team checkpoint (msgpack- and JSON-able)."""
        return {
            "v": STATE_VERSION,
            "last_window_end": self._last_window_end,
            "tracks": {key: track.to_plain() for key, track in self._tracks.items()},
        }

    @classmethod
    def from_state(
        cls,
        team: str,
        state: dict[str, Any],
        *,
        resolve_after_windows: int | None = None,
        policy: LifecyclePolicy | None = None,
    ) -> TeamAlertLifecycle:
        """Restore a lifecycle saved by :meth:`to_state` (or by the first, version-1 lifecycle)."""
        lifecycle = cls(team, resolve_after_windows=resolve_after_windows, policy=policy)
        version = state.get("v", 1)
        if version == 1:
            # Version 1 kept firing keys only: [kind, user, severity, metric, clean, last].
            for key, (kind, user, severity, metric, clean, last) in state.get("firing", {}).items():
                lifecycle._tracks[key] = _Track(
                    kind=kind, user=user, metric=metric, phase="firing", streak_start=0.0,
                    clean_windows=int(clean), severity=severity, last=dict(last),
                )  # fmt: skip
            return lifecycle
        if version != STATE_VERSION:
            raise ValueError(f"unknown lifecycle state version {version!r}")
        last_end = state.get("last_window_end")
        lifecycle._last_window_end = None if last_end is None else float(last_end)
        for key, plain in state.get("tracks", {}).items():
            lifecycle._tracks[key] = _Track.from_plain(list(plain))
        return lifecycle


def _clamp01(value: float) -> float:
    return min(1.0, max(0.0, value))


def _finding_fields(finding: Finding) -> dict[str, Any]:
    return {
        "observed": finding.observed,
        "expected": finding.expected,
        "score": finding.score,
        "summary": finding.summary,
        "contributors": [_contributor(c) for c in finding.top_contributors],
    }


def _contributor(contributor: Contributor) -> list[Any]:
    return [contributor.dimension, contributor.name, contributor.share]
