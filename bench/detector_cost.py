"""Cost of the usage detector: time per user series per closed window, state size, memory.

Builds ``--teams`` teams of ``--users-per-team`` users (100k user series by default), lets every
team learn for ``--warmup-windows`` windows, then times windows in which every user is active (the
worst case: an idle user costs nothing until they return). Reports microseconds per user series
and per team window, the serialised state per user and per team, and resident memory per user.

Run: ``PYTHONPATH=. python bench/detector_cost.py`` (add ``--quick`` for 10k users).
"""

from __future__ import annotations

import argparse
import logging
import random
import time
import tracemalloc

from detectors import UsageDetector, UsageDetectorSettings
from detectors.base import Usage, WindowSummary

log = logging.getLogger("bench.detector_cost")

START = 1_793_610_000.0  # a Monday, 09:00 UTC


def _windows(team: str, users: list[str], minute: int, rng: random.Random) -> WindowSummary:
    by_user = {}
    for user in users:
        tokens = int(rng.lognormvariate(8.0, 1.0))
        by_user[user] = Usage(
            input_tokens=tokens, output_tokens=tokens // 5, cost_usd=tokens * 4e-6, requests=2
        )
    total = Usage(
        input_tokens=sum(u.input_tokens for u in by_user.values()),
        output_tokens=sum(u.output_tokens for u in by_user.values()),
        cost_usd=sum(u.cost_usd for u in by_user.values()),
        requests=sum(u.requests for u in by_user.values()),
    )
    start = START + 60.0 * minute
    return WindowSummary(team, start, start + 60.0, total, by_user, {"m": total}, {"chat": total})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=500)
    parser.add_argument("--users-per-team", type=int, default=200)
    parser.add_argument("--warmup-windows", type=int, default=20)
    parser.add_argument("--timed-windows", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="50 teams x 200 users")
    args = parser.parse_args()
    if args.quick:
        args.teams = 50
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rng = random.Random(0)
    # Warm-up shorter than the stream so every series is scored (and may alarm) when timed.
    settings = UsageDetectorSettings(warmup_seconds=60.0 * args.warmup_windows / 2)
    teams = {
        f"team{t}": [f"team{t}-user{u}" for u in range(args.users_per_team)]
        for t in range(args.teams)
    }
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    detectors = {team: UsageDetector(team, settings) for team in teams}
    for minute in range(args.warmup_windows):
        for team, users in teams.items():
            detectors[team].update(_windows(team, users, minute, rng))
    memory = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()

    timed = [
        [_windows(team, users, args.warmup_windows + k, rng) for team, users in teams.items()]
        for k in range(args.timed_windows)
    ]
    elapsed = 0.0
    for round_of_windows in timed:
        began = time.perf_counter()
        for window in round_of_windows:
            detectors[window.team].update(window)
        elapsed += time.perf_counter() - began
    user_series = args.teams * args.users_per_team
    per_series_us = elapsed / (args.timed_windows * user_series) * 1e6
    per_team_window_us = elapsed / (args.timed_windows * args.teams) * 1e6

    sample = detectors[next(iter(teams))]
    state = sample.to_state()
    empty = UsageDetector("empty", settings)
    for minute in range(args.warmup_windows):
        empty.update(_windows("empty", [], minute, rng))
    team_only = len(empty.to_state())
    per_user_state = (len(state) - team_only) / args.users_per_team

    log.info("user series: %d in %d teams", user_series, args.teams)
    log.info("scoring: %.2f us per user series per window (all users active)", per_series_us)
    log.info(
        "scoring: %.0f us per team window of %d users", per_team_window_us, args.users_per_team
    )
    log.info(
        "state: %.0f bytes per user series, %d bytes per team (without users)",
        per_user_state,
        team_only,
    )
    log.info("state: %d bytes for a team of %d users", len(state), args.users_per_team)
    log.info("memory: %.0f bytes per user series (Python heap, tracemalloc)", memory / user_series)


if __name__ == "__main__":
    main()
