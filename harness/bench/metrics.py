"""What a bench run counts: outcome buckets that always add up, HDR latency histograms per phase,
and a timeline of accepted messages in ticks of TICK_MS. Everything merges, so worker processes
can be summed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.bench import stats
from harness.bench.model import Percentiles

__all__ = ["PHASES", "TICK_MS", "Metrics", "Outcome"]

#: Latency phases, in the order a session meets them.
PHASES = ("connect", "banner", "ehlo", "starttls", "auth", "envelope", "data", "message")
#: The timeline's resolution: fine enough for 30 buckets in a run of a third of a second (a
#: quick sink run), and a run of an hour still holds at most 360,000 ticks.
TICK_MS = 10
_TICKS_PER_SECOND = 1000 // TICK_MS


class Outcome:
    """The one bucket each attempted message ends in."""

    ACCEPTED = "accepted"
    TEMP_FAILED = "temp_failed"
    REJECTED = "rejected"
    CONNECTION_ERROR = "connection_error"
    TIMEOUT = "timeout"
    ALL = (ACCEPTED, TEMP_FAILED, REJECTED, CONNECTION_ERROR, TIMEOUT)


@dataclass
class Metrics:
    """Counts and latencies of one run (or one worker's share of it)."""

    attempted: int = 0
    buckets: Counter[str] = field(default_factory=Counter)
    #: "4xx"/"5xx" buckets by exact reply code, e.g. {"rejected": {"554": 3}}
    codes: dict[str, Counter[str]] = field(default_factory=dict)
    _histograms: dict[str, HdrHistogram] = field(default_factory=dict)
    #: raw samples (microseconds) not yet in a histogram: appending is all the hot path does
    _pending: dict[str, list[int]] = field(default_factory=dict)
    #: ticks of TICK_MS since the run started -> messages accepted in that tick
    timeline: Counter[int] = field(default_factory=Counter)
    #: token -> send time (epoch seconds) of every accepted message
    accepted_tokens: dict[str, float] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)

    def record_latency(self, phase: str, seconds: float) -> None:
        pending = self._pending.get(phase)
        if pending is None:
            pending = self._pending[phase] = []
        pending.append(round(seconds * 1e6))

    @property
    def histograms(self) -> dict[str, HdrHistogram]:
        """Per-phase HDR histograms, with every sample recorded so far."""
        for phase, samples in self._pending.items():
            hist = self._histograms.get(phase)
            if hist is None:
                hist = self._histograms[phase] = stats.histogram()
            for value in samples:
                hist.record_value(stats.clamp_us(value))
            samples.clear()
        return self._histograms

    def record_outcome(
        self,
        bucket: str,
        *,
        code: int | None = None,
        at: float | None = None,
        token: str | None = None,
        sent_at: float | None = None,
        error: str | None = None,
    ) -> None:
        """Count one attempted message; ``at`` is when it was accepted, in seconds since the
        run started (the timeline's tick)."""
        if bucket not in Outcome.ALL:
            raise ValueError(f"unknown outcome {bucket!r}")
        self.attempted += 1
        self.buckets[bucket] += 1
        if code is not None and bucket in (Outcome.TEMP_FAILED, Outcome.REJECTED):
            self.codes.setdefault(bucket, Counter())[str(code)] += 1
        if bucket == Outcome.ACCEPTED:
            if at is not None:
                self.timeline[max(0, int(at * _TICKS_PER_SECOND))] += 1
            if token is not None and sent_at is not None:
                self.accepted_tokens[token] = sent_at
        if error:
            self.errors[error[:120]] += 1

    def merge(self, other: Metrics) -> None:
        self.attempted += other.attempted
        self.buckets.update(other.buckets)
        for bucket, codes in other.codes.items():
            self.codes.setdefault(bucket, Counter()).update(codes)
        mine = self.histograms
        for phase, hist in other.histograms.items():
            if phase not in mine:
                mine[phase] = stats.histogram()
            mine[phase].add(hist)
        self.timeline.update(other.timeline)
        self.accepted_tokens.update(other.accepted_tokens)
        self.errors.update(other.errors)

    @property
    def balanced(self) -> bool:
        """Every attempted message is in exactly one bucket."""
        return sum(self.buckets.values()) == self.attempted

    def summary(self, phase: str) -> Percentiles | None:
        """Percentiles of ``phase`` in milliseconds (None when never measured)."""
        return stats.summary(self.histograms.get(phase))

    def accepted_per_tick(self) -> list[int]:
        """The timeline as dense counts: tick 0 (the start) to the last accepted message."""
        last = max(self.timeline, default=-1)
        return [self.timeline.get(tick, 0) for tick in range(last + 1)]

    # -- transport between worker processes and into result JSON ----------------------------

    def to_wire(self) -> dict[str, Any]:
        return {
            "attempted": self.attempted,
            "buckets": dict(self.buckets),
            "codes": {b: dict(c) for b, c in self.codes.items()},
            # HdrHistogram's own compressed, base64 text form
            "histograms": {p: h.encode().decode() for p, h in self.histograms.items()},
            "timeline": {str(k): v for k, v in self.timeline.items()},
            "accepted_tokens": self.accepted_tokens,
            "errors": dict(self.errors),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Metrics:
        metrics = cls(
            attempted=int(data["attempted"]),
            buckets=Counter(data["buckets"]),
            codes={b: Counter(c) for b, c in data["codes"].items()},
            timeline=Counter({int(k): int(v) for k, v in data["timeline"].items()}),
            accepted_tokens=dict(data["accepted_tokens"]),
            errors=Counter(data["errors"]),
        )
        for phase, encoded in data["histograms"].items():
            hist = stats.histogram()
            hist.decode_and_add(encoded.encode())
            metrics._histograms[phase] = hist
        return metrics
