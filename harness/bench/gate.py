"""The bar a bench run must clear: enough of its messages accepted, every message accounted for.

A run against a server that refuses everything, or where nothing listens, still produces a
result; without this bar it would also exit 0.
"""

from __future__ import annotations

from harness.bench.model import BenchRun
from harness.errors import BenchError

__all__ = ["parse_min_accepted", "shortfall"]


def parse_min_accepted(text: str | None) -> float | None:
    """'99%' or '99' -> 0.99; None (the default) means: at least one message accepted."""
    if text is None:
        return None
    try:
        percent = float(text.strip().removesuffix("%"))
    except ValueError:
        raise BenchError(
            f"--min-accepted {text!r} is not a percentage", hint="e.g. 99%; 0% lets any run pass"
        ) from None
    if not 0 <= percent <= 100:
        raise BenchError(f"--min-accepted {text!r} must be from 0% to 100%")
    return percent / 100


def _why(run: BenchRun) -> str:
    """'10 connection_error; most often: [Errno 111] Connection refused'."""
    outcomes = run["outcomes"]
    failed = {
        "rejected": outcomes["rejected"],
        "temp_failed": outcomes["temp_failed"],
        "connection_error": outcomes["connection_error"],
        "timeout": outcomes["timeout"],
    }
    parts = []
    for bucket, count in failed.items():
        if count:
            codes = sorted(outcomes["codes"].get(bucket, {}).items())
            by_code = ", ".join(f"{code} x{n}" for code, n in codes)
            parts.append(f"{count} {bucket}" + (f" ({by_code})" if by_code else ""))
    errors = run["errors"]
    if errors:
        parts.append(f"most often: {max(errors, key=errors.__getitem__)}")
    return "; ".join(parts) or "no failure recorded"


def shortfall(name: str, run: BenchRun, min_accepted: float | None) -> str | None:
    """Why the run ``name`` missed its bar (one line), or None when it cleared it."""
    outcomes = run["outcomes"]
    attempted, accepted = int(outcomes["attempted"]), int(outcomes["accepted"])
    if not outcomes["balanced"]:
        return f"{name}: the outcome buckets do not add up to the {attempted} messages attempted"
    if min_accepted is None:
        if accepted > 0:
            return None
        head = f"{name}: none of {attempted} messages accepted"
    else:
        if accepted >= min_accepted * attempted:
            return None
        head = (
            f"{name}: {accepted} of {attempted} messages accepted "
            f"({accepted / attempted:.1%}), below --min-accepted {min_accepted:.1%}"
        )
    return f"{head} ({_why(run)})"
