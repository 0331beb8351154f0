"""Anomaly scores for any single series: token counts, CPU, request rates, latencies.

:class:`UnivariateDetector` scores each point against the history before it and then learns it.
It needs no arguments: during a short warm-up it learns the series' cadence and typical magnitude,
then follows it with a :class:`~detectors.robust.RobustSeries` (level, weekday/weekend hour-of-day
profile, robust scale, calibrated tail). Timestamps may be irregular and points may be missing:
every learning rate is a function of the elapsed time, not of the number of points.

Scores are calibrated: ``0.5`` is the point whose tail probability equals ``false_alarm_rate``
(a target per point), and scores grow towards 1 as points get less probable. The calibration
checks itself: each tail counts how often points land beyond its guard (a tail probability of
1e-3), which a right tail makes happen about once in a thousand points. A tail whose guard is
crossed far more often than that is too light for the series (counts that are mostly zero, values
on a coarse grid, a signal so smooth that its scale collapses), and it then learns from every
point, alarms included, until its guard is crossed at the expected rate again. A run of
``shift_confirm_points`` consecutive anomalies on the same side is taken as a level shift (a change
point): the detector moves its level to the new regime instead of alarming forever.

Examples
--------
>>> from datetime import datetime, timedelta, UTC
>>> import random
>>> rng = random.Random(7)
>>> detector = UnivariateDetector()
>>> start = datetime(2026, 1, 5, tzinfo=UTC)
>>> scores = [
...     detector.score_one(start + timedelta(minutes=i), 50.0 + rng.gauss(0.0, 2.0))
...     for i in range(500)
... ]
>>> sum(score > 0.5 for score in scores[100:]) <= 2
True
>>> detector.score_one(start + timedelta(minutes=500), 120.0) > 0.8
True
"""

from __future__ import annotations

import itertools
import logging
import math
import statistics
from datetime import UTC, datetime
from typing import Any, Literal

import msgpack

from detectors.robust import (
    MIN_STEPS_FOR_TAIL,
    SECONDS_PER_HOUR,
    TAIL_GUARD_PROBABILITY,
    RobustSeries,
    SeriesParams,
    TailTracker,
    calibrated_score,
    learn_tail_step,
)

log = logging.getLogger(__name__)

UNIVARIATE_STATE_VERSION = 2
# Points over which the frequency of guard crossings is averaged: a thousand, so that a right
# tail is crossed about once in that memory.
GUARD_MEMORY_POINTS = 1.0 / TAIL_GUARD_PROBABILITY
# A tail is taken as too light once its guard is crossed at this multiple of the expected rate:
# five crossings where one is expected (a Poisson tail probability below 0.4 %).
LIGHT_TAIL_FACTOR = 5.0
Direction = Literal["both", "up", "down"]
Transform = Literal["auto", "log", "linear"]


def _epoch_seconds(ts: datetime | float) -> float:
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)  # naive timestamps are read as UTC
        return ts.timestamp()
    return float(ts)


class UnivariateDetector:
    """Online anomaly score in [0, 1] for one series of (timestamp, value) points.

    Parameters
    ----------
    direction
        Which deviations are anomalous: ``"both"`` (default), ``"up"`` or ``"down"``.
    false_alarm_rate
        Target probability, per point, that a normal point scores above 0.5.
    warmup_points
        Points learned before the first non-zero score; the cadence and the typical magnitude of
        the series are measured on them.
    level_half_life_points
        Memory of the level, in points of the measured cadence.
    shift_confirm_points
        Consecutive same-side anomalies after which the detector accepts a new level.
    transform
        ``"log"`` scores relative changes (counts, rates, latencies), ``"linear"`` absolute ones;
        ``"auto"`` picks ``"log"`` when the warm-up values are all non-negative.
    """

    def __init__(
        self,
        direction: Direction = "both",
        false_alarm_rate: float = 1e-3,
        warmup_points: int = 30,
        level_half_life_points: float = 240.0,
        shift_confirm_points: int = 8,
        transform: Transform = "auto",
    ) -> None:
        self.direction = direction
        self.false_alarm_rate = false_alarm_rate
        self.warmup_points = warmup_points
        self.level_half_life_points = level_half_life_points
        self.shift_confirm_points = shift_confirm_points
        self.transform = transform
        self._buffer: list[tuple[float, float]] = []
        self._series: RobustSeries | None = None
        self._lower_tail = TailTracker()
        self._reference = 1.0
        self._use_log = transform == "log"
        self._last_ts = math.nan
        self._run_side = 0
        self._run_length = 0
        self._run_residual = 0.0
        # How often points land beyond the guard of the upper and the lower tail (see the module
        # docstring), as exponentially weighted frequencies.
        self._crossings = [TAIL_GUARD_PROBABILITY, TAIL_GUARD_PROBABILITY]

    # ------------------------------------------------------------------------------- public API
    def score_one(self, ts: datetime | float, value: float) -> float:
        """Score ``value`` observed at ``ts`` against the past, then learn it.

        ``ts`` is a datetime (naive means UTC) or epoch seconds. Missing values (NaN) score 0 and
        are not learned; points older than the last one are scored but not learned.
        """
        seconds = _epoch_seconds(ts)
        if value is None or not math.isfinite(value):
            return 0.0
        series = self._series
        if series is None:
            self._buffer.append((seconds, float(value)))
            if len(self._buffer) >= self.warmup_points:
                self._start_from_buffer()
            return 0.0
        y = self._transform(float(value))
        result = series.score(seconds, y)
        upper_p = series.tail_probability(result.z)
        lower_p = self._lower_tail.probability(-result.z)
        if self.direction == "up":
            probability = upper_p
        elif self.direction == "down":
            probability = lower_p
        else:
            # Two one-sided tests: Bonferroni keeps the per-point rate at the target.
            probability = min(1.0, 2.0 * min(upper_p, lower_p))
        alarm = probability < self.false_alarm_rate
        if seconds > self._last_ts:
            elapsed = seconds - self._last_ts
            self._count_crossings(upper_p, lower_p)
            self._learn(seconds, y, elapsed, result.z, alarm, result.expected)
            self._last_ts = seconds
        return calibrated_score(probability, self.false_alarm_rate)

    def learn_one(self, ts: datetime | float, value: float) -> None:
        """Learn a point without needing its score (River's naming)."""
        self.score_one(ts, value)

    # ---------------------------------------------------------------------------------- internals
    def _transform(self, value: float) -> float:
        scaled = value / self._reference
        if self._use_log:
            return math.copysign(math.log1p(abs(scaled)), scaled)
        return scaled

    def _start_from_buffer(self) -> None:
        values = [v for _, v in self._buffer]
        times = [t for t, _ in self._buffer]
        magnitude = statistics.median(abs(v) for v in values)
        self._reference = magnitude if magnitude > 0.0 else 1.0
        if self.transform == "auto":
            self._use_log = min(values) >= 0.0
        gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
        cadence = statistics.median(gaps) if gaps else 60.0
        params = SeriesParams(
            level_half_life=self.level_half_life_points * cadence,
            # A week of a bin's own hour, or a handful of points for coarse series.
            profile_memory=max(7.0 * SECONDS_PER_HOUR, 5.0 * cadence),
            scale_floor=2e-3,
        )
        self._series = RobustSeries.fresh(params)
        self._last_ts = -math.inf
        buffered, self._buffer = self._buffer, []
        for seconds, value in sorted(buffered):
            y = self._transform(value)
            if seconds > self._last_ts:
                elapsed = seconds - self._last_ts if math.isfinite(self._last_ts) else cadence
                result = self._series.score(seconds, y)
                self._learn(seconds, y, elapsed, result.z, False, result.expected)
                self._last_ts = seconds
        log.debug("univariate detector warmed up: cadence %.1fs, log=%s", cadence, self._use_log)

    def _count_crossings(self, upper_p: float, lower_p: float) -> None:
        step = 1.0 / GUARD_MEMORY_POINTS
        crossings = self._crossings
        crossings[0] += step * ((upper_p < TAIL_GUARD_PROBABILITY) - crossings[0])
        crossings[1] += step * ((lower_p < TAIL_GUARD_PROBABILITY) - crossings[1])

    def _too_light(self, side: int) -> bool:
        """Whether the upper (0) or lower (1) tail's guard is crossed far more often than a
        right tail's would be."""
        return self._crossings[side] > LIGHT_TAIL_FACTOR * TAIL_GUARD_PROBABILITY

    def _learn(
        self, seconds: float, y: float, elapsed: float, z: float, alarm: bool, expected: float
    ) -> None:
        series = self._series
        assert series is not None
        side = (1 if z > 0 else -1) if alarm else 0
        if side != 0 and side == self._run_side:
            self._run_length += 1
            self._run_residual += y - expected
        elif side != 0:
            self._run_side, self._run_length, self._run_residual = side, 1, y - expected
        else:
            self._run_side, self._run_length, self._run_residual = 0, 0, 0.0
        upper_light = self._too_light(0)
        series.learn(seconds, y, elapsed, learn_tail=not alarm and not upper_light)
        if upper_light and series.count > MIN_STEPS_FOR_TAIL:
            series.tail_q, series.tail_excess = learn_tail_step(
                series.tail_q, series.tail_excess, z, series.params.tail_rate, guarded=False
            )
        lower = self._lower_tail
        if self._too_light(1) and series.count > 1:
            lower.quantile, lower.excess = learn_tail_step(
                lower.quantile, lower.excess, -z, lower.rate, guarded=False
            )
        elif not alarm and series.count > 1:
            lower.learn(-z)
        if self._run_length >= self.shift_confirm_points:
            # A change point: the run's mean offset is the new regime, not a string of outliers.
            series.shift_level(self._run_residual / self._run_length)
            self._run_side, self._run_length, self._run_residual = 0, 0, 0.0

    # ------------------------------------------------------------------------------------ state
    def to_state(self) -> bytes:
        """Compact, versioned snapshot (msgpack)."""
        plain: dict[str, Any] = {
            "v": UNIVARIATE_STATE_VERSION,
            "params": [
                self.direction,
                self.false_alarm_rate,
                self.warmup_points,
                self.level_half_life_points,
                self.shift_confirm_points,
                self.transform,
            ],
            "buffer": self._buffer,
            "ref": self._reference,
            "log": self._use_log,
            "last": self._last_ts,
            "run": [self._run_side, self._run_length, self._run_residual],
            "lower": [self._lower_tail.quantile, self._lower_tail.excess],
            "crossings": self._crossings,
            "series": None,
        }
        if self._series is not None:
            p = self._series.params
            plain["series"] = [
                [p.level_half_life, p.profile_memory, p.scale_floor, p.clip, p.tail_rate],
                self._series.to_plain(),
            ]
        packed: bytes = msgpack.packb(plain, use_bin_type=True)
        return packed

    @classmethod
    def from_state(cls, data: bytes) -> UnivariateDetector:
        """Inverse of :meth:`to_state`."""
        plain = msgpack.unpackb(data, raw=False)
        if plain.get("v") not in (1, UNIVARIATE_STATE_VERSION):
            raise ValueError(f"unknown univariate detector state version {plain.get('v')!r}")
        detector = cls(*plain["params"])
        detector._buffer = [(float(t), float(v)) for t, v in plain["buffer"]]
        detector._reference = plain["ref"]
        detector._use_log = plain["log"]
        detector._last_ts = plain["last"]
        detector._run_side, detector._run_length, detector._run_residual = plain["run"]
        detector._lower_tail.quantile, detector._lower_tail.excess = plain["lower"]
        # Version 1 did not count guard crossings: they start from the expected rate.
        if "crossings" in plain:
            detector._crossings = [float(c) for c in plain["crossings"]]
        if plain["series"] is not None:
            params = SeriesParams(*plain["series"][0])
            detector._series = RobustSeries.from_plain(params, plain["series"][1])
        return detector
