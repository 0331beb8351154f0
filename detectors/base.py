"""The seam between the streaming core and the detectors.

The core closes event-time windows per team and hands each closed window to that team's
:class:`TeamDetector` as a :class:`WindowSummary`. The detector scores the window against what it
has learned, learns from it, and returns the anomalies it currently sees as :class:`Finding`
objects. A finding is a *decision for this window*; the alert lifecycle (``alerts/``) turns the
sequence of decisions into firing and resolved alerts.

Everything here is plain data: numbers, strings and event-time seconds since the epoch. Nothing in
``detectors/`` reads the wall clock or performs I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

Severity = Literal["info", "warning", "error", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2, "critical": 3}


@dataclass(frozen=True, slots=True)
class Usage:
    """Token and cost totals of a set of requests."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cost_usd: float = 0.0
    requests: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens (cached input tokens are part of the input)."""
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class WindowSummary:
    """One closed event-time window of one team.

    ``start`` and ``end`` are event-time seconds since the epoch (UTC); the window is
    ``[start, end)``. Windows in which a team sent nothing are not emitted, so consecutive
    summaries of a team can be more than one window apart.
    """

    team: str
    start: float
    end: float
    totals: Usage
    by_user: Mapping[str, Usage] = field(default_factory=dict)
    by_model: Mapping[str, Usage] = field(default_factory=dict)
    by_tool: Mapping[str, Usage] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Contributor:
    """Who or what accounts for part of an excess: ``share`` is in [0, 1]."""

    dimension: Literal["user", "model", "tool"]
    name: str
    share: float


@dataclass(frozen=True, slots=True)
class Finding:
    """An anomaly a detector sees in the window it was just given.

    ``kind`` names the incident class (for example ``team_surge`` or ``user_runaway``); together
    with ``team`` and ``user`` it forms the alert's ``dedup_key``. ``user`` is ``None`` for
    team-level findings. ``score`` is in [0, 1]. ``evidence_seconds`` is how much event time the
    finding's evidence already spans when the verdict is one judged once over closed hours (a
    working day's evening, two hours of a weekend), and 0 for a verdict of the current window;
    the alert lifecycle counts such a finding as held for that long.
    """

    kind: str
    severity: Severity
    metric: str
    observed: float
    expected: float
    score: float
    summary: str
    user: str | None = None
    top_contributors: tuple[Contributor, ...] = ()
    evidence_seconds: float = 0.0


class TeamDetector(Protocol):
    """What the core needs from a per-team detector."""

    def update(self, window: WindowSummary) -> list[Finding]:
        """Score ``window`` against the past, learn from it, return the current findings."""
        ...

    def to_state(self) -> bytes:
        """Serialise the detector (compact, versioned) for a checkpoint."""
        ...


class TeamDetectorFactory(Protocol):
    """Creates fresh detectors and restores checkpointed ones."""

    def create(self, team: str) -> TeamDetector:
        """A new detector for a team that has no history."""
        ...

    def restore(self, team: str, state: bytes) -> TeamDetector:
        """A detector restored from :meth:`TeamDetector.to_state`."""
        ...
