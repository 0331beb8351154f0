"""Anomaly scores for any single series: token counts, CPU, request rates, latencies.

:class:`UnivariateDetector` scores each point against the history before it and then learns it.
It needs no arguments: during a short warm-up it learns the series' cadence and typical magnitude,
then follows it with a :class:`~detectors.robust.RobustSeries` (level, weekday/weekend hour-of-day
profile, robust scale, calibrated tail). Timestamps may be irregular and points may be missing:
every learning rate is a function of the elapsed time, not of the number of points.

A non-negative series is followed on two scales at once. On a log scale a change is relative
(latencies, a request rate that doubles); on the linear scale it is absolute (a CPU gauge, and
bursts in sparse counts, which a log compresses into the range of an ordinary busy hour). Which
one a metric needs cannot be read from a few warm-up points, so both are tested and a point is as
improbable as the less probable of the two, doubled (Bonferroni keeps the per-point rate at the
target). A series with negative values is followed on the linear scale only.

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
    StepResult,
    TailTracker,
    calibrated_score,
    learn_tail_step,
)

log = logging.getLogger(__name__)

UNIVARIATE_STATE_VERSION = 3
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


class _Track:
    """The series on one scale (log or linear): its baseline and tails, the run of same-side
    anomalies that makes a change point, and the check of its own calibration."""

    __slots__ = (
        "crossings",
        "lower_tail",
        "reference",
        "run_length",
        "run_residual",
        "run_side",
        "series",
        "use_log",
    )

    def __init__(self, use_log: bool, reference: float, params: SeriesParams) -> None:
        self.use_log = use_log
        self.reference = reference
        self.series = RobustSeries.fresh(params)
        self.lower_tail = TailTracker()
        self.run_side = 0
        self.run_length = 0
        self.run_residual = 0.0
        # How often points land beyond the guard of the upper and the lower tail (see the module
        # docstring), as exponentially weighted frequencies.
        self.crossings = [TAIL_GUARD_PROBABILITY, TAIL_GUARD_PROBABILITY]

    def transform(self, value: float) -> float:
        scaled = value / self.reference
        if self.use_log:
            return math.copysign(math.log1p(abs(scaled)), scaled)
        return scaled

    def tails(self, seconds: float, y: float) -> tuple[float, float, StepResult]:
        """Upper and lower tail probabilities of ``y`` (a transformed value) at ``seconds``, and
        the step."""
        result = self.series.score(seconds, y)
        return (
            self.series.tail_probability(result.z),
            self.lower_tail.probability(-result.z),
            result,
        )

    def count_crossings(self, upper_p: float, lower_p: float) -> None:
        step = 1.0 / GUARD_MEMORY_POINTS
        crossings = self.crossings
        crossings[0] += step * ((upper_p < TAIL_GUARD_PROBABILITY) - crossings[0])
        crossings[1] += step * ((lower_p < TAIL_GUARD_PROBABILITY) - crossings[1])

    def too_light(self, side: int) -> bool:
        """Whether the upper (0) or lower (1) tail's guard is crossed far more often than a
        right tail's would be."""
        return self.crossings[side] > LIGHT_TAIL_FACTOR * TAIL_GUARD_PROBABILITY

    def learn(
        self,
        seconds: float,
        y: float,
        elapsed: float,
        result: StepResult,
        alarm: bool,
        shift_confirm_points: int,
    ) -> None:
        """Learn ``y`` (a transformed value) that :meth:`tails` scored as ``result``."""
        series = self.series
        z = result.z
        side = (1 if z > 0 else -1) if alarm else 0
        if side != 0 and side == self.run_side:
            self.run_length += 1
            self.run_residual += y - result.expected
        elif side != 0:
            self.run_side, self.run_length, self.run_residual = side, 1, y - result.expected
        else:
            self.run_side, self.run_length, self.run_residual = 0, 0, 0.0
        upper_light = self.too_light(0)
        series.learn(seconds, y, elapsed, learn_tail=not alarm and not upper_light)
        if upper_light and series.count > MIN_STEPS_FOR_TAIL:
            series.tail_q, series.tail_excess = learn_tail_step(
                series.tail_q, series.tail_excess, z, series.params.tail_rate, guarded=False
            )
        lower = self.lower_tail
        if self.too_light(1) and series.count > 1:
            lower.quantile, lower.excess = learn_tail_step(
                lower.quantile, lower.excess, -z, lower.rate, guarded=False
            )
        elif not alarm and series.count > 1:
            lower.learn(-z)
        if self.run_length >= shift_confirm_points:
            # A change point: the run's mean offset is the new regime, not a string of outliers.
            series.shift_level(self.run_residual / self.run_length)
            self.run_side, self.run_length, self.run_residual = 0, 0, 0.0

    def to_plain(self) -> list[Any]:
        p = self.series.params
        return [
            self.use_log,
            self.reference,
            [self.run_side, self.run_length, self.run_residual],
            [self.lower_tail.quantile, self.lower_tail.excess],
            self.crossings,
            [p.level_half_life, p.profile_memory, p.scale_floor, p.clip, p.tail_rate],
            self.series.to_plain(),
        ]

    @classmethod
    def from_plain(cls, plain: list[Any]) -> _Track:
        use_log, reference, run, lower, crossings, params, series = plain
        track = cls(bool(use_log), float(reference), SeriesParams(*params))
        track.run_side, track.run_length, track.run_residual = run
        track.lower_tail.quantile, track.lower_tail.excess = lower
        track.crossings = [float(c) for c in crossings]
        track.series = RobustSeries.from_plain(track.series.params, series)
        return track


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
        ``"auto"`` (default) scores both when the warm-up values are all non-negative (a point
        is as improbable as the less probable of the two, Bonferroni-corrected), and absolute
        changes only otherwise.
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
        self._tracks: list[_Track] = []
        self._last_ts = math.nan

    # ------------------------------------------------------------------------------- public API
    def score_one(self, ts: datetime | float, value: float) -> float:
        """Score ``value`` observed at ``ts`` against the past, then learn it.

        ``ts`` is a datetime (naive means UTC) or epoch seconds. Missing values (NaN) score 0 and
        are not learned; points older than the last one are scored but not learned.
        """
        seconds = _epoch_seconds(ts)
        if value is None or not math.isfinite(value):
            return 0.0
        value = float(value)
        if not self._tracks:
            self._buffer.append((seconds, value))
            if len(self._buffer) >= self.warmup_points:
                self._start_from_buffer()
            return 0.0
        learn = seconds > self._last_ts
        elapsed = seconds - self._last_ts
        least = 1.0
        for track in self._tracks:
            y = track.transform(value)
            upper_p, lower_p, result = track.tails(seconds, y)
            probability = self._probability(upper_p, lower_p)
            least = min(least, probability)
            if learn:
                track.count_crossings(upper_p, lower_p)
                alarm = probability < self.false_alarm_rate
                track.learn(seconds, y, elapsed, result, alarm, self.shift_confirm_points)
        if learn:
            self._last_ts = seconds
        # Several scales are several tests of one point: Bonferroni keeps the rate at the target.
        return calibrated_score(min(1.0, len(self._tracks) * least), self.false_alarm_rate)

    def learn_one(self, ts: datetime | float, value: float) -> None:
        """Learn a point without needing its score (River's naming)."""
        self.score_one(ts, value)

    # ---------------------------------------------------------------------------------- internals
    def _probability(self, upper_p: float, lower_p: float) -> float:
        if self.direction == "up":
            return upper_p
        if self.direction == "down":
            return lower_p
        # Two one-sided tests: Bonferroni keeps the per-point rate at the target.
        return min(1.0, 2.0 * min(upper_p, lower_p))

    def _start_from_buffer(self) -> None:
        values = [v for _, v in self._buffer]
        times = [t for t, _ in self._buffer]
        magnitude = statistics.median(abs(v) for v in values)
        reference = magnitude if magnitude > 0.0 else 1.0
        gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
        cadence = statistics.median(gaps) if gaps else 60.0
        params = SeriesParams(
            level_half_life=self.level_half_life_points * cadence,
            # A week of a bin's own hour, or a handful of points for coarse series.
            profile_memory=max(7.0 * SECONDS_PER_HOUR, 5.0 * cadence),
            scale_floor=2e-3,
        )
        if self.transform == "auto":
            scales = [True, False] if min(values) >= 0.0 else [False]
        else:
            scales = [self.transform == "log"]
        self._tracks = [_Track(use_log, reference, params) for use_log in scales]
        self._last_ts = -math.inf
        buffered, self._buffer = self._buffer, []
        for seconds, value in sorted(buffered):
            if seconds > self._last_ts:
                elapsed = seconds - self._last_ts if math.isfinite(self._last_ts) else cadence
                for track in self._tracks:
                    y = track.transform(value)
                    result = track.series.score(seconds, y)
                    track.learn(seconds, y, elapsed, result, False, self.shift_confirm_points)
                self._last_ts = seconds
        log.debug("univariate detector warmed up: cadence %.1fs, log scale %s", cadence, scales)

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
            "last": self._last_ts,
            "tracks": [track.to_plain() for track in self._tracks],
        }
        packed: bytes = msgpack.packb(plain, use_bin_type=True)
        return packed

    @classmethod
    def from_state(cls, data: bytes) -> UnivariateDetector:
        """Inverse of :meth:`to_state`."""
        plain = msgpack.unpackb(data, raw=False)
        version = plain.get("v")
        if version not in (1, 2, UNIVARIATE_STATE_VERSION):
            raise ValueError(f"unknown univariate detector state version {version!r}")
        detector = cls(*plain["params"])
        detector._buffer = [(float(t), float(v)) for t, v in plain["buffer"]]
        detector._last_ts = plain["last"]
        if version == UNIVARIATE_STATE_VERSION:
            detector._tracks = [_Track.from_plain(track) for track in plain["tracks"]]
        elif plain["series"] is not None:
            # Versions 1 and 2 followed one scale; version 1 did not count guard crossings,
            # which then start from the expected rate.
            crossings = plain.get("crossings", [TAIL_GUARD_PROBABILITY] * 2)
            detector._tracks = [
                _Track.from_plain(
                    [
                        plain["log"],
                        plain["ref"],
                        plain["run"],
                        plain["lower"],
                        crossings,
                        plain["series"][0],
                        plain["series"][1],
                    ]
                )
            ]
        return detector
