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
    PYTHONPATH=. python bench/outcomes.py misses before.json --jobs 2     # what the misses raised

``misses`` replays the scenarios of the incidents a run missed and lists the findings
each such team raised between the incident's start and its end plus 30 minutes (any user's): a
miss that raised nothing is below every test's bar; one with findings was lost between a finding
and an alert (which needs a finding held for two windows in a row).
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
from tokenradar.evaluation.benchmark import DEFAULT_SIZE, build_config, run_scenario
from tokenradar.evaluation.windows import aggregate_windows
from tokenradar.simulator import generate


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


def missed_findings(seed: int, missed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each of scenario ``seed``'s ``missed`` incidents (records of :func:`outcomes`), the
    findings its team raised during it: minutes after its start, kind and user."""
    simulation = generate(build_config(seed))
    incidents = {(i.kind, i.team, i.start): i for i in simulation.true_incidents}
    spans = [incidents[(m["kind"], m["team"], m["start"])] for m in missed]
    # Every team runs, through one factory: a team's first weekend is judged against the
    # others' (``detectors.peers``).
    factory = default_factory()
    detectors: dict[str, Any] = {}
    raised: list[list[tuple[float, str, str | None]]] = [[] for _ in spans]
    for window in aggregate_windows(simulation.events()):
        detector = detectors.get(window.team)
        if detector is None:
            detector = detectors[window.team] = factory.create(window.team)
        findings = detector.update(window)
        for incident, seen in zip(spans, raised, strict=True):
            if incident.team == window.team and incident.start <= window.end <= incident.end + 1800:
                minutes = round((window.end - incident.start) / 60.0, 1)
                seen += [(minutes, f.kind, f.user) for f in findings]
    return [{"seed": seed, **m, "findings": seen} for m, seen in zip(missed, raised, strict=True)]


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
    misses = commands.add_parser("misses")
    misses.add_argument("run")
    misses.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(None if argv is None else list(argv))
    if args.command == "misses":
        with open(args.run) as f:
            jobs = [
                (r["seed"], [i for i in r["incidents"] if not i["found"]]) for r in json.load(f)
            ]
        jobs = [(seed, missed) for seed, missed in jobs if missed]
        with ProcessPoolExecutor(args.jobs) as pool:
            results = [m for ms in pool.map(missed_findings, *zip(*jobs, strict=True)) for m in ms]
        for m in results:
            who = f" {m['user']}" if m["user"] else ""
            print(
                f"{m['seed']} {m['kind']} {m['team']}{who}: {len(m['findings'])} findings "
                + " ".join(f"{t}min:{kind}" for t, kind, _ in m["findings"][:6])
            )
        quiet = sum(1 for m in results if not m["findings"])
        print(f"{len(results)} missed incidents; {quiet} raised no finding during them")
        return
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
