"""The plots of a bench report, as base64 PNGs: throughput over time (one small panel per run,
each on its own y axis), latency against percentile on a "nines" axis (HdrHistogram's plot)
beside its CDF, time-to-mailbox, and queue depth. Only the report imports this (matplotlib)."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from harness.bench.model import BenchResult, BenchRun, Cdf, Cost, runs_of
from harness.bench.tables import sig

__all__ = ["Plots", "plots", "png", "queue_plot"]

#: About this many bars in a throughput panel: enough to see a stall, few enough to read.
_BUCKETS = 60
_NINES = (50.0, 90.0, 99.0, 99.9, 99.99, 99.999)


@dataclass
class Plots:
    #: (run, PNG) per run
    throughput: list[tuple[str, str]] = field(default_factory=list)
    latency_nines: str | None = None
    latency_cdf: str | None = None
    ttm_nines: str | None = None
    queue: str | None = None
    cost: str | None = None
    #: (run, PNG) per outbound rehearsal: deliveries over time by destination
    outbound: list[tuple[str, str]] = field(default_factory=list)
    #: (run, PNG) per run with server series: the client's rate above Prometheus' quantities
    server: list[tuple[str, str]] = field(default_factory=list)


def png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _colors(names: Sequence[str]) -> dict[str, str]:
    """One colour per run, the same in every plot."""
    palette = plt.get_cmap("tab10")
    return {name: matplotlib.colors.to_hex(palette(i % 10)) for i, name in enumerate(names)}


def throughput_buckets(run: BenchRun) -> tuple[list[float], list[float]]:
    """Bucket edges (seconds into the run) and accepted msg/s in each: the stored ticks
    summed into at most _BUCKETS buckets (a run shorter than that many ticks keeps them)."""
    timeline = run["timeline"]
    ticks, tick_s = timeline["accepted"], timeline["resolution_ms"] / 1000
    per = max(1, math.ceil(len(ticks) / _BUCKETS))
    edges, rates = [0.0], []
    for start in range(0, len(ticks), per):
        chunk = ticks[start : start + per]
        rates.append(sum(chunk) / (len(chunk) * tick_s))
        edges.append((start + len(chunk)) * tick_s)
    return edges, rates


def _throughput_panel(name: str, run: BenchRun, color: str) -> str:
    fig, ax = plt.subplots(figsize=(3.6, 2.2))
    edges, rates = throughput_buckets(run)
    if rates:
        ax.stairs(rates, edges, fill=True, color=color, alpha=0.35)
        ax.stairs(rates, edges, color=color)
        ax.axhline(run["accept_rate"], color="black", linewidth=0.8, linestyle="--")
        width = (edges[1] - edges[0]) * 1000
        ax.set_xlabel(f"seconds into the run ({sig(width)} ms buckets)", fontsize="small")
    else:
        ax.text(0.5, 0.5, "nothing accepted", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("accepted msg/s", fontsize="small")
    ax.set_title(f"{name}: mean {sig(run['accept_rate'])} msg/s (dashed)", fontsize="small")
    ax.tick_params(labelsize="x-small")
    return png(fig)


def _nines_axis(ax: Axes) -> None:
    """x = 1 / (1 - p): each tick one more nine."""
    ax.set_xscale("log")
    ax.set_xticks([1 / (1 - p / 100) for p in _NINES])
    ax.set_xticklabels([f"{p:g}%" for p in _NINES])
    ax.minorticks_off()
    ax.grid(True, which="major", alpha=0.3)


def _nines_plot(curves: dict[str, Cdf], colors: dict[str, str], title: str, unit: str) -> str:
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for name, cdf in curves.items():
        points = [(1 / (1 - q / 100), max(ms, 0.001)) for ms, q in cdf if q < 100]
        ax.plot(*zip(*points, strict=True), marker=".", label=name, color=colors[name])
    _nines_axis(ax)
    ax.set_yscale("log")
    ax.set(xlabel="percentile", ylabel=f"{unit} (log)", title=title)
    ax.legend(fontsize="small")
    return png(fig)


def _cdf_plot(curves: dict[str, Cdf], colors: dict[str, str]) -> str:
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for name, cdf in curves.items():
        ax.plot(
            [max(ms, 0.001) for ms, _ in cdf],
            [q for _, q in cdf],
            marker=".",
            label=name,
            color=colors[name],
        )
    ax.set_xscale("log")
    ax.set_ylim(0, 100)
    ax.grid(True, alpha=0.3)
    ax.set(xlabel="latency (ms, log)", ylabel="percentile", title="Message latency CDF")
    ax.legend(fontsize="small")
    return png(fig)


def queue_plot(samples: dict[str, list[tuple[float, int]]], colors: dict[str, str]) -> str:
    fig, ax = plt.subplots(figsize=(7, 3))
    deepest = 0
    for name, points in samples.items():
        known = [(s, d) for s, d in points if d >= 0]  # -1: the queue could not be read
        deepest = max([deepest, *(d for _, d in known)])
        ax.plot(
            [s for s, _ in known],
            [d for _, d in known],
            marker=".",
            drawstyle="steps-post",
            label=name,
            color=colors[name],
        )
    ax.set_ylim(0, max(1, deepest) * 1.1)
    ax.grid(True, alpha=0.3)
    ax.set(xlabel="seconds since the run started", ylabel="messages queued", title="Queue depth")
    ax.legend(fontsize="small")
    return png(fig)


#: Components under this share of every run's CPU join their group's "rest" segment.
_COST_MIN_SHARE = 0.03


def _cost_segments(cost: Cost) -> dict[str, float]:
    """Component -> CPU ms per message; small ones merged into "<group> (rest)"."""
    total = cost["cpu_ms"] or 1.0
    out: dict[str, float] = {}
    for row in cost["rows"]:
        key = row["component"]
        if row["cpu_ms"] / total < _COST_MIN_SHARE and key != "unattributed":
            key = f"{row['group']} (rest)"
        out[key] = out.get(key, 0.0) + row["cpu_ms_per_message"]
    return out


def _cost_plot(costs: dict[str, Cost]) -> str:
    """One stacked horizontal bar per run: CPU ms per message by component."""
    segments = {name: _cost_segments(cost) for name, cost in costs.items()}
    order: list[str] = []
    for seg in segments.values():
        order += [k for k in sorted(seg, key=lambda k: -seg[k]) if k not in order]
    palette = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.55 * len(costs)))
    names = list(costs)
    left = [0.0] * len(names)
    for i, component in enumerate(order):
        widths = [segments[n].get(component, 0.0) for n in names]
        ax.barh(names, widths, left=left, label=component, color=palette(i % 20))
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for y, name in enumerate(names):
        fsyncs = costs[name]["fsyncs_per_message"]
        label = f" {sig(costs[name]['cpu_ms_per_message'])} ms"
        label += "" if fsyncs is None else f", {sig(fsyncs)} fsyncs"
        ax.text(left[y], y, label, va="center", fontsize="small")
    ax.invert_yaxis()
    ax.set_xlim(0, max(left) * 1.3 if any(left) else 1)
    ax.set(xlabel="server CPU per accepted message (ms)", title="Where the server's time goes")
    ax.legend(fontsize="x-small", ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    return png(fig)


def plots(data: BenchResult) -> Plots:
    runs = runs_of(data)
    colors = _colors(list(runs))
    out = Plots(throughput=[(n, _throughput_panel(n, r, colors[n])) for n, r in runs.items()])
    latency = {n: cdf for n, r in runs.items() if (cdf := r["latency_cdf_ms"].get("message"))}
    if latency:
        out.latency_nines = _nines_plot(
            latency, colors, "Message latency by percentile", "latency ms"
        )
        out.latency_cdf = _cdf_plot(latency, colors)
    ttm = {n: cdf for n, r in runs.items() if (cdf := r.get("delivery", {}).get("ttm_cdf_ms"))}
    if ttm:
        out.ttm_nines = _nines_plot(
            ttm, colors, "Time to mailbox by percentile", "time to mailbox ms"
        )
    queue = {n: q for n, r in runs.items() if (q := r.get("delivery", {}).get("queue"))}
    if queue:
        out.queue = queue_plot(queue, colors)
    costs = {n: r["cost"] for n, r in runs.items() if "cost" in r}
    if costs:
        out.cost = _cost_plot(costs)
    if outbound := {n: r["outbound"] for n, r in runs.items() if "outbound" in r}:
        from harness.bench.outbound_view import deliveries_figure  # noqa: PLC0415

        out.outbound = [(n, png(deliveries_figure(o))) for n, o in outbound.items()]
    from harness.bench.server_view import run_server_figure  # noqa: PLC0415

    out.server = [(n, png(fig)) for n, r in runs.items() if (fig := run_server_figure(r))]
    return out
