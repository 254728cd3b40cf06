"""People's view of a soak run: one table row per window and a verdict table (in the terminal,
Markdown and the HTML page the bench reports use), and the plots over time."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.bench.header import Header, machine_line, when_line
from harness.bench.tables import Cell, Table, sig

__all__ = ["verdict_table", "windows_table", "write_soak_report"]


def _p(summary: Mapping[str, float] | None, q: str) -> Cell:
    return Cell(sig(None if summary is None else summary[q]), "num")


def windows_table(data: Mapping[str, Any]) -> Table:
    families = sorted({f for w in data["windows"] for f in w["rss_mib"]})
    table = Table(
        "Windows",
        (
            "window (s)",
            "accepted",
            "per s",
            "latency p50",
            "latency p99",
            "to mailbox p50",
            "to mailbox p99",
            "failed tries",
            "retries",
            "queue max",
            *(f"{f} MiB" for f in families),
        ),
        note="Latency (ms): from when a message was due to its 250 (open loop: a slow server "
        "delays what is due after it too). To mailbox (ms): from the 250 to the message's "
        "first copy in the Maildir. A message counts in the window of its 250. MiB: the "
        "resident memory of every process of a daemon family at the window's end.",
    )
    for w in data["windows"]:
        table.rows.append(
            (
                Cell(f"{w['start_s']:.0f}-{w['end_s']:.0f}"),
                Cell(sig(w["accepted"]), "num"),
                Cell(sig(w["accepted_per_s"]), "num"),
                _p(w["latency_ms"], "p50"),
                _p(w["latency_ms"], "p99"),
                _p(w["ttm_ms"], "p50"),
                _p(w["ttm_ms"], "p99"),
                Cell(sig(w["failures"]), "num"),
                Cell(sig(w["retries"]), "num"),
                Cell(sig(w["queue_max"]), "num"),
                *(Cell(sig(w["rss_mib"].get(f)), "num") for f in families),
            )
        )
    return table


def _check(label: str, value: str, met: bool) -> tuple[Cell, ...]:
    return (
        Cell(label),
        Cell(value, "num"),
        Cell("met" if met else "not met", "met" if met else "not-met"),
    )


def verdict_table(data: Mapping[str, Any]) -> Table:
    clients, server, rss = data["clients"], data["server"], data["rss"]
    table = Table(
        "Verdict",
        ("check", "value", "verdict"),
        note="Every message the clients got a 250 for must be in a mailbox (a duplicate is "
        "reported, not failed); every message must get its 250 in the end; the clients must "
        "finish within a few seconds of the load's end (or else the stack fell behind the "
        "rate and built a backlog); the queue must drain; and no daemon's largest process may "
        "grow past the limit from the first window to the last.",
    )
    table.rows += [
        _check("accepted messages missing", sig(server["missing"]), not server["missing"]),
        _check("messages given up by the clients", sig(clients["gave_up"]), not clients["gave_up"]),
        _check(
            "clients' end past the load's (s)",
            sig(clients["late_s"]),
            clients["late_s"] <= clients["late_allowed_s"],
        ),
        _check(
            "queue drained after the load (s)",
            sig(server["drain_seconds_after_load"]),
            server["drained"],
        ),
        *(
            _check(f"{family} largest process growth (MiB)", sig(mib), mib <= rss["limit_mib"])
            for family, mib in rss["growth_mib"].items()
        ),
    ]
    table.rows.append(
        (Cell("duplicates (reported)"), Cell(sig(server["duplicates"]), "num"), Cell("", "info"))
    )
    return table


def _header(data: Mapping[str, Any]) -> Header:
    load = data["load"]
    peak = load["peak"]
    share = (
        f"{load['fraction'] * 100:g} % of the measured peak ({sig(peak['rate'])} msg/s "
        f"accepted and delivered; {sig(peak['accept_rate'])} msg/s accepted)"
        if peak
        else "a fixed rate"
    )
    emptied = (
        f"mailboxes read and emptied every {sig(load['empty_every_s'])} s"
        if load["empty_every_s"]
        else "mailboxes left to grow"
    )
    measured = (
        f"{sig(load['minutes'])} min on {load['service']} of {data['host']} (lab "
        f"{data['lab']!r}) at {sig(load['rate'])} msg/s, {share}; {load['sessions']} sessions, "
        f"windows of {sig(load['window_s'])} s, {emptied}"
    )
    command = (
        f"mailstack soak --lab {data['lab']} --host {data['host']} --service {load['service']}"
        f" --minutes {load['minutes']:g} --window {load['window_s']:g}"
        + (f" --fraction {load['fraction']:g}" if peak else f" --rate {load['rate']:g}")
        + f" --sessions {load['sessions']} --empty-every {load['empty_every_s']:g}"
    )
    commands = ("make soak", command) if data["lab"] == "soak" else (command,)
    return Header(
        "mailstack soak: a long steady load",
        measured,
        machine_line("client", data.get("machine")),
        when_line(data["started"]),
        commands,
    )


def write_soak_report(data: Mapping[str, Any], out: Path) -> Path:
    """The result at ``out`` (JSON, for machines) and beside it the page (``.html``: tables
    and plots) and the summary (``.md``: tables) for people; returns the page's path."""
    from harness.bench.report import (  # noqa: PLC0415 -- matplotlib behind it
        figure,
        header_html,
        html_document,
        html_table,
        md_table,
    )
    from harness.soak.plots import latency_png, queue_png, rates_png, rss_png  # noqa: PLC0415

    tables = (verdict_table(data), windows_table(data))
    plots = (
        figure(rates_png(data), "Accepted and delivered per second"),
        figure(latency_png(data), "Latency per window"),
        figure(rss_png(data), "Daemon memory over time"),
        figure(queue_png(data), "Postfix queue depth over time"),
    )
    head = _header(data)
    body = (
        header_html(head)
        + "".join(html_table(t) for t in tables)
        + "<section><h2>Over time</h2>"
        + "".join(plots)
        + "</section>"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    page = out.with_suffix(".html")
    page.write_text(html_document(head.title, body))
    lines = [f"# {head.title}", "", head.measured, ""]
    for table in tables:
        lines += md_table(table)
    out.with_suffix(".md").write_text("\n".join(lines))
    return page
