"""A run's server side beside its client side (a PNG): the client's accepted msg/s on top, then
each quantity Prometheus recorded (harness/metrics/window.py), one line per host, every panel
on the same axis of seconds from the run's start, so a stall on one side lines up with its
cause on the other."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from harness.bench.model import BenchRun
from harness.bench.plots import throughput_buckets
from harness.metrics.window import ServerSeriesJSON

__all__ = ["run_server_figure", "server_figure"]


def run_server_figure(run: BenchRun) -> Figure | None:
    """The figure of a bench run's server series; None when it has none with data."""
    server = run.get("server")
    if server is None:
        return None
    edges, rates = throughput_buckets(run)
    return server_figure(server, edges, rates, run["seconds"])


def _with_gaps(points: Sequence[Sequence[float]], step: float) -> tuple[list[float], list[float]]:
    """x and y of ``points``, broken (a NaN) where samples are missing: a host that was down
    shows a gap, not a straight line across the time it exported nothing."""
    xs: list[float] = []
    ys: list[float] = []
    for t, v in points:
        if xs and t - xs[-1] > 1.5 * step:
            xs.append(math.nan)
            ys.append(math.nan)
        xs.append(t)
        ys.append(v)
    return xs, ys


def server_figure(
    server: ServerSeriesJSON,
    edges: Sequence[float],
    rates: Sequence[float],
    end_s: float,
    shade: tuple[float, float] | None = None,
) -> Figure | None:
    """``server``'s quantities under the client's accepted msg/s (``rates`` between bucket
    ``edges``, seconds from the start), the client's last send (``end_s``) dashed and an event
    (``shade``: start and end, seconds) shaded in every panel; None when no quantity has data.
    A quantity that stayed at zero on every host is named under the panels instead."""
    exported = [q for q in server["quantities"] if q["hosts"]]
    if not exported:
        return None
    # A quantity at zero on every host all along gets a line of text, not a panel of its own.
    shown = [q for q in exported if any(v for p in q["hosts"].values() for _, v in p)]
    flat = [q["title"] for q in exported if q not in shown]
    fig, axes = plt.subplots(
        len(shown) + 1, 1, figsize=(7.5, 1.7 * (len(shown) + 1)), sharex=True, squeeze=False
    )
    client = axes[0][0]
    if rates:
        client.stairs(list(rates), list(edges), fill=True, color="tab:blue", alpha=0.35)
    client.set_ylabel("accepted\nmsg/s", fontsize="small")
    client.set_title("client", fontsize="small", loc="left")
    hosts = sorted({h for q in shown for h in q["hosts"]})
    palette = plt.get_cmap("tab10")
    colors = {h: palette(i % 10) for i, h in enumerate(hosts)}
    for row, quantity in enumerate(shown, start=1):
        ax = axes[row][0]
        for host, points in quantity["hosts"].items():
            ax.plot(
                *_with_gaps(points, server["step_s"]),
                label=host,
                color=colors[host],
                linewidth=1.2,
            )
        ax.set_ylabel(quantity["unit"], fontsize="small")
        ax.set_title(quantity["title"], fontsize="small", loc="left")
        ax.set_ylim(bottom=0)
    for row in axes:
        row[0].tick_params(labelsize="x-small")
        row[0].grid(True, alpha=0.3)
        row[0].axvline(end_s, color="black", linewidth=0.8, linestyle="--")
        if shade is not None:
            row[0].axvspan(*shade, color="tab:red", alpha=0.12)
    handles = [Line2D([], [], color=colors[h], label=h) for h in hosts]
    fig.legend(handles=handles, loc="upper right", fontsize="small", ncols=min(len(hosts), 6))
    axes[-1][0].set_xlabel(
        "seconds from the run's start (dashed: the last message sent)"
        + (f"\nzero on every host throughout: {', '.join(flat)}" if flat else ""),
        fontsize="small",
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig
