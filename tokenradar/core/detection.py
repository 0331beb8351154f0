"""Which detector the core runs (``TOKENRADAR_DETECTOR``)."""

from __future__ import annotations

from collections.abc import Callable

from detectors import EWZScoreBaseline, default_factory
from detectors.base import TeamDetectorFactory
from detectors.placeholder import EWZScoreFactory

DETECTORS: dict[str, Callable[[], TeamDetectorFactory]] = {
    # Seasonal per-team and per-user models with calibrated thresholds (detectors/usage.py).
    "usage": default_factory,
    # The naive baseline `tokenradar evaluate` compares against.
    "baseline": EWZScoreBaseline,
    # The first, simple detector: short warm-up, noisy; kept for tests of the plumbing.
    "placeholder": EWZScoreFactory,
}
DEFAULT_DETECTOR = "usage"


def default_detector_factory(name: str = DEFAULT_DETECTOR) -> TeamDetectorFactory:
    """The detector factory the worker and ``replay`` use.

    >>> type(default_detector_factory("placeholder")).__name__
    'EWZScoreFactory'
    """
    try:
        return DETECTORS[name]()
    except KeyError:
        raise ValueError(f"unknown detector {name!r} (known: {', '.join(DETECTORS)})") from None
