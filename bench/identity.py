"""A digest of everything the core produces on a deterministic stream, to show that a speed-only
change keeps behaviour identical: run it before and after, the digests must match.

Usage: ``python -m bench.identity [--teams N] [--users N] [--events N] [--hours H] [--seed S]``.
"""

from __future__ import annotations

import argparse
import hashlib

from bench import generate
from tokenradar.core.detection import default_detector_factory
from tokenradar.core.engine import CoreConfig
from tokenradar.core.router import Core


def digest(teams: int, users: int, events: int, hours: float, seed: int) -> dict[str, str]:
    """SHA-256 of the alerts, of the closed windows and of the final packed states."""
    partitions = 2
    org = generate.organisation(teams, users, partitions, seed=seed)
    columns = generate.events(org, events, hours * 3600.0)
    workload = generate.object_form(org, columns, partitions)
    core = Core(CoreConfig(), default_detector_factory(), partitions)
    alerts = hashlib.sha256()
    windows = hashlib.sha256()
    states = hashlib.sha256()
    alert_count = 0
    for partition, records in enumerate(workload.messages):
        for offset, (_, raw) in enumerate(records):
            result = core.handle(partition, offset, raw)
            for alert in result.alerts:
                alerts.update(repr(alert).encode())
                alert_count += 1
            for window in result.windows:
                windows.update(repr(window).encode())
        for team, data in core.processor(partition).dirty_states():
            states.update(team.encode() + data)
    return {
        "alerts": f"{alert_count} {alerts.hexdigest()[:16]}",
        "windows": windows.hexdigest()[:16],
        "states": states.hexdigest()[:16],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--teams", type=int, default=60)
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--hours", type=float, default=48.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for key, value in digest(args.teams, args.users, args.events, args.hours, args.seed).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
