"""Per-incident outcomes and false alarms of the default detector, and the difference between two
such runs (two versions of the code, or two settings).

``tokenradar evaluate`` prints totals; comparing two versions needs to know which incidents were
gained or lost and which false alarms came or went. This runs the benchmark scenarios as
``evaluate`` does (``run_scenario`` with ``default_factory``, ``--days`` as there) and writes one
JSON record per seed: every incident (kind, team, user, start, found, delay) and every false alarm
(team, kind, user, when). ``--set NAME=VALUE`` passes a detector setting.

    PYTHONPATH=. python bench/outcomes.py run --seeds 11,12,13 --jobs 2 --out before.json
    PYTHONPATH=. python bench/outcomes.py diff before.json after.json
    PYTHONPATH=. python bench/outcomes.py delays before.json after.json   # median delay per kind
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

from detectors import default_factory
from tokenradar.evaluation.benchmark import DEFAULT_SIZE, run_scenario


def outcomes(
    seed: int, days: float = DEFAULT_SIZE.days, settings: dict[str, float] | None = None
) -> dict[str, Any]:
    """The incidents and false alarms of the default detector on scenario ``seed``."""
    size = dataclasses.replace(DEFAULT_SIZE, days=days)
    result = run_scenario(seed, {"tokenradar": default_factory(**(settings or {}))}, size=size)
    card = result.cards["tokenradar"]
    return {
        "seed": seed,
        "team_weeks": card.team_weeks,
        "incidents": [
            {
                "kind": o.incident.kind,
                "team": o.incident.team,
                "user": o.incident.user,
                "start": o.incident.start,
                "found": o.detected,
                "delay": o.delay,
            }
            for o in card.outcomes
        ],
        "false_alarms": [
            {"team": a.team, "kind": a.kind, "user": a.user, "at": a.detected_at, "near": cause}
            for a, cause in zip(card.false_alarms, card.false_alarm_causes, strict=True)
        ],
    }


def difference(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[str]:
    """Lines naming the incidents gained and lost and the false alarms added and removed (per
    seed, team and kind), then the totals."""
    lines: list[str] = []
    old = {r["seed"]: r for r in before}
    found = [0, 0]
    alarms = [0, 0]
    for record in after:
        seed = record["seed"]
        if seed not in old:
            continue
        was = {
            (i["kind"], i["team"], i["user"], i["start"]): i["found"]
            for i in old[seed]["incidents"]
        }
        for incident in record["incidents"]:
            key = (incident["kind"], incident["team"], incident["user"], incident["start"])
            found[0] += bool(was.get(key))
            found[1] += incident["found"]
            if key in was and was[key] != incident["found"]:
                change = "gained" if incident["found"] else "lost"
                who = f" {incident['user']}" if incident["user"] else ""
                lines.append(f"{seed} {change} {incident['kind']} {incident['team']}{who}")
        counts = [
            Counter((a["team"], a["kind"]) for a in r["false_alarms"]) for r in (old[seed], record)
        ]
        alarms[0] += sum(counts[0].values())
        alarms[1] += sum(counts[1].values())
        for (team, kind), n in sorted((counts[1] - counts[0]).items()):
            lines.append(f"{seed} +{n} false alarm {kind} {team}")
        for (team, kind), n in sorted((counts[0] - counts[1]).items()):
            lines.append(f"{seed} -{n} false alarm {kind} {team}")
    lines.append(
        f"incidents found {found[0]} -> {found[1]}; false alarms {alarms[0]} -> {alarms[1]}"
    )
    return lines


def median_delays(records: list[dict[str, Any]]) -> dict[str, tuple[int, float]]:
    """Per incident kind (and ``all``), how many incidents were found and their median delay
    in minutes of event time."""
    found: dict[str, list[float]] = {}
    for record in records:
        for incident in record["incidents"]:
            if incident["found"]:
                minutes = incident["delay"] / 60.0
                found.setdefault(incident["kind"], []).append(minutes)
                found.setdefault("all", []).append(minutes)
    return {kind: (len(v), statistics.median(v)) for kind, v in sorted(found.items())}


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run")
    run.add_argument("--seeds", required=True)
    run.add_argument("--days", type=float, default=DEFAULT_SIZE.days)
    run.add_argument("--jobs", type=int, default=1)
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("--out", required=True)
    diff = commands.add_parser("diff")
    diff.add_argument("before")
    diff.add_argument("after")
    delays = commands.add_parser("delays")
    delays.add_argument("runs", nargs="+")
    args = parser.parse_args(None if argv is None else list(argv))
    if args.command == "delays":
        for name in args.runs:
            with open(name) as f:
                table = median_delays(json.load(f))
            cells = (f"{kind} {minutes:.1f} min ({n})" for kind, (n, minutes) in table.items())
            print(f"{name}: " + "; ".join(cells))
        return
    if args.command == "diff":
        with open(args.before) as f, open(args.after) as g:
            print("\n".join(difference(json.load(f), json.load(g))))
        return
    settings = {name: float(value) for name, value in (s.split("=", 1) for s in args.set)}
    seeds = [int(s) for s in args.seeds.split(",")]
    with ProcessPoolExecutor(args.jobs) as pool:
        records = list(pool.map(partial(outcomes, days=args.days, settings=settings), seeds))
    with open(args.out, "w") as f:
        json.dump(records, f)
    found = sum(i["found"] for r in records for i in r["incidents"])
    total = sum(len(r["incidents"]) for r in records)
    alarms = sum(len(r["false_alarms"]) for r in records)
    print(f"{found} of {total} incidents found; {alarms} false alarms; written to {args.out}")


if __name__ == "__main__":
    main()
