"""People's view of a chaos run: one table row per scenario (in the terminal, Markdown and the
HTML page the bench reports use) and one plot per scenario — accepted and delivered messages
per second with the fault's window shaded and the clients' failed attempts below."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.bench.header import Header, machine_line, when_line
from harness.bench.tables import Cell, Table, sig

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["chaos_table", "scenario_png", "write_chaos_report", "write_scenarios_page"]


def _failures(clients: Mapping[str, Any]) -> str:
    failures: dict[str, int] = clients["failures"]
    if not failures:
        return "none"
    return ", ".join(f"{n} x {kind}" for kind, n in failures.items())


def chaos_table(results: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(
        "Scenarios",
        (
            "scenario",
            "accepted",
            "delivered",
            "duplicates",
            "missing",
            "client failures",
            "retries",
            "first 250 after fault (s)",
            "client outage (s)",
            "verdict",
        ),
        note="Every message the clients got a 250 for must be in a mailbox: missing must be 0. "
        "A duplicate is a message delivered twice (a client retried after a lost reply). "
        "Client outage: from the first failure the clients saw after the fault to their next "
        "250.",
    )
    for r in results:
        clients, server, rec = r["clients"], r["server"], r["recovery"]
        verdict = "held" if r["ok"] else _broken(r)
        table.rows.append(
            (
                Cell(r["scenario"]),
                Cell(sig(clients["accepted"]), "num"),
                Cell(sig(server["delivered"]), "num"),
                Cell(sig(server["duplicates"]), "num"),
                Cell(sig(server["missing"]), "not-met" if server["missing"] else "num"),
                Cell(_failures(clients)),
                Cell(sig(clients["retries"]), "num"),
                Cell(sig(rec["first_250_after_fault_s"]), "num"),
                Cell(sig(rec["client_outage_s"]), "num"),
                Cell(verdict, "met" if r["ok"] else "not-met"),
            )
        )
    return table


def _broken(r: Mapping[str, Any]) -> str:
    server, clients = r["server"], r["clients"]
    why = []
    if server["missing"]:
        why.append(f"{server['missing']} missing")
    if server["unsigned"]:
        why.append(f"{server['unsigned']} unsigned")
    if clients["gave_up"]:
        why.append(f"{clients['gave_up']} never accepted")
    if not server["drained"]:
        why.append("queue not drained")
    return "failed: " + ", ".join(why or ["see JSON"])


def _series(timeline: list[list[float]], end: int) -> list[int]:
    counts = dict.fromkeys(range(end + 1), 0)
    for second, n in timeline:
        if int(second) <= end:
            counts[int(second)] = int(n)
    return [counts[s] for s in range(end + 1)]


def scenario_png(result: Mapping[str, Any]) -> str:
    """The scenario's plot as a base64 PNG."""
    from harness.bench.plots import png  # noqa: PLC0415 -- matplotlib only for the page

    return png(scenario_figure(result))


def scenario_figure(result: Mapping[str, Any]) -> Figure:
    """Accepted and delivered per second above, the clients' failed tries below, the fault
    marked on both."""
    import matplotlib.pyplot as plt  # noqa: PLC0415 -- only for the page

    tl, fault = result["timeline"], result["fault"]
    end = int(max((s for key in tl.values() for s, _ in key), default=0))
    seconds = list(range(end + 1))
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(8, 3.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot(
        seconds,
        _series(tl["accepted"], end),
        label="accepted (250)",
        color="#2b7bba",
        drawstyle="steps-post",
    )
    top.plot(
        seconds,
        _series(tl["delivered"], end),
        label="delivered",
        color="#3a9a4a",
        drawstyle="steps-post",
    )
    # Second s holds what happened in [s, s + 1): bars start at their second.
    bottom.bar(seconds, _series(tl["failed"], end), color="#c0392b", width=1.0, align="edge")
    for ax in (top, bottom):
        # A kill has no window (it ends itself); other faults last until they are healed.
        if fault["kind"] != "kill" and fault["healed_at_s"] > fault["at_s"] + 0.5:
            ax.axvspan(fault["at_s"], fault["healed_at_s"], color="#f0b429", alpha=0.25)
        ax.axvline(fault["at_s"], color="#d35400", linewidth=1)
    top.set_ylabel("messages/s")
    top.set_title(f"{result['scenario']}: {result['about']}", fontsize=10)
    top.legend(loc="upper right", fontsize=8)
    bottom.set_ylabel("failed\ntries/s")
    for ax in (top, bottom):
        # Counts: the axis starts at 0, also when a panel has none (matplotlib centres an
        # all-zero series on 0, from -0.05 to 0.05).
        ax.set_ylim(bottom=0, top=max(1.0, ax.get_ylim()[1]))
    bottom.set_xlabel("seconds since the load started (fault: orange line; until healed: shaded)")
    return fig


def _header(data: Mapping[str, Any]) -> Header:
    load = data["load"]
    names = [r["scenario"] for r in data["results"]]
    measured = (
        f"{len(names)} scenario(s) on {data['host']} of lab {data['lab']!r}: "
        f"{sig(load['rate'])} msg/s for {sig(load['seconds'])} s each, fault at "
        f"{sig(load['fault_at'])} s for {sig(load['fault_for'])} s"
    )
    command = (
        f"mailstack chaos run --lab {data['lab']} --host {data['host']} "
        + " ".join(f"--scenario {n}" for n in names)
        + f" --rate {load['rate']:g} --seconds {load['seconds']:g}"
        + f" --fault-at {load['fault_at']:g} --fault-for {load['fault_for']:g}"
    )
    return Header(
        "mailstack chaos: faults under load",
        measured,
        machine_line("client", data.get("machine")),
        when_line(data["started"]),
        (command,),
    )


def _server_png(result: Mapping[str, Any]) -> str | None:
    """A scenario's server series (``server_series``, from the lab's Prometheus) under its
    clients' accepted msg/s, the event shaded; None without them."""
    from harness.bench.plots import png  # noqa: PLC0415 -- matplotlib
    from harness.bench.server_view import server_figure  # noqa: PLC0415

    if not result.get("server_series"):
        return None
    accepted = result["timeline"]["accepted"]
    edges = [float(s) for s, _ in accepted] + ([float(accepted[-1][0]) + 1] if accepted else [])
    fault = result["fault"]
    fig = server_figure(
        result["server_series"],
        edges,
        [float(n) for _, n in accepted],
        float(result["settings"]["seconds"]),
        shade=(fault["at_s"], fault["healed_at_s"] or fault["at_s"]),
    )
    return None if fig is None else png(fig)


def write_scenarios_page(
    head: Header, table: Table, results: Sequence[Mapping[str, Any]], note: str, page: Path
) -> Path:
    """``page`` (HTML: the header, ``table``, one plot per result, ``note`` over the plots) and
    the Markdown of the table beside it; returns the page."""
    from harness.bench.report import (  # noqa: PLC0415 -- matplotlib behind it
        figure,
        header_html,
        html_document,
        html_table,
        md_table,
    )

    plots = "".join(
        figure(scenario_png(r), f"Accepted and delivered over time: {r['scenario']}")
        + (figure(server, f"Server side: {r['scenario']}") if (server := _server_png(r)) else "")
        for r in results
    )
    body = (
        header_html(head)
        + html_table(table)
        + f"<section><h2>Over time</h2><p class='note'>{note}</p>"
        + plots
        + "</section>"
    )
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(html_document(head.title, body))
    page.with_suffix(".md").write_text(
        "\n".join([f"# {head.title}", "", head.measured, "", *md_table(table)])
    )
    return page


def write_chaos_report(data: Mapping[str, Any], out_dir: Path, stem: str = "chaos") -> Path:
    """``stem``.html (table and plots) and ``stem``.md (the table) in ``out_dir``; returns the
    page's path."""
    return write_scenarios_page(
        _header(data),
        chaos_table(data["results"]),
        data["results"],
        "Top: messages accepted (the clients' 250s, retries included) and delivered into the "
        "Maildir per second. Bottom: the clients' attempts that did not get a 250.",
        out_dir / f"{stem}.html",
    )
