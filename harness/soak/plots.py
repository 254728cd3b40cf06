"""The soak report's plots, as base64 PNGs: accepted and delivered messages per second over the
run, latency per window, each daemon family's memory over time and the queue depth (the
bench's queue plot). Every y axis starts at 0, so a drift reads at its true size. Only the
report imports this (matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt

from harness.bench.plots import png, queue_plot  # the bench's queue plot, one series

__all__ = ["latency_png", "queue_png", "rates_png", "rss_png"]

_ACCEPTED, _DELIVERED = "#2b7bba", "#3a9a4a"


def rates_png(data: Mapping[str, Any]) -> str:
    tl = data["timeline"]
    bucket = tl["bucket_s"]
    fig, ax = plt.subplots(figsize=(8, 3))
    for key, label, color in (
        ("accepted_per_s", "accepted (250)", _ACCEPTED),
        ("delivered_per_s", "delivered (first copy)", _DELIVERED),
    ):
        rates = tl[key]
        edges = [i * bucket for i in range(len(rates) + 1)]
        ax.stairs(
            rates, edges, label=label, color=color, linewidth=2 if key == "accepted_per_s" else 1
        )
    ax.axhline(data["load"]["rate"], color="black", linewidth=0.8, linestyle="--")
    for w in data["windows"][1:]:
        ax.axvline(w["start_s"], color="#aab2bb", linewidth=0.6)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.set(
        xlabel=f"seconds since the load started ({bucket:g} s buckets; windows: grey lines)",
        ylabel="messages/s",
        title=f"Accepted and delivered per second (planned rate dashed: {data['load']['rate']:g})",
    )
    ax.legend(fontsize="small", loc="lower right")
    return png(fig)


def latency_png(data: Mapping[str, Any]) -> str:
    """Two panels, one point per window at its middle: due -> 250, and 250 -> Maildir."""
    wins = data["windows"]
    middles = [(w["start_s"] + w["end_s"]) / 2 for w in wins]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3), sharex=True)
    for ax, key, title in (
        (axes[0], "latency_ms", "Accept latency (due -> 250)"),
        (axes[1], "ttm_ms", "Time to mailbox (250 -> Maildir)"),
    ):
        for q, style in (("p50", "-o"), ("p99", "--s")):
            values = [w[key][q] if w[key] else float("nan") for w in wins]
            ax.plot(middles, values, style, label=q, color=_ACCEPTED if q == "p50" else "#c0392b")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.set(xlabel="seconds since the load started (window middles)", ylabel="ms", title=title)
        ax.legend(fontsize="small")
    return png(fig)


def rss_png(data: Mapping[str, Any]) -> str:
    samples = data["rss"]["mib"]
    families = sorted({f for _, by_family in samples for f in by_family})
    fig, ax = plt.subplots(figsize=(8, 3))
    for family in families:
        points = [(at, by_family[family]) for at, by_family in samples if family in by_family]
        ax.plot([at for at, _ in points], [mib for _, mib in points], label=family)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.set(
        xlabel="seconds since the load started",
        ylabel="MiB resident",
        title="Daemon memory: every process of a family",
    )
    ax.legend(fontsize="small", loc="lower right")
    return png(fig)


def queue_png(data: Mapping[str, Any]) -> str:
    return queue_plot({"Postfix queue": data["queue"]}, {"Postfix queue": _ACCEPTED})
