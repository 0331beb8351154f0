"""Sanity check of ``UnivariateDetector`` on synthetic non-token series.

Three series of two weeks at one-minute cadence (10 % of points missing, timestamps jittered):
CPU percent with a daily cycle, a request rate (Poisson counts) with daily and weekly cycles, and
a latency with a heavy (log-normal) tail. Each gets point spikes and one level shift in the second
week. Reports the share of normal points scoring above 0.5 (the calibrated threshold; the target
is 1e-3) and how many injected anomalies score above 0.5 within five points.

Run: ``PYTHONPATH=. python bench/univariate_check.py``
"""

from __future__ import annotations

import logging

import numpy as np

from detectors import UnivariateDetector

log = logging.getLogger("bench.univariate_check")

MINUTES = 14 * 1440
START = 1_793_606_400.0  # Monday 00:00 UTC


def _series(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    minutes = np.arange(MINUTES)
    hour = (minutes % 1440) / 60.0
    weekday = (minutes // 1440) % 7
    daily = np.exp(-(((hour - 14.0) / 4.0) ** 2))
    weekly = np.where(weekday >= 5, 0.4, 1.0)
    if kind == "cpu":
        values = 20.0 + 45.0 * daily * weekly + rng.normal(0.0, 3.0, MINUTES)
    elif kind == "requests":
        values = rng.poisson(5.0 + 200.0 * daily * weekly).astype(float)
    else:
        values = 80.0 * np.exp(rng.normal(0.0, 0.25, MINUTES)) * (1.0 + 0.3 * daily)
    anomalies = np.zeros(MINUTES, dtype=bool)
    for start in rng.choice(np.arange(7 * 1440, 13 * 1440), size=8, replace=False):
        values[start] *= 4.0 if kind != "cpu" else 1.0
        if kind == "cpu":
            values[start] = 99.0
        anomalies[start] = True
    shift_at = 13 * 1440 + 600
    values[shift_at:] *= 2.0 if kind != "cpu" else 1.0
    if kind == "cpu":
        values[shift_at:] += 25.0
    anomalies[shift_at] = True
    return values, anomalies


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rng = np.random.default_rng(5)
    for kind in ("cpu", "requests", "latency"):
        values, anomalies = _series(kind, rng)
        keep = rng.random(MINUTES) > 0.1
        keep[anomalies] = True
        detector = UnivariateDetector()
        scores = np.zeros(MINUTES)
        for minute in np.flatnonzero(keep):
            ts = START + 60.0 * minute + float(rng.uniform(-20.0, 20.0))
            scores[minute] = detector.score_one(ts, float(values[minute]))
        normal = keep.copy()
        for index in np.flatnonzero(anomalies):
            normal[index : index + 10] = False
        normal[: 2 * 1440] = False  # the first two days: the profile is still forming
        false_alarm_share = float(np.mean(scores[normal] > 0.5))
        caught = sum(
            bool(np.any(scores[index : index + 5] > 0.5)) for index in np.flatnonzero(anomalies)
        )
        log.info(
            "%-9s false alarms %.4f of normal points (target 0.001), anomalies caught %d of %d",
            kind,
            false_alarm_share,
            caught,
            int(anomalies.sum()),
        )


if __name__ == "__main__":
    main()
