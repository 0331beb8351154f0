"""The naive baseline: exponentially weighted z-scores of log volumes on 10-minute windows.

It sums a team's 60-second windows into 10-minute blocks and, when a block is complete, compares
``log1p(tokens)`` of the team and of each user in it with their exponentially weighted mean and
variance. There is no seasonality, no calibration and no notion of idle time: it is what a first
attempt looks like, and ``tokenradar evaluate`` prints it beside the real detector.

Examples
--------
>>> from detectors.base import Usage, WindowSummary
>>> factory = EWZScoreBaseline(warmup_blocks=6)
>>> detector = factory.create("search")
>>> def window(minute, tokens):
...     usage = Usage(input_tokens=tokens, requests=1)
...     return WindowSummary("search", 60.0 * minute, 60.0 * (minute + 1), usage, {"ann": usage})
>>> quiet = [detector.update(window(m, 1000 + (m % 3) * 100)) for m in range(120)]
>>> sum(map(len, quiet))
0
>>> loud = [detector.update(window(120 + m, 50_000)) for m in range(11)]
>>> sorted({f.kind for findings in loud for f in findings})
['team_surge', 'user_runaway']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgpack

from detectors.base import Contributor, Finding, WindowSummary

BASELINE_STATE_VERSION = 1


@dataclass(slots=True)
class _EWStat:
    mean: float = 0.0
    var: float = 0.0
    count: int = 0

    def z(self, value: float) -> float:
        return (value - self.mean) / math.sqrt(max(self.var, 0.25 * 0.25))

    def learn(self, value: float, alpha: float) -> None:
        if self.count == 0:
            self.mean = value
        else:
            delta = value - self.mean
            self.mean += alpha * delta
            self.var = (1.0 - alpha) * (self.var + alpha * delta * delta)
        self.count += 1


class EWZScoreBaselineDetector:
    """EW z-score of the team's and each user's log tokens per 10-minute block.

    Parameters
    ----------
    team
        The team it watches.
    block_seconds
        Width of the blocks the 60-second windows are summed into.
    alpha
        Weight of the newest block in the running mean and variance.
    threshold
        z-score above which a block is anomalous.
    warmup_blocks
        Blocks a series must have seen before it may report anything.
    """

    def __init__(
        self,
        team: str,
        block_seconds: float = 600.0,
        alpha: float = 0.05,
        threshold: float = 4.0,
        warmup_blocks: int = 144,
    ) -> None:
        self.team = team
        self.block_seconds = block_seconds
        self.alpha = alpha
        self.threshold = threshold
        self.warmup_blocks = warmup_blocks
        self._block_start = math.nan
        self._block_team = 0.0
        self._block_users: dict[str, float] = {}
        self._team = _EWStat()
        self._users: dict[str, _EWStat] = {}
        self._findings: list[Finding] = []

    def update(self, window: WindowSummary) -> list[Finding]:
        """Add the window to its block; score the previous block once it is complete."""
        block_start = math.floor(window.start / self.block_seconds) * self.block_seconds
        if self._block_start == self._block_start and block_start != self._block_start:
            self._findings = self._close_block()
            if block_start - self._block_start > self.block_seconds:
                self._findings = []  # a gap: the block's findings do not carry over
        if block_start != self._block_start:
            self._block_start = block_start
            self._block_team = 0.0
            self._block_users = {}
        self._block_team += window.totals.total_tokens
        for user, usage in window.by_user.items():
            self._block_users[user] = self._block_users.get(user, 0.0) + usage.total_tokens
        return list(self._findings)

    def _close_block(self) -> list[Finding]:
        findings: list[Finding] = []
        value = math.log1p(self._block_team)
        stat = self._team
        if stat.count >= self.warmup_blocks and (z := stat.z(value)) > self.threshold:
            total = self._block_team or 1.0
            ranked = sorted(self._block_users.items(), key=lambda item: -item[1])[:3]
            findings.append(
                Finding(
                    kind="team_surge",
                    severity="warning",
                    metric="total_tokens",
                    observed=self._block_team,
                    expected=math.expm1(stat.mean),
                    score=min(1.0, z / (2.0 * self.threshold)),
                    summary=f"{self.team}: {self._block_team:,.0f} tokens in 10 minutes",
                    top_contributors=tuple(
                        Contributor("user", name, tokens / total) for name, tokens in ranked
                    ),
                )
            )
        stat.learn(value, self.alpha)
        for user, tokens in self._block_users.items():
            user_stat = self._users.setdefault(user, _EWStat())
            value = math.log1p(tokens)
            if user_stat.count >= self.warmup_blocks and (z := user_stat.z(value)) > self.threshold:
                findings.append(
                    Finding(
                        kind="user_runaway",
                        severity="warning",
                        metric="total_tokens",
                        observed=tokens,
                        expected=math.expm1(user_stat.mean),
                        score=min(1.0, z / (2.0 * self.threshold)),
                        summary=f"{user} in {self.team}: {tokens:,.0f} tokens in 10 minutes",
                        user=user,
                        top_contributors=(Contributor("user", user, 1.0),),
                    )
                )
            user_stat.learn(value, self.alpha)
        return findings

    def to_state(self) -> bytes:
        """Compact, versioned snapshot (msgpack)."""

        def plain(stat: _EWStat) -> list[Any]:
            return [stat.mean, stat.var, stat.count]

        packed: bytes = msgpack.packb(
            {
                "v": BASELINE_STATE_VERSION,
                "params": [self.block_seconds, self.alpha, self.threshold, self.warmup_blocks],
                "block": [self._block_start, self._block_team, self._block_users],
                "team": plain(self._team),
                "users": {name: plain(stat) for name, stat in self._users.items()},
                "findings": [_finding_to_plain(f) for f in self._findings],
            }
        )
        return packed

    @classmethod
    def from_state(cls, team: str, data: bytes) -> EWZScoreBaselineDetector:
        """Inverse of :meth:`to_state`."""
        plain = msgpack.unpackb(data, raw=False)
        if plain.get("v") != BASELINE_STATE_VERSION:
            raise ValueError(f"unknown baseline state version {plain.get('v')!r}")
        detector = cls(team, *plain["params"])
        detector._block_start, detector._block_team, users = plain["block"]
        detector._block_users = dict(users)
        detector._team = _EWStat(*plain["team"])
        detector._users = {name: _EWStat(*values) for name, values in plain["users"].items()}
        detector._findings = [_finding_from_plain(f) for f in plain["findings"]]
        return detector


def _finding_to_plain(finding: Finding) -> list[Any]:
    contributors = [[c.dimension, c.name, c.share] for c in finding.top_contributors]
    return [
        finding.kind,
        finding.severity,
        finding.metric,
        finding.observed,
        finding.expected,
        finding.score,
        finding.summary,
        finding.user,
        contributors,
    ]


def _finding_from_plain(plain: list[Any]) -> Finding:
    kind, severity, metric, observed, expected, score, summary, user, contributors = plain
    return Finding(
        kind=kind,
        severity=severity,
        metric=metric,
        observed=observed,
        expected=expected,
        score=score,
        summary=summary,
        user=user,
        top_contributors=tuple(Contributor(*c) for c in contributors),
    )


class EWZScoreBaseline:
    """Factory of :class:`EWZScoreBaselineDetector` (a ``TeamDetectorFactory``)."""

    def __init__(self, **params: Any) -> None:
        self.params = params

    def create(self, team: str) -> EWZScoreBaselineDetector:
        """A detector for a team with no history."""
        return EWZScoreBaselineDetector(team, **self.params)

    def restore(self, team: str, state: bytes) -> EWZScoreBaselineDetector:
        """A detector restored from a checkpoint."""
        return EWZScoreBaselineDetector.from_state(team, state)
