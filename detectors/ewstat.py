"""Exponentially weighted mean and variance of one series: the naive detectors' statistic."""

from __future__ import annotations

import math
from dataclasses import dataclass

# The smallest standard deviation a z-score divides by (on log1p volumes: about a quarter of
# an e-fold), so a series that has been flat does not turn every wobble into a huge z.
DEFAULT_STD_FLOOR = 0.25


@dataclass(slots=True)
class EWStat:
    """Exponentially weighted mean and variance of one series.

    Examples
    --------
    >>> stat = EWStat()
    >>> for value in [1.0, 1.0, 1.0, 1.0]:
    ...     stat.learn(value, alpha=0.1)
    >>> stat.mean, stat.count, stat.z(2.0)
    (1.0, 4, 4.0)
    """

    mean: float = 0.0
    var: float = 0.0
    count: int = 0

    def z(self, value: float, floor: float = DEFAULT_STD_FLOOR) -> float:
        """How many (floored) standard deviations ``value`` lies above the mean."""
        return (value - self.mean) / math.sqrt(max(self.var, floor * floor))

    def learn(self, value: float, alpha: float) -> None:
        """Fold ``value`` in with weight ``alpha`` (the first value sets the mean)."""
        if self.count == 0:
            self.mean = value
        else:
            delta = value - self.mean
            self.mean += alpha * delta
            self.var = (1.0 - alpha) * (self.var + alpha * delta * delta)
        self.count += 1
