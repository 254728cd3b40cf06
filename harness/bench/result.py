"""A bench run as JSON: the source of truth that reports and comparisons read."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.bench.generator import RunResult
from harness.bench.metrics import PHASES, Outcome
from harness.errors import BenchError

__all__ = ["SCHEMA", "load_result", "percentiles", "run_json", "save_result"]

SCHEMA = 1
_CDF_POINTS = (0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100)


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max of ``values`` (seconds) in milliseconds, via an HDR histogram."""
    if not values:
        return {}
    hist = HdrHistogram(1, 3_600_000_000, 3)
    for v in values:
        hist.record_value(max(1, round(v * 1e6)))
    out = {f"p{p:g}": hist.get_value_at_percentile(p) / 1000 for p in (50, 90, 99, 99.9)}
    out["max"] = hist.get_max_value() / 1000
    out["count"] = hist.get_total_count()
    return out


def run_json(run: RunResult) -> dict[str, Any]:
    m = run.metrics
    spec = run.spec
    latency = {p: m.summary(p) for p in PHASES if m.summary(p)}
    cdf = {
        phase: [[hist.get_value_at_percentile(q) / 1000, q] for q in _CDF_POINTS]
        for phase, hist in m.histograms.items()
        if hist.get_total_count()
    }
    return {
        "schema": SCHEMA,
        "started": dt.datetime.fromtimestamp(run.started, dt.UTC).isoformat(),
        "seconds": round(run.seconds, 3),
        "spec": {
            "target": spec.target.display,
            "mode": spec.mode,
            "engine": run.engine,
            "pipelining": spec.pipelining,
            "sessions": spec.sessions,
            "messages": spec.messages,
            "rate": spec.rate,
            "sizes": dict(zip(map(str, spec.sizes.sizes), spec.sizes.weights, strict=True)),
            "mean_size": round(spec.sizes.mean),
            "recipients_per_message": spec.recipients_per_message,
            "workers": spec.workers,
            "tls": spec.target.tls,
            "auth": bool(spec.target.user),
        },
        "outcomes": {
            "attempted": m.attempted,
            **{b: m.buckets[b] for b in Outcome.ALL},
            "codes": {b: dict(c) for b, c in m.codes.items()},
            "balanced": m.balanced,
        },
        "accept_rate": round(run.accept_rate, 2),
        "latency_ms": latency,
        "latency_cdf_ms": cdf,
        "timeline": [{"second": s, "accepted": m.timeline[s]} for s in sorted(m.timeline)],
        "errors": dict(m.errors.most_common(20)),
    }


def save_result(data: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def load_result(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot read bench result {path}: {exc}") from None
    if data.get("schema") != SCHEMA or "accept_rate" not in data:
        raise BenchError(f"{path} is not a mailstack bench result (schema {SCHEMA})")
    return data
