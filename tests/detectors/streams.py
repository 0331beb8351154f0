"""Small hand-made window sequences for detector tests (independent of the simulator)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator

from detectors.base import Usage, WindowSummary

DAY = 86_400.0
# 2026-01-05 is a Monday.
MONDAY = 1_767_571_200.0


def diurnal(ts: float) -> float:
    """Working-hours activity: near zero at night and at weekends."""
    day = int((ts // DAY + 3) % 7)
    hour = (ts % DAY) / 3600.0
    if day >= 5:
        return 0.03
    return 0.05 + math.exp(-(((hour - 13.0) / 3.5) ** 2))


def team_windows(
    *,
    users: int = 6,
    days: float = 5.0,
    seed: int = 1,
    start: float = MONDAY,
    tokens_per_request: float = 3000.0,
    price_per_token: float = 5e-6,
    boost: Callable[[str, float], float] = lambda user, ts: 1.0,
    context_boost: Callable[[str, float], float] = lambda user, ts: 1.0,
    price_boost: Callable[[float], float] = lambda ts: 1.0,
    user_price_boost: Callable[[str, float], float] = lambda user, ts: 1.0,
    team: str = "search",
    utc_offset_hours: float = 0.0,
    activity: Callable[[float], float] = diurnal,
) -> Iterator[WindowSummary]:
    """Per-minute windows of a team whose users send Poisson requests on a working-day cycle
    (``activity``, of the team's local time, ``utc_offset_hours`` ahead of UTC)."""
    rng = random.Random(seed)
    names = [f"user{i}" for i in range(users)]
    intensity = {name: rng.uniform(0.2, 1.0) for name in names}
    minute = 0
    while minute * 60.0 < days * DAY:
        ts = start + minute * 60.0
        by_user: dict[str, Usage] = {}
        for name in names:
            rate = intensity[name] * activity(ts + 3600.0 * utc_offset_hours) * boost(name, ts)
            requests = poisson(rng, rate)
            if requests == 0:
                continue
            tokens = int(
                requests * tokens_per_request * context_boost(name, ts) * rng.uniform(0.5, 1.5)
            )
            by_user[name] = Usage(
                input_tokens=int(tokens * 0.8),
                output_tokens=tokens - int(tokens * 0.8),
                cost_usd=tokens * price_per_token * price_boost(ts) * user_price_boost(name, ts),
                requests=requests,
            )
        if by_user:
            total = Usage(
                input_tokens=sum(u.input_tokens for u in by_user.values()),
                output_tokens=sum(u.output_tokens for u in by_user.values()),
                cost_usd=sum(u.cost_usd for u in by_user.values()),
                requests=sum(u.requests for u in by_user.values()),
            )
            model = "pricey" if price_boost(ts) > 1.0 else "standard"
            yield WindowSummary(
                team, ts, ts + 60.0, total, by_user, {model: total}, {"chat": total}
            )
        minute += 1


def poisson(rng: random.Random, rate: float) -> int:
    """A Poisson draw with mean ``rate`` (Knuth's product of uniforms)."""
    threshold, count, product = math.exp(-rate), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count
