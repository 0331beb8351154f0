"""How far each benchmark incident stands out from the same entity's clean traffic, in hindsight.

A detector can only separate an incident from normal traffic if the incident does something that
normal traffic does not. This script measures, for every incident of the benchmark's scenarios,
the largest ratio between the incident's volume and the *largest* clean value of the same entity
at a comparable time, looking at the whole run, the days after the incident included:

* `team_surge`: the team's requests per hour;
* `slow_ramp`: the team's requests per local day (days the run covers whole);
* `user_runaway`, `off_hours_loop`: the user's requests per hour;
* `runaway_agent`: the user's tokens per 10 minutes;
* `model_switch`: the team's cost per token per hour;

each against the largest clean value at the same local hour of day and day type (weekday or
weekend; for days, the day type alone).

Clean means outside every incident and confounder of the team (for a user, also outside those
naming the user), nightly batch jobs excepted: they run every night. A ratio at or below 1 says
that the statistic never exceeded something the team (or user) did on a normal day: a detector
of that statistic cannot raise this incident without raising that normal day too. Another
statistic may still separate it (a breadth of users, a cost split by model), so the count of
such incidents is a diagnostic, not a bound.

    PYTHONPATH=. python bench/separability.py --seeds 11,12,13 [--jobs 2] [--detect]

``--detect`` also runs the default detector on each scenario (what ``tokenradar evaluate``
runs) and splits the counts by detected and missed. Each row also says whether the incident
overlaps a public holiday of its team (activity at 12 % of a working day).
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.outcomes import outcomes
from detectors.robust import seasonal_bin
from tokenradar.evaluation.benchmark import build_config
from tokenradar.evaluation.windows import aggregate_windows
from tokenradar.simulator import Simulation, generate

HOUR = 3600
DAY = 86_400
BLOCK = 600

# kind -> (statistic, bin seconds, per user?)
STATISTICS: dict[str, tuple[str, int, bool]] = {
    "team_surge": ("requests", HOUR, False),
    "slow_ramp": ("requests", DAY, False),
    "user_runaway": ("requests", HOUR, True),
    "off_hours_loop": ("requests", HOUR, True),
    "runaway_agent": ("tokens", BLOCK, True),
    "model_switch": ("price", HOUR, False),
}


def _local_key(start: float, width: int, offset: float) -> int:
    """The seasonal bin (hour of day, weekend hours apart) of the bin starting at ``start``, or
    for days only whether it is a weekend day, in the team's local days."""
    bin_ = seasonal_bin(start, offset)
    return int(bin_ >= 24) if width >= DAY else bin_


@dataclass(frozen=True, slots=True)
class Row:
    """One incident: its statistic's largest ratio to the largest clean value."""

    seed: int
    kind: str
    team: str
    user: str | None
    start: float
    magnitude: float
    ratio: float
    holiday: bool
    detected: bool | None = None


def detected_incidents(seed: int) -> dict[tuple[str, str, float], bool]:
    """Whether the default detector found each incident of the benchmark scenario ``seed``
    (what ``tokenradar evaluate`` runs), by kind, team and start."""
    return {(i["kind"], i["team"], i["start"]): i["found"] for i in outcomes(seed)["incidents"]}


def scenario_arguments(description: str, argv: Iterable[str] | None) -> tuple[list[int], bool, int]:
    """The seeds, ``--detect`` and ``--jobs`` of a script measuring benchmark scenarios."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", required=True)
    parser.add_argument("--detect", action="store_true")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(None if argv is None else list(argv))
    return [int(s) for s in args.seeds.split(",")], args.detect, args.jobs


def separability(seed: int, detect: bool = False) -> list[Row]:
    """One row per incident of the benchmark scenario ``seed``: its statistic's ratio to the
    largest clean value, and with ``detect`` whether the default detector found it."""
    found = detected_incidents(seed) if detect else {}
    return measure(seed, generate(build_config(seed)), found)


def measure(
    seed: int, simulation: Simulation, found: dict[tuple[str, str, float], bool] | None = None
) -> list[Row]:
    """One row per incident of ``simulation`` (``found``: detected or not, by kind, team and
    start)."""
    found = found or {}
    offsets = {t.name: 60.0 * t.utc_offset_minutes for t in simulation.organisation.teams}
    # (team, user or "", width) -> bin start -> [requests, tokens, cost]
    sums: dict[tuple[str, str, int], dict[float, list[float]]] = defaultdict(
        lambda: defaultdict(lambda: [0.0, 0.0, 0.0])
    )
    for window in aggregate_windows(simulation.events()):
        offset = offsets.get(window.team, 0.0)
        totals = window.totals
        for width in (HOUR, DAY):
            # Days are local days: bins start at the team's midnight.
            base = width * math.floor((window.start + offset) / width) - offset
            cell = sums[(window.team, "", width)][base]
            cell[0] += totals.requests
            cell[1] += totals.total_tokens
            cell[2] += totals.cost_usd
        for name, usage in window.by_user.items():
            for width in (HOUR, BLOCK):
                base = width * math.floor(window.start / width)
                cell = sums[(window.team, name, width)][base]
                cell[0] += usage.requests
                cell[1] += usage.total_tokens
                cell[2] += usage.cost_usd
    labels = list(simulation.incidents)
    rows: list[Row] = []
    for incident in simulation.true_incidents:
        statistic, width, per_user = STATISTICS[incident.kind]
        user = incident.user if per_user and incident.user else ""
        offset = offsets.get(incident.team, 0.0)
        # Nightly batch jobs run every night: they are the team's normal traffic, not an event.
        busy = [
            (label.start, label.end)
            for label in labels
            if label.team == incident.team
            and (not user or label.user in (None, user))
            and label.kind != "confounder:nightly_batch"
        ]
        series = sums.get((incident.team, user, width), {})

        def value(cell: list[float], statistic: str = statistic) -> float:
            if statistic == "requests":
                return cell[0]
            if statistic == "tokens":
                return cell[1]
            return cell[2] / cell[1] if cell[1] > 0 else math.nan

        clean_max: dict[int, float] = defaultdict(lambda: -math.inf)
        inside: list[tuple[int, float]] = []
        for start, cell in series.items():
            end = start + width
            if start < simulation.start_epoch or end > simulation.end_epoch:
                continue  # a local day the run only partly covers
            if statistic == "price" and cell[1] <= 0:
                continue
            v = value(cell)
            key = _local_key(start, width, offset)
            overlap = min(end, incident.end) - max(start, incident.start)
            if overlap >= 0.5 * min(width, incident.end - incident.start):
                inside.append((key, v))
            elif all(min(end, b) <= max(start, a) for a, b in busy):
                clean_max[key] = max(clean_max[key], v)
        # An hour in which the entity was never seen on a clean day: anything is beyond it. A
        # day type with no clean day in the run (a ramp through the only weekend): no comparison.
        ratios = [
            v / clean_max[key] if clean_max[key] > 0 else (math.inf if v > 0 else 0.0)
            for key, v in inside
            if width < DAY or key in clean_max
        ]
        holiday = any(
            label.kind == "confounder:holiday"
            and label.team == incident.team
            and label.start < incident.end
            and label.end > incident.start
            for label in labels
        )
        rows.append(
            Row(
                seed=seed,
                kind=incident.kind,
                team=incident.team,
                user=incident.user,
                start=incident.start,
                magnitude=float(incident.magnitude or 0.0),
                ratio=max(ratios) if ratios else math.nan,
                holiday=holiday,
                detected=found.get((incident.kind, incident.team, incident.start)),
            )
        )
    return rows


def main(argv: Iterable[str] | None = None) -> None:
    seeds, detect, jobs = scenario_arguments(__doc__.splitlines()[0], argv)
    # (kind, outcome) -> [incidents, not above the clean maximum, nothing clean to compare
    # with, on a holiday of the team]
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    with ProcessPoolExecutor(jobs) as pool:
        for rows in pool.map(separability, seeds, [detect] * len(seeds)):
            for row in rows:
                start = datetime.fromtimestamp(row.start, UTC).strftime("%a %H:%M")
                hit = row.detected
                outcome = "" if hit is None else ("detected" if hit else "missed")
                cell = counts[(row.kind, outcome)]
                cell[0] += 1
                cell[1] += row.ratio <= 1.0
                cell[2] += math.isnan(row.ratio)
                cell[3] += row.holiday
                print(
                    f"{row.seed:4d} {row.kind:15s} {row.team:18s} {row.user or '-':18s} {start} "
                    f"{row.magnitude:5.1f}x ratio {row.ratio:7.2f}"
                    f"{' holiday' if row.holiday else ''} {outcome}"
                )
    print("\nkind            outcome   incidents  at most clean max  no clean value  holiday")
    for (kind, outcome), (n, below, none, holiday) in sorted(counts.items()):
        print(f"{kind:15s} {outcome or '-':9s} {n:9d} {below:18d} {none:15d} {holiday:8d}")


if __name__ == "__main__":
    main()
