"""`mailstack bench compare BASE NEW --max-regression 10%`: a CI gate on throughput and p99."""

from __future__ import annotations

from dataclasses import dataclass

from harness.bench.model import BenchResult, runs_of
from harness.errors import BenchError

__all__ = ["Comparison", "compare", "parse_percent"]


def parse_percent(text: str) -> float:
    value = text.strip().removesuffix("%")
    try:
        fraction = float(value) / 100
    except ValueError:
        raise BenchError(
            f"--max-regression {text!r} is not a percentage", hint="e.g. 10%"
        ) from None
    if not 0 <= fraction < 1:
        raise BenchError(f"--max-regression {text!r} must be from 0% to 99%")
    return fraction


@dataclass(frozen=True)
class Comparison:
    run: str
    metric: str
    base: float
    new: float
    change: float  # relative, + is better
    regressed: bool


def compare(base: BenchResult, new: BenchResult, max_regression: float) -> list[Comparison]:
    """Accept rate (higher is better) and message p99 (lower is better) of every run in both
    (two single runs are compared whatever their names)."""
    rows = []
    base_runs, new_runs = runs_of(base), runs_of(new)
    if base["kind"] == "run" and new["kind"] == "run":
        new_runs = {base["name"]: new}
    common = [n for n in base_runs if n in new_runs]
    if not common:
        raise BenchError("the two results share no run to compare")
    for name in common:
        b, n = base_runs[name], new_runs[name]
        rate_b, rate_n = float(b["accept_rate"]), float(n["accept_rate"])
        if rate_b > 0:
            change = (rate_n - rate_b) / rate_b
            rows.append(
                Comparison(name, "accept_rate", rate_b, rate_n, change, change < -max_regression)
            )
        lat_b, lat_n = b["latency_ms"].get("message"), n["latency_ms"].get("message")
        p99_b = lat_b["p99"] if lat_b else None
        p99_n = lat_n["p99"] if lat_n else None
        if p99_b and p99_n:
            change = (p99_b - p99_n) / p99_b
            rows.append(Comparison(name, "p99_ms", p99_b, p99_n, change, change < -max_regression))
    return rows
