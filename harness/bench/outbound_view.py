"""An outbound report's plot: cumulative deliveries over time with the deferrals marked on
each destination's curve (a PNG). Its table is harness/bench/tables.py's, from the JSON."""

from __future__ import annotations

import bisect
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

__all__ = ["deliveries_figure", "plot_deliveries"]

_SERIES = ("delivered", "deferred_stack", "deferred_receivers")


def _series(destination: Mapping[str, Any], key: str) -> Counter[int]:
    """A destination's per-second counts of ``key`` from its JSON timeline."""
    return Counter({int(second): int(n) for second, n in destination["timeline"][key]})


def _cumulative(per_second: Counter[int], end: int) -> tuple[list[int], list[int]]:
    """A step curve from 0 to ``end`` (so a destination that stalled reads as a plateau)."""
    seconds, counts, total = [0], [0], 0
    for second, count in sorted(per_second.items()):
        total += count
        seconds.append(second)
        counts.append(total)
    seconds.append(max(end, seconds[-1]))
    counts.append(total)
    return seconds, counts


def _end(outbound: Mapping[str, Any]) -> int:
    """The last second anything happened, plus one."""
    totals = outbound["totals"]
    return max((max(_series(totals, k), default=0) for k in _SERIES), default=0) + 1


def _at(seconds: list[int], counts: list[int], second: int) -> int:
    """The cumulative count at ``second`` (the step curve's height there)."""
    return counts[max(0, bisect.bisect_right(seconds, second) - 1)]


def deliveries_figure(outbound: Mapping[str, Any]) -> Figure:
    """Cumulative deliveries per destination against seconds since the campaign started;
    x marks where the stack logged deferrals and v where receivers answered 4xx, each
    sized by how many fell in that second. ``outbound``: a result's "outbound" JSON."""
    fig, ax = plt.subplots(figsize=(8, 4))
    palette = plt.get_cmap("tab10")
    end = _end(outbound)
    for i, (name, destination) in enumerate(outbound["destinations"].items()):
        color = palette(i % 10)
        seconds, counts = _cumulative(_series(destination, "delivered"), end)
        label = f"{name} ({destination['delivered']}/{destination['accepted']})"
        ax.step(seconds, counts, where="post", color=color, label=label)
        for marker, key in (("x", "deferred_stack"), ("v", "deferred_receivers")):
            deferrals = _series(destination, key)
            if deferrals:
                xs = sorted(deferrals)
                ys = [_at(seconds, counts, x) for x in xs]
                sizes = [12 + 6 * min(deferrals[x], 20) for x in xs]
                ax.scatter(xs, ys, s=sizes, marker=marker, color=color, linewidths=1)
    handles, _ = ax.get_legend_handles_labels()
    handles += [
        Line2D([], [], marker=m, color="gray", linestyle="", label=label)
        for m, label in (("x", "deferred (stack)"), ("v", "deferred (receiver)"))
    ]
    ax.legend(handles=handles, fontsize="small", loc="upper left")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    ax.set(
        xlabel="seconds since the campaign started",
        ylabel="messages delivered",
        title="Deliveries by destination",
    )
    return fig


def plot_deliveries(outbound: Mapping[str, Any], path: Path) -> Path:
    """deliveries_figure as a PNG at ``path``."""
    fig = deliveries_figure(outbound)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path
