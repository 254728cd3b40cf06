"""The bench result JSON as types: one run (`mailstack bench run`, `bench campaign`) or a suite
of named runs (`mailstack bench standard`). Every module that writes or reads a result uses
these, so mypy checks the keys; the JSON file is the source of truth that reports and
comparisons read.

Schema history (``load_result`` migrates older files on read):

1. the first form: no ``kind`` on a single run; ``timeline`` a list of
   ``{"second": s, "accepted": n}``; ratios without ``met``.
2. ``kind: "run"`` on single runs; ``timeline`` as ``{"resolution_ms": r, "accepted": [...]}``
   (dense counts of accepted messages per tick of ``r`` ms, from the start of the run);
   each ratio carries ``met``; a suite names its ``lab`` and ``size``.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from harness.errors import BenchError

if TYPE_CHECKING:
    # Types only: the generator hosts run this module without the metrics client's needs.
    from harness.metrics.window import ServerSeriesJSON

__all__ = [
    "SCHEMA",
    "Baseline",
    "BenchResult",
    "BenchRun",
    "BenchSuite",
    "CampaignInfo",
    "Cdf",
    "Cost",
    "CostRow",
    "Delivery",
    "Environment",
    "Fingerprint",
    "Outcomes",
    "Percentiles",
    "Ratio",
    "RoundsInfo",
    "RunSpec",
    "SideAccount",
    "Timeline",
    "check_reportable",
    "goal_met",
    "make_paired_ratio",
    "make_ratio",
    "runs_of",
]

SCHEMA = 2

#: p50/p90/p99/p99.9/max in milliseconds, and how many samples.
Percentiles = TypedDict(
    "Percentiles",
    {"p50": float, "p90": float, "p99": float, "p99.9": float, "max": float, "count": int},
)
#: [[milliseconds, percentile], ...], percentiles ascending.
Cdf = list[list[float]]
#: Facts about a machine, as harness.bench.fingerprint reports them.
Fingerprint = dict[str, object]


class RunSpec(TypedDict):
    target: str  # scheme://host:port, never credentials
    mode: str  # "closed" or "open"
    engine: str
    pipelining: bool
    sessions: int
    messages: int
    rate: float | None
    sizes: dict[str, float]  # bytes -> weight
    mean_size: int
    recipients_per_message: int
    workers: int
    tls: bool
    auth: bool


class Outcomes(TypedDict):
    """Every attempted message in exactly one bucket (``balanced`` says they add up)."""

    attempted: int
    accepted: int
    temp_failed: int
    rejected: int
    connection_error: int
    timeout: int
    codes: dict[str, dict[str, int]]  # bucket -> reply code -> count
    balanced: bool


class Timeline(TypedDict):
    resolution_ms: int
    #: messages accepted in each tick of ``resolution_ms``, from the start of the run
    accepted: list[int]


class Delivery(TypedDict):
    """What happened after the 250, on a tracked mail host."""

    accepted: int
    #: everything accepted over the time from the first message to an empty queue
    drained_rate: float | None
    queue: list[tuple[float, int]]  # (seconds into the run, messages queued)
    queue_max: int
    drain_seconds_after_last_250: float | None
    # From the Maildir scan; absent when there is none (a host without virtual mailboxes).
    delivered: NotRequired[int]
    missing: NotRequired[int]
    missing_tokens: NotRequired[list[str]]
    intact: NotRequired[bool]
    delivered_rate: NotRequired[float | None]
    ttm_ms: NotRequired[Percentiles]  # absent when nothing was delivered
    ttm_cdf_ms: NotRequired[Cdf]
    still_queued: NotRequired[dict[str, int]]  # delay reason -> recipients


class Baseline(TypedDict):
    """smtp-source against the same target in the same run."""

    tool: str
    sessions: int
    messages: int
    size: int
    seconds: float
    rate: float  # median of ``rates``
    rates: list[float]


class CostRow(TypedDict):
    """One server component's share of a run window (harness.bench.cost)."""

    component: str  # "postfix smtpd", "dovecot lmtp", "rspamd proxy", ..., "unattributed"
    group: str  # postfix, dovecot, rspamd, redis, other, unattributed
    processes: int
    cpu_ms: float
    cpu_ms_per_message: float
    fsyncs: int | None  # None: not counted (unattributed, or no tracefs)
    fsyncs_per_message: float | None


class Cost(TypedDict):
    """Server CPU and fsyncs per message over a run window (load and drain), on a lab host."""

    seconds: float
    messages: int
    interval_ms: int  # how often the processes were sighted
    cpu_ms: float  # the container's cgroup counter over the window
    cpu_ms_per_message: float
    cpu_share: float  # cpu_ms / wall ms: 1.0 is one core busy all the window
    fsyncs: int | None
    fsyncs_per_message: float | None
    fsync_note: str | None  # why fsyncs are missing or incomplete
    rows: list[CostRow]  # largest first, "unattributed" last


class Environment(TypedDict):
    client: Fingerprint
    server: NotRequired[Fingerprint]


class CampaignInfo(TypedDict):
    recipients: int
    shape: str
    start_at: float | None


class BenchRun(TypedDict):
    schema: int
    kind: Literal["run"]
    name: str
    started: str  # ISO 8601, UTC
    seconds: float
    spec: RunSpec
    outcomes: Outcomes
    accept_rate: float
    latency_ms: dict[str, Percentiles]  # phase -> percentiles; measured phases only
    latency_cdf_ms: dict[str, Cdf]
    timeline: Timeline
    errors: dict[str, int]
    environment: Environment
    delivery: NotRequired[Delivery]
    cost: NotRequired[Cost]  # server CPU and fsyncs per message, on a lab host
    baseline: NotRequired[Baseline]
    accept_rates: NotRequired[list[float]]  # one per baseline pair
    accept_rate_median: NotRequired[float]
    pair_ratios: NotRequired[list[float]]
    ratio_vs_smtp_source: NotRequired[float | None]  # geometric mean of pair_ratios
    campaign: NotRequired[CampaignInfo]
    #: an outbound rehearsal: per destination, where every accepted message went
    #: (OutboundReport.to_json() plus "drained_s" and "timeout_s")
    outbound: NotRequired[dict[str, Any]]
    #: what Prometheus recorded on the servers over the run and its drain, per host
    server: NotRequired[ServerSeriesJSON]


class Ratio(TypedDict):
    value: float | None
    goal: str  # ">= 0.5", "<= 1", "0.95 .. 1.05" or "report"
    #: None: informational, no value, or an interval that straddles the goal
    met: bool | None
    ci95: NotRequired[list[float] | None]  # [low, high] of the pairs' bootstrap; None: too few
    pairs: NotRequired[int]  # how many pairs the value and interval come from
    straddles: NotRequired[bool]  # the interval holds values on both sides of the goal


class SideAccount(TypedDict):
    """Every message a side of the rounds had accepted, found again by its token."""

    accepted: int
    delivered: int
    missing: int
    missing_tokens: list[str]  # the first 100


class RoundsInfo(TypedDict):
    """The interleaved rounds behind a suite's paired ratios (harness.bench.rounds)."""

    order: list[str]  # the sides; round i starts at side i mod len(order)
    rounds: int
    seconds: float
    stopped: str  # why the series ended
    samples: dict[str, list[dict[str, float]]]  # side -> one {metric: value} per round
    pair_ratios: dict[str, list[float]]  # ratio name -> one per round
    accounts: dict[str, SideAccount]  # sides whose messages carry tokens


class BenchSuite(TypedDict):
    schema: int
    kind: Literal["suite"]
    started: str
    lab: NotRequired[str]  # the lab it ran on (absent in schema 1 files)
    size: NotRequired[str]  # "quick" or "full"
    accept_rate: float
    ratios: dict[str, Ratio]
    runs: dict[str, BenchRun]
    environment: Environment
    rounds: NotRequired[RoundsInfo]


BenchResult = BenchRun | BenchSuite


def runs_of(data: BenchResult) -> dict[str, BenchRun]:
    """The runs in a result: a suite's named runs, or the single run under its name."""
    if data["kind"] == "suite":
        return data["runs"]
    return {data["name"]: data}


_BOUND = re.compile(r"^(>=|<=|>|<)\s*(-?[\d.]+)$")
_RANGE = re.compile(r"^(-?[\d.]+)\s*\.\.\s*(-?[\d.]+)$")


def goal_met(value: float | None, goal: str) -> bool | None:
    """Whether ``value`` meets ``goal`` (">= 0.5", "<= 1", "0.95 .. 1.05"); None for "report"
    (informational) or when there is no value."""
    text = goal.strip()
    if text == "report" or value is None:
        return None
    try:
        if bound := _BOUND.match(text):
            op, limit = bound[1], float(bound[2])
            return {
                ">=": value >= limit,
                "<=": value <= limit,
                ">": value > limit,
                "<": value < limit,
            }[op]
        if span := _RANGE.match(text):
            return float(span[1]) <= value <= float(span[2])
    except ValueError:
        pass
    raise BenchError(
        f"ratio goal {goal!r} is not a goal", hint='use ">= X", "<= X", "X .. Y" or "report"'
    )


def _sig4(value: float) -> float:
    return value if value == 0 else round(value, 3 - math.floor(math.log10(abs(value))))


def make_ratio(value: float | None, goal: str) -> Ratio:
    """A ratio judged against its goal; the value keeps 4 significant digits (a 6.5 ms p99 in
    seconds stays 0.0065, not 0.007)."""
    if value is not None:
        value = _sig4(value)
    return {"value": value, "goal": goal, "met": goal_met(value, goal)}


def make_paired_ratio(
    value: float | None, goal: str, ci95: tuple[float, float] | None, pairs: int
) -> Ratio:
    """A ratio from ``pairs`` pairs with its 95 % interval: met when the whole interval meets
    the goal, not met when none of it does, and neither (``straddles``) otherwise. Without an
    interval (too few pairs) the value alone is judged."""
    ratio = make_ratio(value, goal)
    ratio["pairs"] = pairs
    ratio["ci95"] = None if ci95 is None else [_sig4(ci95[0]), _sig4(ci95[1])]
    if ci95 is not None and ratio["met"] is not None:
        low, high = _goal_region(goal)
        inside = low <= ci95[0] and ci95[1] <= high
        outside = ci95[1] < low or ci95[0] > high
        ratio["straddles"] = not inside and not outside
        ratio["met"] = True if inside else False if outside else None
    return ratio


def _goal_region(goal: str) -> tuple[float, float]:
    """The values that meet ``goal``, as [low, high] (a bound's open side is infinite)."""
    text = goal.strip()
    if bound := _BOUND.match(text):
        limit = float(bound[2])
        return (limit, math.inf) if bound[1].startswith(">") else (-math.inf, limit)
    if span := _RANGE.match(text):
        return float(span[1]), float(span[2])
    raise BenchError(f"ratio goal {goal!r} has no region", hint='use ">= X", "<= X" or "X .. Y"')


def check_reportable(data: BenchResult, source: str) -> None:
    """A result with no runs, or a run that attempted nothing, has nothing to report."""
    runs = runs_of(data)
    if not runs:
        raise BenchError(f"bench result {source} has no runs: nothing to report")
    for name, run in runs.items():
        if run["outcomes"]["attempted"] == 0:
            raise BenchError(
                f"bench result {source}: run {name!r} attempted no messages: nothing to report"
            )
