"""A soak run's result, JSON-ready: the load, the clients' and the server's accounts, the
windows, the samples behind the plots, and the verdict — nothing accepted went missing,
nothing was given up, the clients finished on time (the stack kept up with the rate), the
queue drained, and no daemon's memory grew past the limit."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from harness.chaos.sender import SendLog
from harness.soak.peak import Peak
from harness.soak.plan import SoakPlan
from harness.soak.windows import (
    RssSample,
    cut,
    family_mib,
    rate_series,
    rss_growth_mib,
    windows,
)

__all__ = ["Observed", "soak_result"]

#: about this many points in the accepted and delivered rates over time
_POINTS = 300
#: the clients may finish this long after the load's planned end, or this share of it
_LATE_SECONDS, _LATE_SHARE = 10.0, 0.02


@dataclass(frozen=True)
class Observed:
    """What a run saw: the clients' log, every copy of every token of theirs in the Maildirs
    (epoch times), the drain (seconds after the load, None: the queue did not empty), what
    was still queued then, and the samples taken (seconds since the clients started)."""

    log: SendLog
    copies: dict[str, list[float]]
    drain: float | None
    still_queued: dict[str, int]
    queue: list[tuple[float, int]]
    rss: list[RssSample]


def _late_allowed(plan: SoakPlan) -> float:
    """How long past the planned end the clients may still be sending before the stack counts
    as not having kept up: the last messages' own latency, not a backlog."""
    return max(_LATE_SECONDS, _LATE_SHARE * plan.seconds)


def _failed(
    plan: SoakPlan, clients: dict[str, Any], server: dict[str, Any], growth: dict[str, float]
) -> list[str]:
    why = []
    if server["missing"]:
        why.append(f"{server['missing']} accepted message(s) missing")
    if clients["gave_up"]:
        why.append(f"{clients['gave_up']} message(s) never accepted")
    if clients["rejected"]:
        # the soak sends valid mail from a real account: a 5xx refuses it for good
        why.append(f"{clients['rejected']} message(s) refused with a 5xx")
    if clients["late_s"] > clients["late_allowed_s"]:
        why.append(
            f"the clients ran {clients['late_s']:g} s past the load's end: the stack did not "
            "keep up with the rate"
        )
    if not server["drained"]:
        why.append("the queue did not drain")
    why += [
        f"a {family} process grew {mib} MiB (limit {plan.rss_limit_mib:g})"
        for family, mib in growth.items()
        if mib > plan.rss_limit_mib
    ]
    return why


def soak_result(plan: SoakPlan, rate: float, peak: Peak | None, seen: Observed) -> dict[str, Any]:
    log, t0 = seen.log, seen.log.started
    copies = {t: c for t, c in seen.copies.items() if t in log.recipient}
    first = {t: min(c) for t, c in copies.items()}
    missing = sorted(set(log.accepted) - set(copies))
    duplicates = {t: len(c) for t, c in copies.items() if len(c) > 1}
    bounds = cut(plan.seconds, plan.window, log.seconds)
    growth = rss_growth_mib(seen.rss, bounds)
    server = {
        "delivered": len(set(log.accepted) & set(copies)),
        "duplicates": sum(n - 1 for n in duplicates.values()),
        "duplicate_tokens": sorted(duplicates)[:50],
        "missing": len(missing),
        "missing_tokens": missing[:100],
        "drained": seen.drain is not None,
        "drain_seconds_after_load": None if seen.drain is None else round(seen.drain, 2),
        "still_queued": seen.still_queued,
    }
    clients = {
        **log.counts(),
        # past the planned end: the last messages' latency, or a backlog the stack built
        "late_s": round(max(0.0, log.seconds - plan.seconds), 2),
        "late_allowed_s": _late_allowed(plan),
    }
    delivered_at = [t - t0 for t in first.values()]
    end = max([log.seconds, *delivered_at])
    bucket = max(1.0, math.ceil(end / _POINTS))
    failed = _failed(plan, clients, server, growth)
    return {
        "kind": "soak",
        "ok": not failed,
        "failed": failed,
        "load": {
            "service": plan.service,
            "rate": round(rate, 2),
            "fraction": None if peak is None else plan.fraction,
            "peak": None if peak is None else peak.to_json(),
            "minutes": plan.minutes,
            "window_s": plan.window,
            "empty_every_s": plan.empty_every,
            "sessions": plan.sessions,
            "messages": log.plan.messages,
            "to": list(log.plan.recipients),
        },
        "clients": clients,
        "server": server,
        "windows": [asdict(w) for w in windows(log, first, seen.queue, seen.rss, bounds)],
        "rss": {
            "limit_mib": plan.rss_limit_mib,
            "growth_mib": growth,
            "sample_every_s": plan.sample_every,
            "mib": [[round(at, 1), family_mib(sample)] for at, sample in seen.rss],
        },
        "queue": seen.queue,
        "timeline": {
            "bucket_s": bucket,
            "accepted_per_s": rate_series(log.accepted.values(), end, bucket),
            "delivered_per_s": rate_series(delivered_at, end, bucket),
        },
    }
