"""Percentiles and CDFs of latencies, the one way: through an HDR histogram of microseconds.

Per-phase latencies are recorded straight into histograms (they merge across worker
processes); lists of seconds, such as time-to-mailbox, go into one first. Both come out in
milliseconds under the same keys.
"""

from __future__ import annotations

from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

from harness.bench.model import Cdf, Percentiles

__all__ = [
    "CDF_PERCENTILES",
    "HIGHEST_US",
    "LOWEST_US",
    "cdf",
    "histogram",
    "histogram_of_seconds",
    "summary",
]

# Microseconds, 1 us .. 1 h at 3 significant digits: a latency or a time-to-mailbox of a
# message that sat in the queue for minutes both fit.
LOWEST_US, HIGHEST_US, _DIGITS = 1, 3_600_000_000, 3
#: The points of a stored CDF: dense in the tail, where the nines plot reads them.
CDF_PERCENTILES = (0, 10, 25, 50, 75, 90, 95, 98, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100)


def histogram() -> HdrHistogram:
    """An empty histogram of microseconds; every histogram of a run has this shape, so any
    two add up."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, _DIGITS)


def clamp_us(value: int) -> int:
    return max(LOWEST_US, min(HIGHEST_US, value))


def histogram_of_seconds(values: Iterable[float]) -> HdrHistogram:
    hist = histogram()
    for seconds in values:
        hist.record_value(clamp_us(round(seconds * 1e6)))
    return hist


def summary(hist: HdrHistogram | None) -> Percentiles | None:
    """p50/p90/p99/p99.9/max in milliseconds and the count; None when nothing was recorded."""
    if hist is None or hist.get_total_count() == 0:
        return None
    at = _values_at(hist, (50.0, 90.0, 99.0, 99.9))
    return {
        "p50": at[50.0],
        "p90": at[90.0],
        "p99": at[99.0],
        "p99.9": at[99.9],
        "max": hist.get_max_value() / 1000,
        "count": int(hist.get_total_count()),
    }


def cdf(hist: HdrHistogram | None) -> Cdf:
    """[[milliseconds, percentile], ...] at CDF_PERCENTILES; empty when nothing was recorded."""
    if hist is None or hist.get_total_count() == 0:
        return []
    at = _values_at(hist, CDF_PERCENTILES)
    return [[at[q], q] for q in CDF_PERCENTILES]


def _values_at(hist: HdrHistogram, percentiles: Iterable[float]) -> dict[float, float]:
    """Milliseconds at each percentile, in one walk over the histogram (a walk per percentile
    costs about 2 ms in this pure-Python HdrHistogram)."""
    found = hist.get_percentile_to_value_dict(list(percentiles))
    return {float(q): value / 1000 for q, value in found.items()}
