"""A deliberately simple first detector: EW z-scores on log volumes and a peer rule.

It watches a team's total tokens per window and each user's tokens per window, and reports a
finding while a value sits far above its exponentially weighted mean. A user whose recent
volume (decayed over a quarter of an hour) is many times both a typical teammate's and their
own usual level is reported too. It has no seasonality and no calibration; it exists so the
pipeline has something real to run end to end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgpack

from detectors.base import Contributor, Finding, WindowSummary
from detectors.ewstat import EWStat

PLACEHOLDER_STATE_VERSION = 1


RECENT_SECONDS = 900.0  # time constant of a user's recent volume
PEER_HORIZON_SECONDS = 7_200.0  # teammates active this recently count as peers
PEER_WARMUP_WINDOWS = 240  # a team's windows before the peer rule may speak
SLOW_ALPHA = 0.005  # usual levels move over hundreds of windows, so a night does not reset them


@dataclass(slots=True)
class Recent:
    """A user's volume decayed over :data:`RECENT_SECONDS`, and its usual size."""

    level: float = 0.0
    at: float = 0.0
    usual: float = 0.0
    windows: int = 0

    def decayed(self, now: float) -> float:
        return self.level * math.exp(-(now - self.at) / RECENT_SECONDS)


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
        peer_factor: float = 8.0,
        min_peers: int = 3,
    ) -> None:
        self.team = team
        self.alpha = alpha
        self.threshold = threshold
        self.warmup_windows = warmup_windows
        self.peer_factor = peer_factor
        self.min_peers = min_peers
        self._team = EWStat()
        self._users: dict[str, EWStat] = {}
        self._recent: dict[str, Recent] = {}
        self._typical_usual = 0.0

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
        findings.extend(self._peer_findings(window))
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

    def _peer_findings(self, window: WindowSummary) -> list[Finding]:
        now = window.end
        for user, usage in window.by_user.items():
            recent = self._recent.get(user)
            if recent is None:
                recent = self._recent[user] = Recent(at=now)
            level = recent.decayed(now)
            if recent.windows:
                recent.usual += SLOW_ALPHA * (level - recent.usual)
            recent.level, recent.at = level + usage.total_tokens, now
            recent.windows += 1
        peers = sorted(
            r.decayed(now) for r in self._recent.values() if now - r.at <= PEER_HORIZON_SECONDS
        )
        if len(peers) <= self.min_peers:
            return []
        typical = peers[len(peers) // 2]
        # What a typical teammate usually does, so a quiet night does not make everyone odd.
        if self._typical_usual == 0.0:
            self._typical_usual = typical
        self._typical_usual += SLOW_ALPHA * (typical - self._typical_usual)
        if self._team.count <= PEER_WARMUP_WINDOWS:
            return []
        findings = []
        for user in window.by_user:
            recent = self._recent[user]
            if recent.windows <= self.warmup_windows:
                continue  # someone new: first days are not anomalies
            expected = max(typical, recent.usual, self._typical_usual)
            if expected > 0 and recent.level > self.peer_factor * expected:
                share = window.by_user[user].total_tokens / max(1, window.totals.total_tokens)
                findings.append(
                    Finding(
                        kind="user_runaway",
                        severity="warning",
                        metric="total_tokens",
                        observed=recent.level,
                        expected=expected,
                        score=min(1.0, recent.level / (4 * self.peer_factor * expected)),
                        summary=(
                            f"{user} in {self.team}: {recent.level:,.0f} tokens in the last "
                            f"quarter hour, {recent.level / expected:.0f}x a typical teammate "
                            "or their own usual"
                        ),
                        user=user,
                        top_contributors=(Contributor("user", user, share),),
                    )
                )
        return findings

    def to_state(self) -> bytes:
        def plain(stat: EWStat) -> list[Any]:
            return [stat.mean, stat.var, stat.count]

        packed: bytes = msgpack.packb(
            {
                "v": PLACEHOLDER_STATE_VERSION,
                "params": [
                    self.alpha,
                    self.threshold,
                    self.warmup_windows,
                    self.peer_factor,
                    self.min_peers,
                ],
                "typical_usual": self._typical_usual,
                "recent": {
                    name: [r.level, r.at, r.usual, r.windows] for name, r in self._recent.items()
                },
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
        alpha, threshold, warmup, peer_factor, min_peers = plain["params"]
        detector = cls(
            team,
            alpha=alpha,
            threshold=threshold,
            warmup_windows=warmup,
            peer_factor=peer_factor,
            min_peers=min_peers,
        )
        detector._recent = {name: Recent(*values) for name, values in plain["recent"].items()}
        detector._typical_usual = float(plain["typical_usual"])
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
