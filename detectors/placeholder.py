"""A deliberately simple first detector: exponentially weighted z-scores on log volumes.

It watches a team's total tokens per window and each user's tokens per window, and reports a
finding while a value sits far above its exponentially weighted mean. It has no seasonality and no
calibration; it exists so the pipeline has something real to run end to end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgpack

from detectors.base import Contributor, Finding, WindowSummary

PLACEHOLDER_STATE_VERSION = 1


@dataclass(slots=True)
class EWStat:
    """Exponentially weighted mean and variance of one series."""

    mean: float = 0.0
    var: float = 0.0
    count: int = 0

    def z(self, value: float, floor: float) -> float:
        return (value - self.mean) / math.sqrt(max(self.var, floor * floor))

    def learn(self, value: float, alpha: float) -> None:
        if self.count == 0:
            self.mean = value
        else:
            delta = value - self.mean
            self.mean += alpha * delta
            self.var = (1 - alpha) * (self.var + alpha * delta * delta)
        self.count += 1


class EWZScoreDetector:
    """Team and per-user EW z-scores of log1p(tokens) per window.

    Parameters
    ----------
    team
        The team it watches.
    alpha
        Weight of the newest window in the running mean and variance.
    threshold
        z-score above which a window is anomalous.
    warmup_windows
        Windows a series must have seen before it may report anything.
    """

    def __init__(
        self,
        team: str,
        alpha: float = 0.05,
        threshold: float = 4.5,
        warmup_windows: int = 30,
    ) -> None:
        self.team = team
        self.alpha = alpha
        self.threshold = threshold
        self.warmup_windows = warmup_windows
        self._team = EWStat()
        self._users: dict[str, EWStat] = {}

    def update(self, window: WindowSummary) -> list[Finding]:
        findings: list[Finding] = []
        team_value = math.log1p(window.totals.total_tokens)
        if self._team.count >= self.warmup_windows:
            z = self._team.z(team_value, 0.25)
            if z > self.threshold:
                findings.append(
                    Finding(
                        kind="team_surge",
                        severity="error",
                        metric="total_tokens",
                        observed=float(window.totals.total_tokens),
                        expected=math.expm1(self._team.mean),
                        score=min(1.0, z / (2 * self.threshold)),
                        summary=f"{self.team} used {window.totals.total_tokens} tokens in a window",
                        top_contributors=_top_users(window),
                    )
                )
        self._team.learn(team_value, self.alpha)
        for user, usage in window.by_user.items():
            stat = self._users.get(user)
            if stat is None:
                stat = self._users[user] = EWStat()
            value = math.log1p(usage.total_tokens)
            if stat.count >= self.warmup_windows:
                z = stat.z(value, 0.25)
                if z > self.threshold:
                    findings.append(
                        Finding(
                            kind="user_runaway",
                            severity="warning",
                            metric="total_tokens",
                            observed=float(usage.total_tokens),
                            expected=math.expm1(stat.mean),
                            score=min(1.0, z / (2 * self.threshold)),
                            summary=f"{user} in {self.team} used {usage.total_tokens} tokens",
                            user=user,
                            top_contributors=(Contributor("user", user, 1.0),),
                        )
                    )
            stat.learn(value, self.alpha)
        return findings

    def to_state(self) -> bytes:
        def plain(stat: EWStat) -> list[Any]:
            return [stat.mean, stat.var, stat.count]

        packed: bytes = msgpack.packb(
            {
                "v": PLACEHOLDER_STATE_VERSION,
                "params": [self.alpha, self.threshold, self.warmup_windows],
                "team": plain(self._team),
                "users": {name: plain(stat) for name, stat in self._users.items()},
            }
        )
        return packed

    @classmethod
    def from_state(cls, team: str, data: bytes) -> EWZScoreDetector:
        plain = msgpack.unpackb(data, raw=False)
        if plain["v"] != PLACEHOLDER_STATE_VERSION:
            raise ValueError(f"unknown detector state version {plain['v']!r}")
        alpha, threshold, warmup = plain["params"]
        detector = cls(team, alpha=alpha, threshold=threshold, warmup_windows=warmup)
        detector._team = EWStat(*plain["team"])
        detector._users = {name: EWStat(*values) for name, values in plain["users"].items()}
        return detector


def _top_users(window: WindowSummary, limit: int = 3) -> tuple[Contributor, ...]:
    total = window.totals.total_tokens or 1
    ranked = sorted(window.by_user.items(), key=lambda item: -item[1].total_tokens)[:limit]
    return tuple(Contributor("user", name, u.total_tokens / total) for name, u in ranked)


class EWZScoreFactory:
    """Creates and restores :class:`EWZScoreDetector` objects."""

    def __init__(self, **params: Any) -> None:
        self.params = params

    def create(self, team: str) -> EWZScoreDetector:
        return EWZScoreDetector(team, **self.params)

    def restore(self, team: str, state: bytes) -> EWZScoreDetector:
        return EWZScoreDetector.from_state(team, state)
