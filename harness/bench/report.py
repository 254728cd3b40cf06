"""People's view of a bench result, written beside the JSON: a Markdown summary, and one
self-contained HTML page (inline CSS, plots as data: URIs) an admin reads at a glance."""

from __future__ import annotations

import html
from pathlib import Path

from harness.bench.header import Header, describe
from harness.bench.model import BenchResult, check_reportable
from harness.bench.tables import (
    Table,
    baselines_table,
    cost_table,
    delivery_table,
    environment_table,
    errors_table,
    latency_table,
    outbound_report_table,
    ratios_table,
    runs_table,
)

__all__ = [
    "figure",
    "header_html",
    "html_document",
    "html_page",
    "html_table",
    "markdown",
    "md_table",
    "write_report",
]


def _summary_tables(data: BenchResult) -> list[Table]:
    tables = [
        ratios_table(data),
        runs_table(data),
        delivery_table(data),
        outbound_report_table(data),
        baselines_table(data),
        cost_table(data),
        errors_table(data),
    ]
    return [t for t in tables if t is not None]


# -- Markdown ----------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(table: Table) -> list[str]:
    align = (
        ["---:" if cell.kind == "num" else "---" for cell in table.rows[0]] if table.rows else []
    )
    lines = [f"## {table.title}", ""]
    if table.note:
        lines += [table.note, ""]
    lines += [
        "| " + " | ".join(_md_cell(h) for h in table.headers) + " |",
        "|" + "|".join(align or ["---"] * len(table.headers)) + "|",
        *("| " + " | ".join(_md_cell(c.text) for c in row) + " |" for row in table.rows),
        "",
    ]
    return lines


def markdown(data: BenchResult) -> str:
    head = describe(data)
    lines = [
        f"# {head.title}",
        "",
        f"- **Measured:** {head.measured}",
        f"- **Machine:** {head.machine}",
        f"- **When:** {head.when}",
        "- **Reproduce:** " + " or ".join(f"`{c}`" for c in head.commands),
    ]
    if head.placeholders:
        lines[-1] += f" ({head.placeholders})"
    lines.append("")
    for table in [*_summary_tables(data), environment_table(data)]:
        lines += md_table(table)
    return "\n".join(lines)


# -- HTML --------------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;color:#1d232a;max-width:1180px;margin:1.5em auto;
padding:0 1em}
h1{font-size:1.5em;margin:.2em 0 .5em}h2{font-size:1.15em;margin:1.6em 0 .4em;
border-bottom:1px solid #d8dde3;padding-bottom:.2em}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25em 1em;margin:0;
background:#f5f7f9;padding:.8em 1em;border-radius:6px}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
code{background:#eef1f4;padding:.1em .35em;border-radius:4px;font-size:.92em}
table{border-collapse:collapse;margin:.3em 0;font-size:.92em}
th,td{border:1px solid #d8dde3;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.met{background:#e3f4e6;color:#17612a;font-weight:600}
td.not-met{background:#fbe5e3;color:#8f1d12;font-weight:600}td.info{color:#56606b}
p.note{color:#56606b;font-size:.88em;margin:.2em 0}
.panels{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:.6em}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:.6em}
figure{margin:0}figure img{max-width:100%}figcaption{font-size:.85em;color:#56606b}
"""


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def html_table(table: Table) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in table.headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{c.kind}">{_esc(c.text)}</td>' if c.kind else f"<td>{_esc(c.text)}</td>"
            for c in row
        )
        + "</tr>"
        for row in table.rows
    )
    note = f'<p class="note">{_esc(table.note)}</p>' if table.note else ""
    return (
        f"<section><h2>{_esc(table.title)}</h2>{note}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>"
    )


def header_html(head: Header) -> str:
    commands = " or ".join(f'<code class="command">{_esc(c)}</code>' for c in head.commands)
    if head.placeholders:
        commands += f" <span class='note'>({_esc(head.placeholders)})</span>"
    facts = (
        ("Measured", _esc(head.measured)),
        ("Machine", _esc(head.machine)),
        ("When", _esc(head.when)),
        ("Reproduce", commands),
    )
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    return f'<header><h1>{_esc(head.title)}</h1><dl class="facts">{items}</dl></header>'


def figure(png: str, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{_esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{_esc(alt)}" src="data:image/png;base64,{png}">{cap}</figure>'


def _plots_html(data: BenchResult) -> str:
    from harness.bench.plots import plots  # noqa: PLC0415 -- matplotlib, only for the page

    p = plots(data)
    parts = [
        "<section><h2>Throughput over time</h2><p class='note'>One panel per run, each on its "
        "own scale: accepted messages per second in buckets sized to the run.</p>"
        '<div class="panels">'
        + "".join(figure(png, f"Throughput: {name}") for name, png in p.throughput)
        + "</div></section>"
    ]
    if p.latency_nines and p.latency_cdf:
        parts.append(
            "<section><h2>Latency</h2><p class='note'>From when a message was due to its 250. "
            "Left: latency at each percentile, one more nine per step to the right; right: "
            "the same distribution as a CDF.</p><div class='pair'>"
            + figure(p.latency_nines, "Message latency by percentile (nines)")
            + figure(p.latency_cdf, "Message latency CDF")
            + "</div></section>"
        )
    if p.ttm_nines:
        parts.append(
            "<section><h2>Time to mailbox</h2><p class='note'>From the send time in each "
            "message to its file in the Maildir.</p>"
            + figure(p.ttm_nines, "Time to mailbox by percentile (nines)")
            + "</section>"
        )
    if p.cost:
        parts.append(
            "<section><h2>Server CPU per message</h2><p class='note'>Each bar is one run's "
            "server CPU per accepted message, split by component; the fsync calls per message "
            "are in the label.</p>"
            + figure(p.cost, "Server CPU per message by component")
            + "</section>"
        )
    if p.outbound:
        parts.append(
            "<section><h2>Outbound deliveries</h2><p class='note'>Messages delivered to each "
            "destination over time; x where the stack logged a deferral, v where a receiver "
            "answered 4xx (larger: more in that second).</p>"
            + "".join(figure(png, f"Deliveries: {name}") for name, png in p.outbound)
            + "</section>"
        )
    if p.server:
        parts.append(
            "<section><h2>Server side (Prometheus)</h2><p class='note'>The client's accepted "
            "msg/s on top, then what the servers' exporters recorded over the run and its "
            "drain, one line per host, on the same time axis: the queue, the deferred part of "
            "it, the SMTP client's deferrals, deliveries into mailboxes, messages Postfix "
            "finished, rspamd's scan time and CPU busy. In a lab every container shares one "
            "kernel, so CPU busy is the machine's on each host.</p>"
            + "".join(figure(png, f"Server side: {name}") for name, png in p.server)
            + "</section>"
        )
    if p.queue:
        parts.append(
            "<section><h2>Queue depth</h2>"
            + figure(p.queue, "Postfix queue depth over time")
            + "</section>"
        )
    return "".join(parts)


def html_page(data: BenchResult) -> str:
    head = describe(data)
    body = (
        header_html(head)
        + "".join(html_table(t) for t in _summary_tables(data))
        + _plots_html(data)
        + html_table(latency_table(data))
        + html_table(environment_table(data))
    )
    return html_document(head.title, body)


def html_document(title: str, body: str) -> str:
    """A self-contained page of the reports' look around ``body``."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def write_report(data: BenchResult, out_dir: Path, stem: str = "bench") -> dict[str, Path]:
    """Write ``stem``.md and ``stem``.html into ``out_dir``; returns their paths."""
    check_reportable(data, str(out_dir / f"{stem}.json"))
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path = out_dir / f"{stem}.md"
    md_path.write_text(markdown(data))
    html_path = out_dir / f"{stem}.html"
    html_path.write_text(html_page(data))
    return {"markdown": md_path, "html": html_path}
