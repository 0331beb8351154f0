from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors import UnivariateDetector

from .streams import poisson

START = datetime(2026, 3, 2, tzinfo=UTC)


def cpu(minute: int, rng: random.Random) -> float:
    daily = 30.0 + 20.0 * math.sin(2 * math.pi * minute / 1440.0)
    return daily + rng.gauss(0.0, 2.0)


def test_needs_no_arguments_and_scores_in_unit_interval() -> None:
    detector = UnivariateDetector()
    rng = random.Random(1)
    scores = [detector.score_one(START + timedelta(minutes=m), cpu(m, rng)) for m in range(3000)]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[:29] == [0.0] * 29  # warm-up learns but does not score


def test_spike_scores_high_and_normal_points_rarely_do() -> None:
    detector = UnivariateDetector()
    rng = random.Random(2)
    scores = {}
    for m in range(6000):
        value = cpu(m, rng) + (60.0 if m == 5000 else 0.0)
        scores[m] = detector.score_one(START + timedelta(minutes=m), value)
    assert scores[5000] > 0.8
    normal = [s for m, s in scores.items() if 500 <= m < 5000]
    assert sum(s > 0.5 for s in normal) / len(normal) < 0.005


def test_level_shift_alarms_then_becomes_the_new_normal() -> None:
    detector = UnivariateDetector()
    rng = random.Random(3)
    scores = []
    for m in range(4000):
        value = 100.0 + rng.gauss(0.0, 3.0) + (50.0 if m >= 3000 else 0.0)
        scores.append(detector.score_one(START + timedelta(minutes=m), value))
    assert max(scores[3000:3003]) > 0.8
    assert sum(s > 0.5 for s in scores[3100:]) <= 5


def test_irregular_timestamps_and_missing_values() -> None:
    detector = UnivariateDetector()
    rng = random.Random(4)
    ts = START
    scores = []
    for _ in range(2000):
        ts += timedelta(seconds=rng.uniform(5, 120))
        value = math.nan if rng.random() < 0.05 else 200.0 + rng.gauss(0.0, 10.0)
        scores.append(detector.score_one(ts, value))
    ts += timedelta(seconds=30)
    assert detector.score_one(ts, 600.0) > 0.8
    assert sum(s > 0.5 for s in scores[100:]) <= 10


def test_negative_valued_series_use_a_linear_scale() -> None:
    detector = UnivariateDetector()
    rng = random.Random(5)
    for m in range(500):
        detector.score_one(START + timedelta(minutes=m), rng.gauss(0.0, 1.0))
    assert detector.score_one(START + timedelta(minutes=500), 12.0) > 0.8


def test_state_round_trip_continues_identically() -> None:
    rng = random.Random(6)
    points = [(START + timedelta(minutes=m), cpu(m, rng)) for m in range(1500)]
    straight = UnivariateDetector()
    expected = [straight.score_one(t, v) for t, v in points]
    first = UnivariateDetector()
    got = [first.score_one(t, v) for t, v in points[:700]]
    resumed = UnivariateDetector.from_state(first.to_state())
    got += [resumed.score_one(t, v) for t, v in points[700:]]
    assert got == pytest.approx(expected, abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=1e6),
            st.floats(allow_nan=True, allow_infinity=True, width=32),
        ),
        max_size=80,
    )
)
def test_any_input_gives_a_score_in_unit_interval(points: list[tuple[float, float]]) -> None:
    detector = UnivariateDetector(warmup_points=5)
    for seconds, value in points:
        score = detector.score_one(seconds, value)
        assert 0.0 <= score <= 1.0


@pytest.mark.parametrize(
    "values",
    [
        # Counts that are mostly zero: a one is a step of log(2) over a scale of almost nothing.
        lambda rng, i: float(poisson(rng, 0.3)),
        # A gauge on a coarse grid: the same reading for long stretches, a step now and then.
        lambda rng, i: 0.134 if rng.random() < 0.85 else rng.choice([0.066, 0.2, 0.268]),
    ],
    ids=["sparse-counts", "coarse-grid"],
)
def test_a_tail_too_light_for_the_series_learns_until_alarms_are_rare_again(values) -> None:  # type: ignore[no-untyped-def]
    detector = UnivariateDetector()
    rng = random.Random(11)
    scores = [
        detector.score_one(START + timedelta(minutes=5 * i), values(rng, i)) for i in range(6000)
    ]
    late = scores[3000:]
    assert sum(s > 0.5 for s in late) / len(late) < 0.003
    # A value far beyond anything seen still alarms.
    assert detector.score_one(START + timedelta(minutes=5 * 6000), 40.0) > 0.5


def afternoon_counts(i: int) -> float:
    """Mean requests per five minutes: a fifth of one at night, about four in the afternoon."""
    hour = (i * 5 / 60) % 24
    return 0.2 + 4.0 * math.exp(-(((hour - 14.0) / 4.0) ** 2))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_burst_in_sparse_counts_is_caught_on_the_absolute_scale(seed: int) -> None:
    # 24 requests in five minutes where about four are usual: a log scale compresses it into
    # the range of an ordinary busy afternoon; the absolute scale does not.
    two_scales, log_only = UnivariateDetector(), UnivariateDetector(transform="log")
    rng = random.Random(seed)
    burst_at = 4032 + 14 * 12  # 14:00 on day 15
    scores = []
    for i in range(burst_at):
        ts, value = START + timedelta(minutes=5 * i), float(poisson(rng, afternoon_counts(i)))
        scores.append(two_scales.score_one(ts, value))
        log_only.score_one(ts, value)
    normal = scores[1000:]
    assert sum(s > 0.5 for s in normal) / len(normal) < 0.003
    at = START + timedelta(minutes=5 * burst_at)
    assert log_only.score_one(at, 24.0) < 0.5
    assert two_scales.score_one(at, 24.0) > 0.6


def test_version_2_state_restores_as_one_scale() -> None:
    rng = random.Random(8)
    points = [(START + timedelta(minutes=m), cpu(m, rng)) for m in range(1200)]
    straight = UnivariateDetector(transform="log")
    expected = [straight.score_one(t, v) for t, v in points]
    first = UnivariateDetector(transform="log")
    got = [first.score_one(t, v) for t, v in points[:600]]
    # The layout of version 2: one scale, its fields at the top level.
    plain = msgpack.unpackb(first.to_state(), raw=False)
    (use_log, reference, run, lower, crossings, params, series) = plain.pop("tracks")[0]
    plain.update(
        v=2, log=use_log, ref=reference, run=run, lower=lower, crossings=crossings,
        series=[params, series],
    )  # fmt: skip
    resumed = UnivariateDetector.from_state(msgpack.packb(plain, use_bin_type=True))
    got += [resumed.score_one(t, v) for t, v in points[600:]]
    assert got == pytest.approx(expected, abs=1e-12)
