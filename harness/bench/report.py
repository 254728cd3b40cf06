"""People's view of a bench result: a Markdown summary and an HTML page with plots
(throughput over time, latency CDFs, queue depth), written beside the JSON."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["markdown", "runs_of", "write_report"]


def runs_of(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The runs in a result: a suite's named runs, or the single run as 'run'."""
    if data.get("kind") == "suite":
        runs: dict[str, dict[str, Any]] = data["runs"]
        return runs
    return {"run": data}


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    return "-" if value is None else str(value)


def markdown(data: dict[str, Any]) -> str:
    lines = ["# mailstack bench", ""]
    if data.get("ratios"):
        lines += ["## Ratios (same run)", "", "| ratio | value | goal |", "|---|---|---|"]
        for name, ratio in data["ratios"].items():
            lines.append(f"| {name} | {_fmt(ratio.get('value'))} | {ratio.get('goal', '')} |")
        lines.append("")
    lines += [
        "## Runs",
        "",
        "| run | target | mode | sessions | messages | accepted/s | accepted | failed | "
        "p50 ms | p99 ms | delivered | ttm p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in runs_of(data).items():
        out = run.get("outcomes", {})
        lat = run.get("latency_ms", {}).get("message", {})
        dlv = run.get("delivery") or {}
        failed = out.get("attempted", 0) - out.get("accepted", 0)
        lines.append(
            f"| {name} | {run['spec']['target']} | {run['spec']['mode']} | "
            f"{run['spec']['sessions']} | {out.get('attempted')} | {_fmt(run['accept_rate'])} | "
            f"{out.get('accepted')} | {failed} | {_fmt(lat.get('p50'))} | {_fmt(lat.get('p99'))} | "
            f"{_fmt(dlv.get('delivered'))} | {_fmt((dlv.get('ttm_ms') or {}).get('p99'))} |"
        )
        if run.get("baseline"):
            base = run["baseline"]
            lines.append(
                f"| {name} (smtp-source) | same | closed | {base['sessions']} | "
                f"{base['messages']} | {_fmt(base['rate'])} | | | | | | |"
            )
    lines.append("")
    env = data.get("environment") or next(iter(runs_of(data).values())).get("environment")
    if env:
        lines += ["## Environment", "", "```", *(f"{k}: {v}" for k, v in env.items()), "```", ""]
    return "\n".join(lines)


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _plots(data: dict[str, Any]) -> list[tuple[str, str]]:
    runs = runs_of(data)
    plots = []
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for name, run in runs.items():
        points = run.get("timeline") or []
        ax.plot([p["second"] for p in points], [p["accepted"] for p in points], label=name)
    ax.set(xlabel="second of run", ylabel="accepted / s", title="Throughput over time")
    ax.legend(fontsize="small")
    plots.append(("Throughput over time", _png(fig)))
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for name, run in runs.items():
        cdf = (run.get("latency_cdf_ms") or {}).get("message")
        if cdf:
            ax.plot([max(p[0], 0.001) for p in cdf], [p[1] for p in cdf], marker=".", label=name)
        ttm = (run.get("delivery") or {}).get("ttm_cdf_ms")
        if ttm:
            ax.plot(
                [max(p[0], 0.001) for p in ttm],
                [p[1] for p in ttm],
                linestyle="--",
                label=f"{name} time-to-mailbox",
            )
    ax.set_xscale("log")
    ax.set(xlabel="latency (ms, log)", ylabel="percentile", title="Latency CDF")
    ax.legend(fontsize="small")
    plots.append(("Latency CDF", _png(fig)))
    queue = {n: (r.get("delivery") or {}).get("queue") for n, r in runs.items()}
    if any(queue.values()):
        fig, ax = plt.subplots(figsize=(8, 3.5))
        for name, samples in queue.items():
            if samples:
                ax.plot([s[0] for s in samples], [s[1] for s in samples], label=name)
        ax.set(xlabel="second of run", ylabel="messages queued", title="Queue depth")
        ax.legend(fontsize="small")
        plots.append(("Queue depth", _png(fig)))
    return plots


def write_report(data: dict[str, Any], out_dir: Path, stem: str = "bench") -> dict[str, Path]:
    """Write ``stem``.md and ``stem``.html into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md = markdown(data)
    md_path = out_dir / f"{stem}.md"
    md_path.write_text(md)
    figures = "".join(
        f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" '
        f'src="data:image/png;base64,{png}">'
        for title, png in _plots(data)
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>mailstack bench</title>"
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}"
        "pre{background:#f4f4f4;padding:1em;overflow:auto}</style></head><body>"
        f"<pre>{html.escape(md)}</pre>{figures}</body></html>"
    )
    html_path = out_dir / f"{stem}.html"
    html_path.write_text(page)
    return {"markdown": md_path, "html": html_path}
