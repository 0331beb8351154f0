"""Teams against each other: a weekend day's level, read across the teams of one worker.

A team's weekends are judged against its own weekends once it has had some. Before that, on its
first weekend, a slow ramp that started on the Friday climbs through Saturday and Sunday with
nothing to compare them with: a weekend at four times its usual is still well below a working
day (the working-day ceiling's bound), and how far below a working day a weekend sits is what
the team has not seen yet. Other teams have: or, on an organisation's first weekend, they are
living it at the same time. How far below its working days a weekend day sits is much the same
across an organisation's teams (they share a calendar and a culture of weekends), so a team far
above the others' level is news, and the others' own spread says how far is far.

:class:`WeekendPeers` is shared by the detectors one factory creates. Each team reports, as each
hour of a weekend day's working hours (its longest run of busy hours) closes, its requests in
those hours so far and the usual of the same hours on its recent working days. A team on its
first weekend is judged against the latest reports of the others (those of the last
``PEER_REPORT_SECONDS``): ``x = log(O / R)`` against the median ``m`` of the others' log
ratios, in units of their spread (the MAD, as a sigma) and of the team's own counting noise,

    ``t = (x - m) / sqrt(s^2 + 1/O + 1/R)``,

under Student's t with ``n - 1`` degrees of freedom for ``n`` peers: with a dozen teams the
spread is itself uncertain, and the t tail widens the bar for it.

The registry is not part of any team's checkpoint: the reports are an hour's news, rebuilt
within the hour after a restart. A worker sees the teams of its own partitions; with fewer than
``MIN_PEERS`` of them reporting, no verdict is given.

Examples
--------
>>> peers = WeekendPeers()
>>> for k, team in enumerate(["a", "b", "c", "d", "e", "f"]):
...     peers.report(team, 3600.0, 100.0 + 5 * k, 1000.0)
>>> p, expected = peers.verdict("g", 3600.0, 400.0, 1000.0)
>>> p < 1e-4, round(expected)
(True, 113)
>>> peers.verdict("g", 3600.0, 115.0, 1000.0)[0] > 0.1
True
"""

from __future__ import annotations

import math
import statistics

from detectors.robust import student_t_upper_tail

# Reports older than this are not a peer's current weekend day (a day's working hours report
# every hour; a peer whose last report is older has ended its working hours or its weekend).
PEER_REPORT_SECONDS = 3 * 3600.0
# Peers needed (besides the team judged) for a verdict: the median and the spread of fewer say
# too little.
MIN_PEERS = 5
# A peer's ratio counts only when its own counting noise (the variance of its log ratio) is
# below this: a team with a handful of weekend requests says nothing about the weekend's level.
MAX_PEER_VARIANCE = 0.1
# The MAD of a normal sample times this estimates its standard deviation.
MAD_TO_SIGMA = 1.4826
# Counts carry half an event, so that an empty weekend hour is defined.
HALF_EVENT = 0.5


class WeekendPeers:
    """The latest weekend-day report of every team of one worker (see the module docstring)."""

    __slots__ = ("_latest",)

    def __init__(self) -> None:
        # team -> (reported at, log ratio, its counting variance)
        self._latest: dict[str, tuple[float, float, float]] = {}

    def report(self, team: str, at: float, observed: float, usual: float) -> None:
        """Record ``team``'s weekend day so far at ``at``: ``observed`` requests in its busy
        hours against ``usual`` in the same hours of recent working days."""
        o, r = observed + HALF_EVENT, usual + HALF_EVENT
        self._latest[team] = (at, math.log(o / r), 1.0 / o + 1.0 / r)

    def latest(self, team: str) -> tuple[float, float] | None:
        """When ``team`` last reported and its log ratio then (None if it never did)."""
        known = self._latest.get(team)
        return None if known is None else (known[0], known[1])

    def peers(self, team: str, at: float) -> list[float]:
        """The log ratios of the other teams' current weekend days, well measured ones only."""
        since = at - PEER_REPORT_SECONDS
        return [
            ratio
            for name, (reported, ratio, variance) in self._latest.items()
            if name != team and since <= reported <= at and variance <= MAX_PEER_VARIANCE
        ]

    def verdict(self, team: str, at: float, observed: float, usual: float) -> tuple[float, float]:
        """Upper-tail probability of ``observed`` requests against ``usual`` at the others'
        level, and the count that level expects (``(1, NaN)`` with too few peers)."""
        ratios = self.peers(team, at)
        if len(ratios) < MIN_PEERS:
            return 1.0, math.nan
        middle = statistics.median(ratios)
        spread = MAD_TO_SIGMA * statistics.median(abs(r - middle) for r in ratios)
        o, r = observed + HALF_EVENT, usual + HALF_EVENT
        t = (math.log(o / r) - middle) / math.sqrt(spread**2 + 1.0 / o + 1.0 / r)
        return student_t_upper_tail(t, len(ratios) - 1), usual * math.exp(middle)
