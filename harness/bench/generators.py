"""A bench run spread over several generator hosts, merged into one result.

The hosts are those of the inventory group ``generators`` (the first N). Each gets an equal
share of the messages (and of the rate and the sessions), installed and started by the
controller (harness/bench/remote.py); all begin at one agreed instant. Their metrics merge
exactly: outcome counts add up, percentiles come from the sum of their HDR histograms (never
from averaged percentiles), the accepted tokens of all of them are tracked to the mailbox.
"""

from __future__ import annotations

import json
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from harness.bench import stats
from harness.bench.generator import Progress, RunResult
from harness.bench.metrics import Metrics, Outcome
from harness.bench.remote import encode_spec
from harness.bench.spec import BenchSpec
from harness.errors import BenchError
from harness.hosts import inventory_groups
from harness.remote import inventory_host

__all__ = ["GENERATOR_GROUP", "GENERATOR_PYTHON", "Part", "RemoteGenerators", "shares"]

#: The inventory group of generator hosts, and the interpreter of the venv the playbook makes.
GENERATOR_GROUP = "generators"
GENERATOR_PYTHON = "/opt/mailstack-generator/bin/python"
#: Seconds between sending the command and the agreed start: every host must be waiting by then.
_START_MARGIN = 8.0


def shares(spec: BenchSpec, count: int) -> list[BenchSpec]:
    """``spec`` cut into ``count`` shares: messages and sessions spread as evenly as they go
    (the first shares take the remainder), the rate divided by the messages each carries."""
    if count < 1:
        raise BenchError(f"--generators {count}: must be 1 or more")
    if spec.messages < count or spec.sessions < count:
        raise BenchError(
            f"--generators {count}: more generators than messages ({spec.messages}) or "
            f"sessions ({spec.sessions})",
            hint="give each generator one message and one session at least",
        )
    out = []
    for i in range(count):
        messages = spec.messages // count + (1 if i < spec.messages % count else 0)
        sessions = spec.sessions // count + (1 if i < spec.sessions % count else 0)
        rate = None if spec.rate is None else spec.rate * messages / spec.messages
        out.append(
            replace(spec, messages=messages, sessions=sessions, rate=rate, seed=spec.seed + i)
        )
    return out


@dataclass
class Part:
    """One generator's run, as it reported it."""

    host: str
    started: float
    seconds: float
    late_start_s: float
    metrics: Metrics

    def to_json(self) -> dict[str, Any]:
        m = self.metrics
        return {
            "host": self.host,
            "late_start_s": self.late_start_s,
            "seconds": round(self.seconds, 3),
            "attempted": m.attempted,
            "buckets": dict(m.buckets),
            "accept_rate": round(m.buckets[Outcome.ACCEPTED] / self.seconds, 2)
            if self.seconds
            else 0.0,
            "histogram_counts": {p: h.get_total_count() for p, h in m.histograms.items()},
            # HdrHistogram's own encoding: anyone can add them up again and check the merge.
            "histograms": {p: h.encode().decode() for p, h in m.histograms.items()},
            "message_ms": m.summary("message"),
        }


@dataclass
class RemoteGenerators:
    """Runs a spec on ``hosts`` of ``inventory`` together; ``run`` is a drop-in for run_bench."""

    inventory: str
    hosts: tuple[str, ...]
    parts: list[Part] = field(default_factory=list)

    @classmethod
    def of(cls, inventory: str, count: int) -> RemoteGenerators:
        hosts = inventory_groups(inventory).get(GENERATOR_GROUP, [])
        if len(hosts) < count:
            raise BenchError(
                f"--generators {count}: the inventory's group {GENERATOR_GROUP!r} has "
                f"{len(hosts)} host(s) ({', '.join(hosts) or 'none'})",
                hint="add hosts to that group (the fleet topology has gen1 and gen2), or ask "
                "for fewer generators",
            )
        return cls(inventory, tuple(hosts[:count]))

    def _run_one(self, host: str, spec: BenchSpec, start_at: float, engine: str) -> Part:
        command = shlex.join(
            [
                GENERATOR_PYTHON,
                "-m",
                "harness.bench.remote",
                encode_spec(spec),
                f"{start_at:.3f}",
                engine,
            ]
        )
        out = inventory_host(host, self.inventory).run(command)
        if out.rc != 0:
            raise BenchError(
                f"generator {host}: exit {out.rc}: {(out.stderr or out.stdout).strip()[-400:]}",
                hint="install it with: ansible-playbook -i INVENTORY playbooks/generators.yml",
            )
        data = json.loads(out.stdout.strip().splitlines()[-1])
        return Part(
            host=host,
            started=float(data["started"]),
            seconds=float(data["seconds"]),
            late_start_s=float(data["late_start_s"]),
            metrics=Metrics.from_wire(data["metrics"]),
        )

    def run(
        self, spec: BenchSpec, engine: str = "pipelined", progress: Progress | None = None
    ) -> RunResult:
        """Every share at once from the same instant; one merged result (its start the
        earliest generator's, its length until the last one ended)."""
        start_at = time.time() + _START_MARGIN
        with ThreadPoolExecutor(max_workers=len(self.hosts)) as pool:
            futures = [
                pool.submit(self._run_one, host, share, start_at, engine)
                for host, share in zip(self.hosts, shares(spec, len(self.hosts)), strict=True)
            ]
            self.parts = [f.result() for f in futures]
        merged = merge(self.parts)
        if progress is not None:
            accepted = merged.buckets[Outcome.ACCEPTED]
            progress(merged.attempted, accepted, merged.attempted - accepted)
        started = min(p.started for p in self.parts)
        ended = max(p.started + p.seconds for p in self.parts)
        return RunResult(
            spec=spec, engine=engine, started=started, seconds=ended - started, metrics=merged
        )

    def to_json(self, merged: Metrics) -> dict[str, Any]:
        """The per-generator parts, the merge, and the checks that it is exact."""
        return {
            "hosts": list(self.hosts),
            "parts": [p.to_json() for p in self.parts],
            "exact": exactness(self.parts, merged),
        }


def merge(parts: list[Part]) -> Metrics:
    """The parts' metrics added up (Metrics.merge: counts, histograms, tokens, timelines)."""
    merged = Metrics()
    for part in parts:
        merged.merge(part.metrics)
    return merged


def exactness(parts: list[Part], merged: Metrics) -> dict[str, bool]:
    """What makes the merge exact: every count is the sum of the parts', every histogram holds
    all of the parts' samples, and the merged percentiles are those of the summed histograms."""
    buckets = {b: sum(p.metrics.buckets[b] for p in parts) for b in Outcome.ALL}
    counts_ok = all(merged.buckets[b] == n for b, n in buckets.items())
    attempted_ok = merged.attempted == sum(p.metrics.attempted for p in parts)
    hist_ok = True
    for phase, hist in merged.histograms.items():
        total = sum(
            p.metrics.histograms[phase].get_total_count()
            for p in parts
            if phase in p.metrics.histograms
        )
        summed = stats.histogram()
        for p in parts:
            if phase in p.metrics.histograms:
                summed.add(p.metrics.histograms[phase])
        hist_ok = (
            hist_ok
            and hist.get_total_count() == total
            and stats.summary(hist) == stats.summary(summed)
        )
    tokens_ok = len(merged.accepted_tokens) == sum(len(p.metrics.accepted_tokens) for p in parts)
    return {
        "counts": counts_ok and attempted_ok,
        "histograms": hist_ok,
        "tokens": tokens_ok,
    }
