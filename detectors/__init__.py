"""Online anomaly detectors for token usage: pure Python, deterministic, no I/O."""

from __future__ import annotations

from detectors.base import (
    Contributor,
    Finding,
    TeamDetector,
    TeamDetectorFactory,
    Usage,
    WindowSummary,
)

__all__ = [
    "Contributor",
    "Finding",
    "TeamDetector",
    "TeamDetectorFactory",
    "Usage",
    "WindowSummary",
]
