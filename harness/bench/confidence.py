"""How far a same-run ratio can be trusted: a 95 % confidence interval from its pairs, and
when a series of pairs has measured enough.

A ratio of two rates is judged over pairs (one measurement of each side, taken back to back):
its value is the geometric mean of the pairs' ratios, and its interval a percentile bootstrap
of that mean (resampling whole pairs, so whatever the two sides of a pair share stays
together). The bootstrap assumes nothing about the shape of the pairs' spread; with fewer
than ``MIN_PAIRS`` pairs there is no interval.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence

__all__ = ["MIN_PAIRS", "bootstrap_ci", "geometric_mean", "relative_half_width"]

MIN_PAIRS = 3
_RESAMPLES = 4000


def geometric_mean(ratios: Sequence[float]) -> float:
    return statistics.geometric_mean(ratios)


def bootstrap_ci(
    ratios: Sequence[float], level: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """The ``level`` interval of the geometric mean of ``ratios`` (all > 0); None with fewer
    than MIN_PAIRS of them. Seeded: the same pairs give the same interval."""
    if len(ratios) < MIN_PAIRS:
        return None
    logs = [math.log(r) for r in ratios]
    rng = random.Random(seed)  # noqa: S311 -- resampling, not secrets
    n = len(logs)
    means = sorted(sum(rng.choices(logs, k=n)) / n for _ in range(_RESAMPLES))
    tail = (1 - level) / 2
    low = means[max(0, math.floor(tail * _RESAMPLES))]
    high = means[min(_RESAMPLES - 1, math.ceil((1 - tail) * _RESAMPLES) - 1)]
    return math.exp(low), math.exp(high)


def relative_half_width(interval: tuple[float, float], value: float) -> float:
    """Half the interval's width as a fraction of ``value`` (0.05: +-5 %)."""
    low, high = interval
    return (high - low) / 2 / value if value else math.inf
