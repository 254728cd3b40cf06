"""What a bench report says, as tables of formatted cells: the Markdown summary and the HTML page
render the same rows. Numbers keep three significant digits, units go in the headers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from harness.bench.model import BenchResult, Fingerprint, Percentiles, Ratio, runs_of

__all__ = [
    "Cell",
    "Table",
    "baselines_table",
    "cost_table",
    "delivery_table",
    "environment_table",
    "errors_table",
    "latency_table",
    "outbound_report_table",
    "ratios_table",
    "runs_table",
    "sig",
]


def sig(value: float | None, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, without an exponent: 0.0251, 25.1, 1,230;
    a small number never reads 0.0. Integers (counts) stay exact; None reads '-'."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, int) or value == 0:
        return f"{value:,.0f}"
    value = round(value, digits - 1 - math.floor(math.log10(abs(value))))  # 0.99996 -> 1.0
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


@dataclass(frozen=True)
class Cell:
    text: str
    #: how the cell reads: "num" (right-aligned), "met", "not-met", "info", or "" for text
    kind: str = ""


def _num(value: float | None) -> Cell:
    return Cell(sig(value), "num")


def _text(value: object) -> Cell:
    return Cell("-" if value is None or value == "" else str(value))


@dataclass
class Table:
    title: str
    headers: tuple[str, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    note: str = ""


def ratios_table(data: BenchResult) -> Table | None:
    if data["kind"] != "suite":
        return None
    table = Table(
        "Ratios (measured in the same run)",
        ("ratio", "value", "95% interval", "pairs", "goal", "verdict"),
        note="Each ratio sets two measurements of this run side by side; its goal is the "
        "bar it should clear ('report': shown, not judged). With pairs, the value is the "
        "geometric mean of the pairs' ratios and the interval a bootstrap over the pairs: "
        "met only when all of it meets the goal, 'straddles' when it holds values on both "
        "sides.",
    )
    for name, ratio in data["ratios"].items():
        ci = ratio.get("ci95")
        table.rows.append(
            (
                _text(name),
                _num(ratio["value"]),
                _text(None if not ci else f"{sig(ci[0])} .. {sig(ci[1])}"),
                _num(ratio.get("pairs")),
                _text(ratio["goal"]),
                _verdict(ratio),
            )
        )
    return table


def _verdict(ratio: Ratio) -> Cell:
    if ratio["goal"].strip() == "report":
        return Cell("report", "info")
    if ratio.get("straddles"):
        return Cell("straddles the goal", "info")
    met = ratio.get("met")
    if met is None:
        return Cell("no value", "not-met")
    return Cell("met", "met") if met else Cell("not met", "not-met")


_Key = Literal["p50", "p90", "p99", "p99.9", "max"]
_KEYS: tuple[_Key, ...] = ("p50", "p90", "p99", "p99.9", "max")


def _p(summary: Percentiles | None, key: _Key) -> float | None:
    return None if summary is None else summary.get(key)  # tolerate hand-made results


def runs_table(data: BenchResult) -> Table:
    table = Table(
        "Runs",
        (
            "run",
            "target",
            "mode",
            "sessions",
            "messages",
            "accepted",
            "failed",
            "accepted (msg/s)",
            "p50 (ms)",
            "p99 (ms)",
            "p99.9 (ms)",
        ),
        note="Latency: from when a message was due to its 250, message phase.",
    )
    for name, run in runs_of(data).items():
        spec, out = run["spec"], run["outcomes"]
        message = run["latency_ms"].get("message")
        rate = f"open, {sig(spec['rate'])} msg/s" if spec["rate"] else spec["mode"]
        table.rows.append(
            (
                _text(name),
                _text(spec["target"]),
                _text(rate),
                _num(spec["sessions"]),
                _num(out["attempted"]),
                _num(out["accepted"]),
                _num(out["attempted"] - out["accepted"]),
                _num(run["accept_rate"]),
                _num(_p(message, "p50")),
                _num(_p(message, "p99")),
                _num(_p(message, "p99.9")),
            )
        )
    return table


def delivery_table(data: BenchResult) -> Table | None:
    runs = {n: r for n, r in runs_of(data).items() if "delivery" in r}
    if not runs:
        return None
    table = Table(
        "Delivery (after the 250)",
        (
            "run",
            "accepted",
            "delivered",
            "missing",
            "delivered (msg/s, to empty queue)",
            "queue max",
            "drain after last 250 (s)",
            "time-to-mailbox p50 (ms)",
            "time-to-mailbox p99 (ms)",
        ),
        note="Delivered per second: everything accepted over the time from the first message "
        "to an empty queue. '-' where the host has no Maildir scan.",
    )
    for name, run in runs.items():
        d = run["delivery"]
        ttm = d.get("ttm_ms")
        table.rows.append(
            (
                _text(name),
                _num(d["accepted"]),
                _num(d.get("delivered")),
                _num(d.get("missing")),
                _num(d["drained_rate"]),
                _num(d["queue_max"]),
                _num(d["drain_seconds_after_last_250"]),
                _num(_p(ttm, "p50")),
                _num(_p(ttm, "p99")),
            )
        )
    return table


def outbound_report_table(data: BenchResult) -> Table | None:
    """An outbound rehearsal's accounting, one row per destination (the JSON's view)."""
    runs = {n: r for n, r in runs_of(data).items() if "outbound" in r}
    if not runs:
        return None
    table = Table(
        "Outbound delivery by destination",
        (
            *("run", "destination", "accepted", "delivered", "deferrals (stack)"),
            *("deferrals (receivers)", "bounced", "queued", "missing", "last delivery (s)"),
        ),
        note="Delivered: found in the receiver's journal; deferrals by reply code; missing "
        "(accepted, then neither delivered, bounced nor queued) must be 0.",
    )
    for name, run in runs.items():
        outbound = run["outbound"]
        rows = {**outbound["destinations"], "total": outbound["totals"]}
        odd = [
            f"{name}: {label} {outbound['totals'][key]}"
            for key, label in (
                ("duplicates", "duplicates"),
                ("sent_unconfirmed", "sent but not confirmed by a receiver"),
                ("delivered_unlogged", "delivered but not logged as sent"),
            )
            if outbound["totals"].get(key)
        ]
        table.note += "".join(f" {o}." for o in odd)
        for destination, d in rows.items():
            table.rows.append(
                (
                    _text(name),
                    _text(destination),
                    _num(d["accepted"]),
                    _num(d["delivered"]),
                    _text(_codes(d["deferred_stack"])),
                    _text(_codes(d["deferred_receivers"])),
                    _text(
                        f"{d['bounced']} ({_codes(d['bounced_reasons'])})" if d["bounced"] else "0"
                    ),
                    _num(d["queued"]),
                    _num(d["missing"]),
                    _num(d["last_delivery_s"]),
                )
            )
    return table


def _codes(counts: dict[str, int]) -> str:
    return ", ".join(f"{code}: {n}" for code, n in sorted(counts.items())) or "0"


def baselines_table(data: BenchResult) -> Table | None:
    runs = {n: r for n, r in runs_of(data).items() if "baseline" in r}
    if not runs:
        return None
    table = Table(
        "Baselines: smtp-source against the same target",
        (
            "run",
            "tool",
            "sessions",
            "messages",
            "size (bytes)",
            "smtp-source (msg/s, median)",
            "mailstack (msg/s, median)",
            "pairs",
            "mailstack / smtp-source",
        ),
        note="Pairs alternate which side goes first; the ratio is the geometric mean of the "
        "pairs' ratios.",
    )
    for name, run in runs.items():
        base = run["baseline"]
        table.rows.append(
            (
                _text(name),
                _text(base["tool"]),
                _num(base["sessions"]),
                _num(base["messages"]),
                _num(base["size"]),
                _num(base["rate"]),
                _num(run.get("accept_rate_median", run["accept_rate"])),
                _num(len(base["rates"])),
                _num(run.get("ratio_vs_smtp_source")),
            )
        )
    return table


def cost_table(data: BenchResult) -> Table | None:
    """Server CPU and fsyncs per message by component, for the runs sampled on a lab host."""
    runs = {n: r["cost"] for n, r in runs_of(data).items() if "cost" in r}
    if not runs:
        return None
    table = Table(
        "Where the server's time goes (per accepted message)",
        ("run", "component", "processes", "CPU (ms/msg)", "share of CPU", "fsyncs/msg"),
        note="Sampled from the host container's cgroup and /proc over the run and its drain. "
        "'all' is the cgroup's own counter (CPU share 1.0 = one core busy all the window); "
        "'unattributed' is what the sightings missed (short-lived processes). fsyncs: "
        "fsync and fdatasync calls.",
    )
    for name, cost in runs.items():
        total = cost["cpu_ms"] or 1.0
        table.rows.append(
            (
                _text(name),
                _text(f"all (CPU share {sig(cost['cpu_share'])})"),
                _num(sum(r["processes"] for r in cost["rows"])),
                _num(cost["cpu_ms_per_message"]),
                Cell("100%", "num"),
                _num(cost["fsyncs_per_message"]),
            )
        )
        for row in cost["rows"]:
            table.rows.append(
                (
                    Cell(""),  # the run's rows follow its "all" row
                    _text(row["component"]),
                    _num(row["processes"]),
                    _num(row["cpu_ms_per_message"]),
                    Cell(f"{row['cpu_ms'] / total:.0%}", "num"),
                    _num(row["fsyncs_per_message"]),
                )
            )
    return table


def latency_table(data: BenchResult) -> Table:
    table = Table(
        "Latency by phase (ms)",
        ("run", "phase", "count", "p50 (ms)", "p90 (ms)", "p99 (ms)", "p99.9 (ms)", "max (ms)"),
    )
    for name, run in runs_of(data).items():
        for phase, s in run["latency_ms"].items():
            table.rows.append(
                (
                    _text(name),
                    _text(phase),
                    _num(s["count"]),
                    *(_num(_p(s, k)) for k in _KEYS),
                )
            )
    return table


def errors_table(data: BenchResult) -> Table | None:
    rows: list[tuple[Cell, ...]] = [
        (_text(name), _num(count), _text(text))
        for name, run in runs_of(data).items()
        for text, count in sorted(run["errors"].items(), key=lambda e: -e[1])[:5]
    ]
    if not rows:
        return None
    return Table("Most frequent errors", ("run", "count", "error"), rows)


def _fact(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return "-" if value is None or value == "" else str(value)


def _machines(data: BenchResult) -> list[tuple[str, Fingerprint]]:
    env = data["environment"]
    machines: list[tuple[str, Fingerprint]] = [("client", env["client"])]
    server = env.get("server")
    if server:
        machines.append(("server", server))
    for name, run in runs_of(data).items():
        other = run["environment"].get("server")
        if other and all(other != seen for _, seen in machines):
            machines.append((f"server of {name}", other))
    return machines


def environment_table(data: BenchResult) -> Table:
    machines = _machines(data)
    table = Table("Environment", ("fact", *(label for label, _ in machines)))
    facts: list[str] = []
    for _, facts_of in machines:
        facts += [k for k in facts_of if k not in facts]
    for fact in facts:
        table.rows.append(
            (_text(fact), *(_text(_fact(facts_of.get(fact))) for _, facts_of in machines))
        )
    return table
