"""Per-sending-IP limits: concurrent connections, a message-rate token bucket, greylisting.

Plain state, driven from the event loop (no locks) and by a clock the caller passes in, so tests
can step time. Memory grows with the number of client IPs and triplets, which in a lab is small.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["ConnectionCounter", "Greylist", "RateLimiter"]


class ConnectionCounter:
    """Open connections per client IP; ``limit`` 0 means no limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def acquire(self, ip: str) -> bool:
        """Count a new connection from ``ip``; False (and not counted) when it is one too many."""
        if self.limit and self._open[ip] >= self.limit:
            return False
        self._open[ip] += 1
        return True

    def release(self, ip: str) -> None:
        self._open[ip] -= 1
        if self._open[ip] <= 0:
            del self._open[ip]

    def open(self, ip: str) -> int:
        return self._open[ip]


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per client IP: ``per_second`` tokens flow in, at most ``burst`` are kept,
    one message takes one. ``per_second`` 0 means no limit."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def take(self, ip: str, now: float) -> bool:
        if not self.per_second:
            return True
        bucket = self._buckets.setdefault(ip, _Bucket(tokens=float(self.burst), updated=now))
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.per_second)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        return False


@dataclass
class Greylist:
    """The first attempt per (client IP, envelope sender, recipient) is deferred; a retry at least
    ``retry_min_seconds`` later passes, and so does every later one. 0 turns greylisting off."""

    retry_min_seconds: float
    _first_seen: dict[tuple[str, str, str], float] = field(default_factory=dict)
    _passed: set[tuple[str, str, str]] = field(default_factory=set)

    @property
    def enabled(self) -> bool:
        return self.retry_min_seconds > 0

    def admit(self, ip: str, sender: str, recipient: str, now: float) -> bool:
        if not self.enabled:
            return True
        triplet = (ip, sender.lower(), recipient.lower())
        if triplet in self._passed:
            return True
        first = self._first_seen.setdefault(triplet, now)
        if now - first >= self.retry_min_seconds:
            self._passed.add(triplet)
            del self._first_seen[triplet]
            return True
        return False
