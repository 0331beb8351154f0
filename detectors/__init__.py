"""Online anomaly detectors for token usage: pure Python, deterministic, no I/O.

* :func:`default_factory` / :class:`UsageDetectorFactory` — the per-team detector the core runs.
* :class:`EWZScoreBaseline` — the naive baseline (EW z-score on 10-minute windows) for comparison.
* :class:`UnivariateDetector` — a calibrated score in [0, 1] for any single series.
"""

from __future__ import annotations

from detectors.base import (
    Contributor,
    Finding,
    TeamDetector,
    TeamDetectorFactory,
    Usage,
    WindowSummary,
)
from detectors.baseline import EWZScoreBaseline, EWZScoreBaselineDetector
from detectors.univariate import UnivariateDetector
from detectors.usage import (
    UsageDetector,
    UsageDetectorFactory,
    UsageDetectorSettings,
    default_factory,
)

__all__ = [
    "Contributor",
    "EWZScoreBaseline",
    "EWZScoreBaselineDetector",
    "Finding",
    "TeamDetector",
    "TeamDetectorFactory",
    "UnivariateDetector",
    "Usage",
    "UsageDetector",
    "UsageDetectorFactory",
    "UsageDetectorSettings",
    "WindowSummary",
    "default_factory",
]
