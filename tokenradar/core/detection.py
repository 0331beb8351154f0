"""Which detector the core runs."""

from __future__ import annotations

from detectors.base import TeamDetectorFactory
from detectors.placeholder import EWZScoreFactory


def default_detector_factory() -> TeamDetectorFactory:
    """The detector factory the worker and ``replay`` use unless told otherwise."""
    return EWZScoreFactory()
