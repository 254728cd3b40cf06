"""A soak run cut into windows of equal length: per window, what the clients got accepted and
how fast, how long the copies took to reach the Maildir, what failed and was retried, the
deepest queue, and the daemons' memory at its end. Pure arithmetic on what the run recorded.

Every time here is seconds since the clients started (SendLog.started) on their monotonic
clock; a Maildir copy's time is the file's mtime (the wall clock, which lab containers share
with this machine), put on the same axis through SendLog.started. The last window runs on
while the clients do (a server that fell behind, a late retry); a queue sample of the drain
after it counts in it too."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.bench import stats
from harness.bench.metrics import Outcome
from harness.chaos.sender import SendLog
from harness.fuzz.lab import largest_growth_mib

__all__ = [
    "RssSample",
    "Window",
    "cut",
    "family_mib",
    "p50_p99",
    "rate_series",
    "rss_growth_mib",
    "windows",
]

#: (seconds since the start, rss_by_family of that moment)
RssSample = tuple[float, dict[str, dict[str, Any]]]


@dataclass(frozen=True)
class Window:
    index: int
    start_s: float
    end_s: float
    #: 250s the clients got in the window, and their rate over the window's length
    accepted: int
    accepted_per_s: float
    #: those messages' latency from when each was due to its 250 (ms)
    latency_ms: dict[str, float] | None
    #: those messages' first copies, and the time from the 250 to the copy (ms)
    delivered: int
    ttm_ms: dict[str, float] | None
    #: attempts without a 250, and attempts that were a message's second or later try
    failures: int
    retries: int
    #: the deepest queue sampled (None: no sample in the window)
    queue_max: int | None
    #: each daemon family's resident memory at the window's end: all its processes (MiB)
    rss_mib: dict[str, float]


def cut(seconds: float, window: float, until: float = 0.0) -> list[tuple[float, float]]:
    """(start, end) of each window of a ``seconds`` long load; the last may be shorter, and
    runs on to ``until`` when the clients went on past the load's planned end."""
    count = max(1, math.ceil(seconds / window - 1e-9))
    bounds = [(i * window, min((i + 1) * window, seconds)) for i in range(count)]
    bounds[-1] = (bounds[-1][0], max(bounds[-1][1], until))
    return bounds


def _slot(at: float, bounds: list[tuple[float, float]]) -> int:
    if len(bounds) == 1:
        return 0
    width = bounds[0][1] - bounds[0][0]
    return min(len(bounds) - 1, max(0, int(at // width)))


def p50_p99(seconds: Iterable[float]) -> dict[str, float] | None:
    """The median and the 99th percentile in ms, the bench's way (an HDR histogram)."""
    summary = stats.summary(stats.histogram_of_seconds(seconds))
    return None if summary is None else {"p50": summary["p50"], "p99": summary["p99"]}


def _at_end(rss: list[RssSample], end: float) -> dict[str, dict[str, Any]]:
    """The sample taken nearest to ``end``."""
    return min(rss, key=lambda sample: abs(sample[0] - end))[1] if rss else {}


def family_mib(sample: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Each daemon family's resident memory, all its processes, in MiB."""
    return {family: round(entry["total_kib"] / 1024, 1) for family, entry in sample.items()}


def windows(
    log: SendLog,
    first_copy: dict[str, float],
    queue: list[tuple[float, int]],
    rss: list[RssSample],
    bounds: list[tuple[float, float]],
) -> list[Window]:
    """The windows of a run: ``first_copy`` holds each delivered token's first copy time
    (epoch), ``queue`` and ``rss`` the samples taken meanwhile."""
    n = len(bounds)
    latency: list[list[float]] = [[] for _ in range(n)]
    ttm: list[list[float]] = [[] for _ in range(n)]
    for token, at in log.accepted.items():
        slot = _slot(at, bounds)
        latency[slot].append(max(0.0, at - log.due.get(token, at)))
        if token in first_copy:
            ttm[slot].append(max(0.0, first_copy[token] - (log.started + at)))
    failures, retries = [0] * n, [0] * n
    tried: set[str] = set()
    for attempt in log.attempts:
        slot = _slot(attempt.at, bounds)
        retries[slot] += attempt.token in tried
        tried.add(attempt.token)
        failures[slot] += attempt.outcome != Outcome.ACCEPTED
    deepest: list[int | None] = [None] * n
    for at, depth in queue:
        slot = _slot(at, bounds)
        if depth >= 0:  # -1: the queue could not be read
            deepest[slot] = max(depth, deepest[slot] or 0)
    return [
        Window(
            index=i,
            start_s=round(start, 2),
            end_s=round(end, 2),
            accepted=len(latency[i]),
            accepted_per_s=round(len(latency[i]) / (end - start), 2) if end > start else 0.0,
            latency_ms=p50_p99(latency[i]),
            delivered=len(ttm[i]),
            ttm_ms=p50_p99(ttm[i]),
            failures=failures[i],
            retries=retries[i],
            queue_max=deepest[i],
            rss_mib=family_mib(_at_end(rss, end)),
        )
        for i, (start, end) in enumerate(bounds)
    ]


def rss_growth_mib(rss: list[RssSample], bounds: list[tuple[float, float]]) -> dict[str, float]:
    """Per daemon family, how much more its largest process of any one program holds at the
    last window's end than at the first's (MiB): start-up growth (worker pools filling, caches
    warming) falls in the first window and does not count."""
    first, last = _at_end(rss, bounds[0][1]), _at_end(rss, bounds[-1][1])
    # a family gone by the end (a daemon that died and stayed down) is no growth to measure
    return {f: largest_growth_mib(first[f], last[f]) for f in first if f in last}


def rate_series(times: Iterable[float], end: float, bucket: float) -> list[float]:
    """Events per second in consecutive buckets of ``bucket`` seconds from 0 to ``end``."""
    counts = [0] * max(1, math.ceil(end / bucket))
    for at in times:
        if at >= 0:
            counts[min(len(counts) - 1, int(at // bucket))] += 1
    return [round(c / bucket, 2) for c in counts]
