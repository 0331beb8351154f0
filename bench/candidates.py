"""Candidate statistics for the benchmark's remaining misses, measured offline before building one.

Each statistic is computed in hindsight from the scenario's windows (true time zones and public
holidays of the teams, not what a detector infers), on clean traffic and on the incidents it
would be built for, so that one can see whether it separates them at all before it is wired
into a detector:

* `evening`: a working day's evening (17:00-24:00 local) requests against the highest evening
  of the last three working days (public holidays left out), as
  `z = log(E / R) / sqrt(1/E + 1/R)`, and as `evening S2` with the team's overdispersion `S2`
  in the denominator, read when the evening closes from a `WorkingDayCeiling` fed the team's
  windows (what the detector learns); incidents: slow ramps (a ramp that starts on a Friday
  morning has climbed by the evening, and its weekend has no earlier weekend to compare with).
* `young`: in a team's first 72 hours (before its long horizon judges), each working hour's
  two-hour request count against the highest at the same clock hour on earlier working days
  (at least two), with the team's overdispersion `S2` read off pairs of consecutive working
  days (the working-day ceiling's statistic, `S2` halved because both days of a pair vary);
  incidents: team surges.
* `first-weekend day`, `first-weekend night`, `first Friday`: slow ramps that start on a
  Thursday or a Friday climb through the team's first weekend, which has no earlier weekend to
  compare with. As log ratios, each against the team's own earlier working days (at least two;
  public holidays left out): the busier day of the first weekend over the median working day,
  less the median of the same over the other teams of the run (`first-weekend day`: the other
  teams' weekends as a prior); a first-weekend night's requests (00:00-08:00 local) over the
  highest of the last three working nights (`first-weekend night`); the first Friday's
  13:00-24:00 over the highest of the same hours on the last three working days (`first
  Friday`). Clean values are teams, nights or Fridays without an incident; incidents: those
  ramps.
* `day-volume`: a user's last 24 hours of requests against their busiest earlier local day,
  as the raw log ratio (what the user model judges) and with Poisson terms for the two counts;
  clean user-days leave out days within 24 hours of a team-level incident of the team;
  incidents: user runaways.

For each statistic the clean values' 99 % and 99.9 % quantiles are the bars, and the table
gives how many incidents exceed each (with `--detect`, how many of those the default detector
missed). The statistics meant as standard normal `z` (`evening S2`, `young`) are also held
against normal tail probabilities, with the clean values beyond each beside the count expected.

    PYTHONPATH=. python bench/candidates.py --seeds 11,12,13 [--jobs 2] [--detect]
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

from bench.separability import detected_incidents, scenario_arguments
from detectors.rates import CHI2_1_MEDIAN, WorkingDayCeiling
from detectors.robust import normal_quantile_upper
from tokenradar.evaluation.benchmark import build_config
from tokenradar.evaluation.windows import aggregate_windows
from tokenradar.simulator import Incident, generate

HOUR = 3600
DAY = 86_400
YOUNG_HOURS = 72
MIN_PAIRS = 24
TEAM_TARGET = 3.3e-5

# statistic -> rows of (clean?, value, key): a clean row's key names the team (and user and day)
# it belongs to, an incident's is (kind, team, start).
Row = tuple[bool, float, tuple[object, ...]]
Values = dict[str, list[Row]]
Found = dict[tuple[str, str, float], bool]


def measure(seed: int, detect: bool = False) -> tuple[Values, Found]:
    """The three statistics' values on the benchmark scenario ``seed``; with ``detect``, whether
    the default detector found each incident (by kind, team and start)."""
    simulation = generate(build_config(seed))
    start = simulation.start_epoch
    offsets = {t.name: 60.0 * t.utc_offset_minutes for t in simulation.organisation.teams}
    team_hours: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    user_hours: dict[tuple[str, str], dict[int, float]] = defaultdict(lambda: defaultdict(float))
    first_hour: dict[str, int] = {}
    ceilings = {team: WorkingDayCeiling() for team in offsets}
    # team -> local day -> the team's S2 when the day's last hour closed
    dispersion: dict[str, dict[int, float]] = defaultdict(dict)
    for window in aggregate_windows(simulation.events()):
        hour = int(window.start // HOUR)
        first_hour.setdefault(window.team, hour)
        team_hours[window.team][hour] += window.totals.requests
        ceiling, offset = ceilings[window.team], offsets[window.team]
        before = ceiling.hour
        ceiling.count(window.start, window.totals.requests, offset, judge=False)
        if 0 <= before < ceiling.hour and _local_day((before + 1) * HOUR, offset) > _local_day(
            before * HOUR, offset
        ):
            dispersion[window.team][_local_day(before * HOUR, offset)] = ceiling.overdispersion()
        for name, usage in window.by_user.items():
            user_hours[(window.team, name)][hour] += usage.requests
    holidays: dict[str, set[int]] = defaultdict(set)
    for confounder in simulation.confounders:
        if confounder.kind.endswith("holiday"):
            holidays[confounder.team].add(_local_day(confounder.start, offsets[confounder.team]))
    incidents = list(simulation.true_incidents)
    labels = incidents + list(simulation.confounders)
    end_hour = int((start + simulation.config.duration.total_seconds()) // HOUR)
    values: Values = defaultdict(list)
    for team, hours in team_hours.items():
        offset = offsets[team]

        def working(hour: int, team: str = team, offset: float = offset) -> bool:
            """Whether UTC ``hour`` (hours since the epoch) is in a working day of ``team``."""
            day = _local_day(hour * HOUR, offset)
            return datetime.fromtimestamp(day * DAY, UTC).weekday() < 5 and (
                day not in holidays[team]
            )

        plain, with_s2 = _evenings(team, hours, offset, working, incidents, dispersion[team])
        values["evening"] += plain
        values["evening S2"] += with_s2
        values["young"] += _young_hours(team, hours, first_hour[team], end_hour, working, labels)
        for name, rows in _first_weekend(team, hours, offset, working, incidents).items():
            values[name] += rows
    _relative_to_other_teams(values["first-weekend day"])
    for (team, name), hours in user_hours.items():
        raw, poisson = _day_volumes(team, name, hours, offsets[team], start, end_hour, incidents)
        values["day-volume raw"] += raw
        values["day-volume poisson"] += poisson
    return values, detected_incidents(seed) if detect else {}


def _evenings(
    team: str,
    hours: dict[int, float],
    offset: float,
    working: Callable[[int], bool],
    incidents: list[Incident],
    dispersion: dict[int, float],
) -> tuple[list[Row], list[Row]]:
    """Each working day's evening against the highest of the last three working days', in
    Poisson standard errors, and with the team's overdispersion (days without one left out)."""
    days, first_hours = _local_days(hours, offset)
    evenings = {
        day: sum(hours.get(first_hours[day] + h, 0.0) for h in range(17, 24)) for day in days
    }
    rows: list[Row] = []
    with_s2: list[Row] = []
    for day in days[:-1]:
        earlier = _last_working_days(days, day, first_hours, working)
        if not working(first_hours[day] + 12) or len(earlier) < 2:
            continue
        observed, reference = evenings[day], max(evenings[d] for d in earlier)
        if observed <= 0 or reference <= 0:
            continue
        poisson = 1 / observed + 1 / reference
        s2 = dispersion.get(day, math.nan)
        lo, hi = (first_hours[day] + 17) * HOUR, (first_hours[day] + 24) * HOUR
        near = [i for i in incidents if i.team == team and i.start < hi and i.end > lo]
        ramp = next((i for i in near if i.kind == "slow_ramp"), None)
        if ramp is None and near:
            continue
        clean = ramp is None
        key = (team, day) if ramp is None else (ramp.kind, team, ramp.start)
        log_ratio = math.log(observed / reference)
        rows.append((clean, log_ratio / math.sqrt(poisson), key))
        if s2 == s2:
            with_s2.append((clean, log_ratio / math.sqrt(poisson + s2), key))
    return rows, with_s2


def _first_weekend(
    team: str,
    hours: dict[int, float],
    offset: float,
    working: Callable[[int], bool],
    incidents: list[Incident],
) -> dict[str, list[Row]]:
    """The first weekend's busier day, its nights and the Friday before it, each against the
    team's earlier working days (see the module's docstring); ``first-weekend day`` is the raw
    log ratio here, made relative to the other teams by :func:`_relative_to_other_teams`."""
    days, first_hours = _local_days(hours, offset)
    # Only days the scenario covers from their first hour to their last.
    days = [d for d in days if min(hours) <= first_hours[d] <= max(hours) - 23]

    def block(day: int, first: int, last: int) -> float:
        return sum(hours.get(first_hours[day] + h, 0.0) for h in range(first, last))

    def weekday(day: int) -> int:
        return datetime.fromtimestamp(day * DAY, UTC).weekday()

    def judged(day: int, first: int, last: int) -> tuple[bool, tuple[object, ...]] | None:
        """Clean (no incident in those hours), a Thursday's or Friday's ramp, or neither."""
        lo, hi = (first_hours[day] + first) * HOUR, (first_hours[day] + last) * HOUR
        near = [i for i in incidents if i.team == team and i.start < hi and i.end + 1800 > lo]
        ramp = next(
            (
                i
                for i in near
                if i.kind == "slow_ramp" and weekday(_local_day(i.start, offset)) in (3, 4)
            ),
            None,
        )
        if ramp is not None:
            return False, (ramp.kind, team, ramp.start)
        return None if near else (True, (team, day, first))

    def against_working_days(day: int, first: int, last: int) -> float:
        earlier = _last_working_days(days, day, first_hours, working)
        if len(earlier) < 2:
            return math.nan
        highest = max(block(d, first, last) for d in earlier)
        return math.log((block(day, first, last) + 0.5) / (highest + 0.5))

    rows: dict[str, list[Row]] = defaultdict(list)
    saturday = next((d for d in days if weekday(d) == 5 and d + 1 in days), None)
    if saturday is None:
        return rows
    friday = saturday - 1
    if friday in days and working(first_hours[friday] + 12):
        verdict = judged(friday, 13, 24)
        value = against_working_days(friday, 13, 24)
        if verdict is not None and value == value:
            rows["first Friday"].append((verdict[0], value, verdict[1]))
    for night in (saturday, saturday + 1):
        verdict = judged(night, 0, 8)
        value = against_working_days(night, 0, 8)
        if verdict is not None and value == value:
            rows["first-weekend night"].append((verdict[0], value, verdict[1]))
    working_days = [block(d, 0, 24) for d in days if d < saturday and working(first_hours[d] + 12)]
    verdict = judged(saturday, 0, 48)
    if len(working_days) >= 2 and verdict is not None:
        busier = max(block(saturday, 0, 24), block(saturday + 1, 0, 24))
        value = math.log((busier + 0.5) / (statistics.median(working_days) + 0.5))
        rows["first-weekend day"].append((verdict[0], value, verdict[1]))
    return rows


def _relative_to_other_teams(rows: list[Row]) -> None:
    """Each team's value less the median of the other teams' (rows of one scenario)."""
    values = [value for _, value, _ in rows]
    for index, (clean, value, key) in enumerate(rows):
        others = values[:index] + values[index + 1 :]
        if others:
            rows[index] = (clean, value - statistics.median(others), key)


def _local_days(hours: dict[int, float], offset: float) -> tuple[list[int], dict[int, int]]:
    """The team's local days that ``hours`` (UTC hour indices) touch, in order, and the UTC hour
    index of each one's first hour."""
    days = sorted({_local_day(h * HOUR, offset) for h in hours})
    return days, {day: int((day * DAY - offset) // HOUR) for day in days}


def _last_working_days(
    days: list[int], day: int, first_hours: dict[int, int], working: Callable[[int], bool]
) -> list[int]:
    """The last three working days of ``days`` before ``day`` (fewer if there are not three)."""
    return [d for d in days if d < day and working(first_hours[d] + 12)][-3:]


def _young_hours(
    team: str,
    hours: dict[int, float],
    first: int,
    end_hour: int,
    working: Callable[[int], bool],
    labels: list[Incident],
) -> list[Row]:
    """A young team's working hours against the highest of earlier working days."""
    rows: list[Row] = []
    for hour in range(first + 2, min(first + YOUNG_HOURS, end_hour)):
        if not working(hour):
            continue
        references = [
            _two_hours(hours, hour - 24 * k)
            for k in range(1, 8)
            if hour - 24 * k - 1 >= first and working(hour - 24 * k)
        ][:3]
        s2 = _pair_dispersion(hours, hour, first, working)
        if len(references) < 2 or s2 != s2:
            continue
        observed, ceiling = _two_hours(hours, hour) + 0.5, max(references) + 0.5
        z = math.log(observed / ceiling) / math.sqrt(1 / observed + 1 / ceiling + s2)
        lo, hi = (hour - 1) * HOUR, (hour + 1) * HOUR
        near = [i for i in labels if i.team == team and i.start < hi and i.end > lo]
        surge = next((i for i in near if i.kind == "team_surge"), None)
        if surge is not None:
            rows.append((False, z, (surge.kind, team, surge.start)))
        elif not [i for i in near if not i.is_confounder]:
            rows.append((True, z, (team,)))
    return rows


def _day_volumes(
    team: str,
    name: str,
    hours: dict[int, float],
    offset: float,
    start: float,
    end_hour: int,
    incidents: list[Incident],
) -> tuple[list[Row], list[Row]]:
    """A user's largest last-24-hours excess over their busiest earlier day, per clean local
    day and per loop: raw, and in Poisson standard errors."""
    totals: dict[int, float] = defaultdict(float)
    for h, count in hours.items():
        totals[_local_day(h * HOUR, offset)] += count
    first_day = min(totals)
    mine = [i for i in incidents if i.user == name and i.kind == "user_runaway"]
    team_level = [i for i in incidents if i.team == team and i.user is None]
    best: dict[tuple[bool, tuple[object, ...]], tuple[float, float]] = {}
    for hour in range(int(start // HOUR) + 24, end_hour):
        day = _local_day(hour * HOUR, offset)
        if day - first_day < 2:
            continue
        end = (hour + 1) * HOUR
        if any(i.start < end and i.end > end - DAY for i in team_level):
            continue
        trailing = sum(hours.get(h, 0.0) for h in range(hour - 23, hour + 1))
        busiest = max(totals.get(d, 0.0) for d in range(max(first_day, day - 7), day))
        raw = math.log((trailing + 1) / (busiest + 1))
        poisson = raw / math.sqrt(1 / (trailing + 1) + 1 / (busiest + 1))
        loop = next((i for i in mine if i.start < end and i.end + 1800 > end), None)
        key = (False, (loop.kind, team, loop.start)) if loop else (True, (team, name, day))
        if key not in best or raw > best[key][0]:
            best[key] = (raw, poisson)
    raws = [(clean, raw, what) for (clean, what), (raw, _) in best.items()]
    poissons = [(clean, poisson, what) for (clean, what), (_, poisson) in best.items()]
    return raws, poissons


def _local_day(ts: float, offset: float) -> int:
    return int((ts + offset) // DAY)


def _two_hours(hours: dict[int, float], hour: int) -> float:
    return hours.get(hour, 0.0) + hours.get(hour - 1, 0.0)


def _pair_dispersion(
    hours: dict[int, float], hour: int, first: int, working: Callable[[int], bool]
) -> float:
    """``S2`` from the two-hour counts of up to 96 earlier working hours against the same hour
    a day before (both working days), halved: both days of a pair vary. NaN below 24 pairs."""
    deviations: list[float] = []
    for h in range(hour - 1, first + 24, -1):
        if len(deviations) >= 96:
            break
        if not (working(h) and working(h - 24)):
            continue
        a, b = _two_hours(hours, h) + 0.5, _two_hours(hours, h - 24) + 0.5
        deviations.append(math.log(a / b) ** 2 - 1 / a - 1 / b)
    if len(deviations) < MIN_PAIRS:
        return math.nan
    return max(0.0, statistics.median(deviations)) / CHI2_1_MEDIAN / 2.0


def main(argv: Iterable[str] | None = None) -> None:
    seeds, detect, jobs = scenario_arguments((__doc__ or "").splitlines()[0], argv)
    merged: Values = defaultdict(list)
    found: dict[tuple[object, ...], bool] = {}
    with ProcessPoolExecutor(jobs) as pool:
        results = pool.map(measure, seeds, [detect] * len(seeds))
        for seed, (values, detected) in zip(seeds, results, strict=True):
            for name, rows in values.items():
                merged[name] += [(clean, v, (seed, *key)) for clean, v, key in rows]
            found.update({(seed, *key): hit for key, hit in detected.items()})
    print("| statistic | clean values | bar | incidents beyond the bar | of them missed now |")
    print("| --- | --- | --- | --- | --- |")
    for name, rows in sorted(merged.items()):
        clean = sorted(v for is_clean, v, _ in rows if is_clean)
        best = _best_per_incident(rows)
        missed = {key for key in best if found.get(key) is False}
        for q in (0.99, 0.999):
            bar = clean[min(len(clean) - 1, int(q * len(clean)))]
            beyond = {key for key, v in best.items() if v > bar}
            counted = f"{len(beyond & missed)} of {len(missed)}" if detect else "-"
            cells = [name, str(len(clean)), f"{q:.1%}: {bar:.2f}", f"{len(beyond)} of {len(best)}"]
            print("| " + " | ".join([*cells, counted]) + " |")
    print()
    print("| statistic | tail probability | clean beyond (expected) | in runs | incidents beyond |")
    print("| --- | --- | --- | --- | --- |")
    for name in ("evening S2", "young"):
        rows = merged.get(name, [])
        clean_rows = [(v, key) for is_clean, v, key in rows if is_clean]
        best = _best_per_incident(rows)
        missed = {key for key in best if found.get(key) is False}
        for p in (1e-2, 1e-3, TEAM_TARGET):
            bar = normal_quantile_upper(p)
            runs = [key for v, key in clean_rows if v > bar]
            hits = {key for key, v in best.items() if v > bar}
            counted = f", {len(hits & missed)} of {len(missed)} missed now" if detect else ""
            expected = p * len(clean_rows)
            cells = [name, f"{p:g}", f"{len(runs)} of {len(clean_rows)} ({expected:.1f})"]
            cells += [str(len({key[:2] for key in runs})), f"{len(hits)} of {len(best)}{counted}"]
            print("| " + " | ".join(cells) + " |")


def _best_per_incident(rows: list[Row]) -> dict[tuple[object, ...], float]:
    """Each incident's largest value."""
    best: dict[tuple[object, ...], float] = {}
    for is_clean, value, key in rows:
        if not is_clean:
            best[key] = max(best.get(key, -math.inf), value)
    return best


if __name__ == "__main__":
    main()
