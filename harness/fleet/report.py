"""People's view of fleet scenarios: a table row per scenario (terminal, Markdown, the HTML page
the bench reports use) and the chaos report's plot per scenario (accepted and delivered per
second, the event shaded, the clients' failed tries below)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.bench.header import Header, machine_line, when_line
from harness.bench.tables import Cell, Table, sig
from harness.chaos.report import write_scenarios_page

__all__ = ["fleet_table", "write_fleet_report"]


def _split(via: Mapping[str, int]) -> str:
    return " / ".join(f"{server} {n}" for server, n in sorted(via.items())) or "none"


def fleet_table(results: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(
        "Fleet scenarios",
        (
            "scenario",
            "event (s)",
            "accepted",
            "delivered",
            "missing",
            "duplicates",
            "baseline /s",
            "dip /s",
            "below 90 % (s)",
            "client outage (s)",
            "p99 before / during (ms)",
            "250s per MX during",
            "verdict",
        ),
        note="Load to the domain through every MX (each client session starts at one MX and "
        "falls over to the others). Baseline: the offered rate (an open loop that keeps up "
        "accepts what it offers); dip: the lowest 3-s mean of accepted/s during the event; "
        "below 90 %: how long that mean stayed under 90 % of the baseline (the recovery time; "
        "0: never). Client outage: from the first failed try after the event began to the next "
        "250. p99: from when a message was due to its 250 (before: from half-way to the event, "
        "past the first sessions' greeting pause). Every message that got a 250 must be on the "
        "backend: missing must be 0.",
    )
    for r in results:
        clients, server, tp = r["clients"], r["server"], r["throughput"]
        event = r["event"]
        before = (r["latency_ms"].get("before_event") or {}).get("p99")
        during = (r["latency_ms"].get("during_event") or {}).get("p99")
        table.rows.append(
            (
                Cell(r["scenario"]),
                Cell(f"{event['start_s']:.0f}-{event['end_s']:.0f}", "num"),
                Cell(sig(clients["accepted"]), "num"),
                Cell(sig(server["delivered"]), "num"),
                Cell(sig(server["missing"]), "not-met" if server["missing"] else "num"),
                Cell(sig(server["duplicates"]), "num"),
                Cell(sig(tp["baseline_per_s"]), "num"),
                Cell(sig(tp["dip_per_s"]), "num"),
                Cell(sig(tp["recovery_s"]), "num"),
                Cell(sig(clients["client_outage_s"]), "num"),
                Cell(f"{sig(before)} / {sig(during)}", "num"),
                Cell(_split(clients["via"]["during"])),
                Cell("held" if r["ok"] else "failed", "met" if r["ok"] else "not-met"),
            )
        )
    return table


def _header(data: Mapping[str, Any]) -> Header:
    first = data["results"][0]["settings"]
    names = [r["scenario"] for r in data["results"]]
    command = (
        f"mailstack fleet run --lab {data['lab']} "
        + " ".join(f"--scenario {n}" for n in names)
        + f" --rate {first['rate']:g} --seconds {first['seconds']:g}"
        + f" --fault-at {first['fault_at']:g} --down-for {first['down_for']:g}"
        + (f" --limit {first['limit']}" if first["limit"] else "")
        + (f" --host {first['host']}" if first["host"] else "")
    )
    return Header(
        "mailstack fleet: updates and failures under load",
        f"{len(names)} scenario(s) on lab {data['lab']!r} through {len(data['results'][0]['mx'])} "
        f"MX: {sig(first['rate'])} msg/s for {sig(first['seconds'])} s each",
        machine_line("client", data.get("machine")),
        when_line(data["started"]),
        (command,),
    )


def write_fleet_report(data: Mapping[str, Any], out: Path) -> Path:
    """An HTML page (table and plots) and Markdown beside the JSON at ``out``; the page."""
    return write_scenarios_page(
        _header(data),
        fleet_table(data["results"]),
        data["results"],
        "Top: messages accepted (250s, retries included) and delivered on the backend per "
        "second; the event shaded. Bottom: the clients' attempts that did not get a 250 (each "
        "then tried the next MX). Under each, when the lab has a Prometheus: the clients' "
        "accepted msg/s above what the servers recorded (queue, deferred, deliveries, rspamd "
        "scan time, CPU), per host, the event shaded.",
        out.with_suffix(".html"),
    )
