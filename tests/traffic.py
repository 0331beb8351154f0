"""Small deterministic usage streams for tests that need exact control over every event."""

from __future__ import annotations

import random

import orjson

T0 = 1_793_577_600.0  # 2026-11-02T00:00:00Z, a Monday


def synthetic_messages(
    seed: int,
    minutes: int = 240,
    teams: int = 7,
    step_seconds: float = 2.0,
    runaway_team: str = "team-3",
) -> list[bytes]:
    """Events every ``step_seconds`` over ``minutes``; one user of ``runaway_team`` goes 40x
    for the last quarter. Some events arrive out of order and about 1% are producer retries."""
    rng = random.Random(seed)
    names = [f"team-{i}" for i in range(teams)]
    messages: list[bytes] = []
    second = 0.0
    while second < minutes * 60:
        team = rng.choice(names)
        user = f"{team}-user-{rng.randrange(5)}"
        tokens = int(rng.lognormvariate(6, 0.6))
        if team == runaway_team and user.endswith("-1") and second > minutes * 45:
            tokens *= 40
        messages.append(
            orjson.dumps(
                {
                    "ts": T0 + second + rng.uniform(-20, 0),
                    "team": team,
                    "user": user,
                    "model": rng.choice(["m1", "m2"]),
                    "input_tokens": tokens,
                    "output_tokens": tokens // 3,
                    "event_id": f"{seed}-{second}",
                }
            )
        )
        if rng.random() < 0.01:
            messages.append(messages[-1])
        second += step_seconds
    return messages


def team_of(message: bytes) -> bytes:
    """The producer key of a message: its team."""
    return str(orjson.loads(message)["team"]).encode()
