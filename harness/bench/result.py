"""A bench run as JSON (its types are in harness.bench.model): built from a finished run,
written, and read back, older schemas migrated on the way in."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from harness.bench import stats
from harness.bench.metrics import PHASES, TICK_MS, Metrics, Outcome
from harness.bench.model import (
    SCHEMA,
    BenchResult,
    BenchRun,
    Cdf,
    Environment,
    Percentiles,
    Timeline,
    check_reportable,
    goal_met,
    runs_of,
)
from harness.errors import BenchError

if TYPE_CHECKING:
    from harness.bench.generator import RunResult

__all__ = ["SCHEMA", "load_result", "run_json", "runs_of", "save_result"]

#: At most this many ticks in a stored timeline: longer runs store coarser ticks.
_MAX_TICKS = 2000


def _timeline(metrics: Metrics) -> Timeline:
    ticks = metrics.accepted_per_tick()
    per = max(1, math.ceil(len(ticks) / _MAX_TICKS))
    return {
        "resolution_ms": TICK_MS * per,
        "accepted": [sum(ticks[i : i + per]) for i in range(0, len(ticks), per)],
    }


def run_json(run: RunResult, name: str, environment: Environment) -> BenchRun:
    """The result of one finished run, without what happened after the 250s (delivery) or
    beside it (baseline): run_scenario adds those."""
    m, spec = run.metrics, run.spec
    latency: dict[str, Percentiles] = {}
    latency_cdf: dict[str, Cdf] = {}
    for phase in PHASES:
        hist = m.histograms.get(phase)
        if (summary := stats.summary(hist)) is not None:
            latency[phase] = summary
            latency_cdf[phase] = stats.cdf(hist)
    return {
        "schema": SCHEMA,
        "kind": "run",
        "name": name,
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
            "accepted": m.buckets[Outcome.ACCEPTED],
            "temp_failed": m.buckets[Outcome.TEMP_FAILED],
            "rejected": m.buckets[Outcome.REJECTED],
            "connection_error": m.buckets[Outcome.CONNECTION_ERROR],
            "timeout": m.buckets[Outcome.TIMEOUT],
            "codes": {b: dict(c) for b, c in m.codes.items()},
            "balanced": m.balanced,
        },
        "accept_rate": round(run.accept_rate, 2),
        "latency_ms": latency,
        "latency_cdf_ms": latency_cdf,
        "timeline": _timeline(m),
        "errors": dict(m.errors.most_common(20)),
        "environment": environment,
    }


def save_result(data: BenchResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def load_result(path: Path) -> BenchResult:
    """Read a result, migrated to the current schema; one with nothing in it is an error."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot read bench result {path}: {exc}") from None
    if not isinstance(data, dict) or "accept_rate" not in data:
        raise BenchError(f"{path} is not a mailstack bench result (schema {SCHEMA})")
    if data.get("schema") == 1:
        data = _from_schema_1(data)
    if data.get("schema") != SCHEMA or data.get("kind") not in ("run", "suite"):
        raise BenchError(
            f"{path} is not a mailstack bench result of schema 1 to {SCHEMA} "
            f"(it says schema {data.get('schema')!r})",
            hint="a newer mailstack wrote it: upgrade this one",
        )
    result = cast(BenchResult, data)
    check_reportable(result, str(path))
    return result


def _from_schema_1(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 -> 2: runs get ``kind`` (and a name), the per-second timeline becomes dense
    ticks of 1000 ms, empty time-to-mailbox summaries go, keys that early schema 1 files lack
    get their empty values, ratios get ``met``."""
    if data.get("kind") == "suite":
        data["runs"] = {n: _run_from_schema_1(r, n) for n, r in data.get("runs", {}).items()}
        for ratio in data.get("ratios", {}).values():
            ratio["met"] = goal_met(ratio.get("value"), str(ratio.get("goal", "report")))
        data["schema"] = SCHEMA
        return data
    return _run_from_schema_1(data, str(data.get("name", "run")))


def _run_from_schema_1(run: dict[str, Any], name: str) -> dict[str, Any]:
    run.update(schema=SCHEMA, kind="run", name=run.get("name", name))
    per_second = {int(p["second"]): int(p["accepted"]) for p in run.get("timeline") or []}
    run["timeline"] = {
        "resolution_ms": 1000,
        "accepted": [per_second.get(s, 0) for s in range(max(per_second, default=-1) + 1)],
    }
    run.setdefault("environment", {"client": {}})
    run.setdefault("errors", {})
    run.setdefault("latency_cdf_ms", {})
    delivery = run.get("delivery")
    if delivery is not None:  # early schema 1 files lack the queue's keys
        for key in ("ttm_ms", "ttm_cdf_ms"):
            if not delivery.get(key):
                delivery.pop(key, None)
        delivery.setdefault("queue", [])
        delivery.setdefault("queue_max", max((d for _, d in delivery["queue"]), default=0))
        delivery.setdefault("drained_rate", None)
        delivery.setdefault("drain_seconds_after_last_250", None)
    baseline = run.get("baseline")
    if baseline is not None:
        baseline.setdefault("rates", [baseline["rate"]])
    return run
