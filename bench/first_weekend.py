"""A team's first weekend against its working days: does the bound "a weekend hour is not busier
than the same hour on a working day" separate slow ramps that climb through it?

For every team of the benchmark's scenarios, each hour of its first weekend (the team's local
days) is compared with the same hour on the last three earlier working days (at least two; public
holidays of the team left out), on two-hour request counts:

* the raw ratio ``(O + 5) / (C + 5)`` of the weekend count ``O`` to the highest working-day
  count ``C`` (the 5 is a constant, not a calibration);
* ``z = log(O / C) / sqrt(1/O + 1/C + S²)``: Poisson terms for the counts and ``S²`` the team's
  overdispersion, read off its own working hours (the median over them of
  ``log(O / C_median)² - 1/O - 1/C_median``, over the median of a chi-square with one degree of
  freedom), counts with half an event added.

The null is every first-weekend hour from two hours before an incident of the team to six hours
after it excluded; a ramp is credited with its hours from its start to half an hour after its
end (the scorer's grace). Printed: the null's largest values per team-weekend, and every slow
ramp's largest ratio and ``z`` during its first weekend.

    PYTHONPATH=. python bench/first_weekend.py --seeds 11,12,13 [--jobs 2] [--detect]

``--detect`` also runs the default detector (what ``tokenradar evaluate`` runs) and marks each
ramp detected or missed. The detector's own, online version of the calibrated statistic is
``detectors.rates.WorkingDayCeiling``; this script is the offline measurement that preceded it.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor

from bench.separability import detected_incidents, scenario_arguments
from detectors.rates import CEILING_DAYS, CHI2_1_MEDIAN
from detectors.robust import is_weekend
from tokenradar.evaluation.benchmark import build_config
from tokenradar.evaluation.windows import aggregate_windows
from tokenradar.simulator import Incident, generate

HOUR = 3600
DAY = 86_400
RAW_FLOOR = 5.0


def first_weekend(
    seed: int, detect: bool = False
) -> tuple[list[tuple[float, float]], list[tuple[int, str, float, float, float, bool | None]]]:
    """Per team-weekend of ``seed``, the null's largest ratio and z; per slow ramp reaching its
    team's first weekend, (seed, team, magnitude, ratio, z, detected)."""
    simulation = generate(build_config(seed))
    found = detected_incidents(seed) if detect else {}
    offsets = {t.name: 60.0 * t.utc_offset_minutes for t in simulation.organisation.teams}
    counts: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for window in aggregate_windows(simulation.events()):
        counts[window.team][int(window.start // HOUR)] += window.totals.requests
    labels = list(simulation.incidents)
    nulls: list[tuple[float, float]] = []
    ramps: list[tuple[int, str, float, float, float, bool | None]] = []
    for team, hourly in counts.items():
        offset = offsets.get(team, 0.0)
        first = min(hourly)
        incidents = [label for label in simulation.true_incidents if label.team == team]
        holidays = [
            (label.start, label.end)
            for label in labels
            if label.kind == "confounder:holiday" and label.team == team
        ]

        def weekend(hour: int, offset: float = offset) -> bool:
            return is_weekend(hour * HOUR + HOUR / 2, offset)

        def two_hours(hour: int, hourly: dict[int, float] = hourly) -> float:
            return hourly.get(hour, 0.0) + hourly.get(hour - 1, 0.0)

        def references(
            hour: int, first: int = first, holidays: list[tuple[float, float]] = holidays
        ) -> list[float]:
            earlier = [
                hour - 24 * k
                for k in range(1, 8)
                if hour - 24 * k > first
                and not weekend(hour - 24 * k)
                and not any(a <= (hour - 24 * k) * HOUR < b for a, b in holidays)
            ]
            return [two_hours(h) for h in earlier[:CEILING_DAYS]]

        def near_incident(hour: int, incidents: list[Incident] = incidents) -> bool:
            end = (hour + 1) * HOUR
            return any(i.start - 2 * HOUR <= end <= i.end + 6 * HOUR for i in incidents)

        hours = range(first, max(hourly) + 1)
        deviations = []
        for hour in hours:
            refs = references(hour)
            if weekend(hour) or len(refs) < 2 or near_incident(hour):
                continue
            o, c = two_hours(hour) + 0.5, statistics.median(refs) + 0.5
            deviations.append(math.log(o / c) ** 2 - 1.0 / o - 1.0 / c)
        if len(deviations) < 20:
            continue
        s2 = max(0.0, statistics.median(deviations)) / CHI2_1_MEDIAN
        null_ratio = null_z = -math.inf
        best: dict[float, tuple[float, float]] = {}
        for hour in hours:
            if not weekend(hour) or hour - first > 7 * 24:
                continue
            refs = references(hour)
            if len(refs) < 2:
                continue
            o, c = two_hours(hour), max(refs)
            ratio = (o + RAW_FLOOR) / (c + RAW_FLOOR)
            z = math.log((o + 0.5) / (c + 0.5)) / math.sqrt(1 / (o + 0.5) + 1 / (c + 0.5) + s2)
            end = (hour + 1) * HOUR
            if not near_incident(hour):
                null_ratio, null_z = max(null_ratio, ratio), max(null_z, z)
            for i in incidents:
                if i.kind == "slow_ramp" and i.start <= end <= i.end + 1800:
                    r, zz = best.get(i.start, (-math.inf, -math.inf))
                    best[i.start] = (max(r, ratio), max(zz, z))
        if null_ratio > -math.inf:
            nulls.append((null_ratio, null_z))
        for i in incidents:
            if i.start in best:
                r, zz = best[i.start]
                hit = found.get(("slow_ramp", team, i.start))
                ramps.append((seed, team, float(i.magnitude or 0.0), r, zz, hit))
    return nulls, ramps


def main(argv: Iterable[str] | None = None) -> None:
    seeds, detect, jobs = scenario_arguments(__doc__.splitlines()[0], argv)
    nulls: list[tuple[float, float]] = []
    ramps: list[tuple[int, str, float, float, float, bool | None]] = []
    with ProcessPoolExecutor(jobs) as pool:
        for n, r in pool.map(first_weekend, seeds, [detect] * len(seeds)):
            nulls += n
            ramps += r
    for name, index in (("ratio", 0), ("z", 1)):
        values = sorted(null[index] for null in nulls)
        q99 = values[int(0.99 * (len(values) - 1))]
        print(
            f"null {name}: {len(values)} team-weekends, largest {values[-1]:.2f}, "
            f"99 % quantile {q99:.2f}"
        )
    print("\nseed team               magnitude  ratio      z  outcome")
    for seed, team, magnitude, ratio, z, hit in sorted(ramps, key=lambda row: -row[4]):
        outcome = "" if hit is None else ("detected" if hit else "missed")
        print(f"{seed:4d} {team:18s} {magnitude:8.1f}x {ratio:6.2f} {z:6.2f}  {outcome}")


if __name__ == "__main__":
    main()
