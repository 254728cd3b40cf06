"""The bar a bench run must clear: enough of its messages accepted, every message accounted for.

A run against a server that refuses everything, or where nothing listens, still produces a
result; without this bar it would also exit 0.
"""

from __future__ import annotations

from harness.bench.model import BenchRun, BenchSuite
from harness.errors import BenchError

__all__ = ["parse_min_accepted", "rounds_shortfall", "shortfall"]


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
    missing = run.get("delivery", {}).get("missing", 0)
    if missing:
        tokens = ", ".join(run["delivery"].get("missing_tokens", [])[:3])
        return f"{name}: {missing} accepted messages never reached a mailbox (tokens: {tokens})"
    if reason := _outbound_shortfall(name, run):
        return reason
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


def _outbound_shortfall(name: str, run: BenchRun) -> str | None:
    """An outbound rehearsal lost messages, or did not finish within its drain timeout."""
    if "outbound" not in run:
        return None
    totals = run["outbound"]["totals"]
    if totals["missing"]:
        tokens = ", ".join(totals.get("missing_tokens", [])[:3])
        return (
            f"{name}: {totals['missing']} accepted messages were neither delivered, bounced "
            f"nor queued (tokens: {tokens})"
        )
    if totals["queued"]:
        return (
            f"{name}: {totals['queued']} messages still queued at the stack after "
            f"{run['outbound']['timeout_s']:.0f} s ({', '.join(totals['queued_reasons'])}); "
            "give the rehearsal a longer --drain-timeout"
        )
    return None


def rounds_shortfall(suite: BenchSuite) -> str | None:
    """Messages the interleaved rounds had accepted and never found again, or None."""
    accounts = suite.get("rounds", {}).get("accounts", {})
    lost = {side: a for side, a in accounts.items() if a["missing"]}
    if not lost:
        return None
    return "rounds: " + "; ".join(
        f"{side}: {a['missing']} of {a['accepted']} accepted messages never delivered "
        f"(tokens: {', '.join(a['missing_tokens'][:3])})"
        for side, a in lost.items()
    )
