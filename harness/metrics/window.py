"""The server side of a bench run: what Prometheus recorded on each host over the run's window,
on the client's time axis (seconds from the run's start), so a report can set the two side by
side and show where the bottleneck sat.

Each quantity is one PromQL query summed per host (the ``host`` label the prometheus role puts
on every target): the Postfix queue and its deferred part (the Postfix exporter's showq
gauges), deliveries Postfix's SMTP client deferred per second (the exporter counts no LMTP
deferrals: mail a backend turns away shows in the deferred queue), mail delivered into
mailboxes per second (Dovecot's ``mail_deliveries``), messages Postfix finished with per second
(qmgr's removals: delivered, bounced or expired), rspamd's average scan time, and the share of
CPU time not idle (the node exporter). A host that exports none of a quantity is simply absent
from it; a quantity no host exports is listed as missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypedDict

from harness.metrics.prometheus import PrometheusClient, Series

__all__ = [
    "QUANTITIES",
    "SCRAPES_PER_WINDOW",
    "Quantity",
    "ServerSeries",
    "ServerSeriesJSON",
    "server_series",
]

#: About this many points per series: enough to follow a run, few enough for a JSON result.
_POINTS = 240
#: A rate() window spans this many scrapes, so it always holds two samples or more.
SCRAPES_PER_WINDOW = 4


@dataclass(frozen=True)
class Quantity:
    """One server-side quantity: its key in the result, title and unit for a plot, and its
    PromQL query with ``{w}`` where the rate window goes."""

    key: str
    title: str
    unit: str
    query: str

    def promql(self, window_s: int) -> str:
        return self.query.replace("{w}", f"{window_s}s")


QUANTITIES = (
    Quantity(
        "queue",
        "Postfix queue",
        "messages",
        "sum by (host) (postfix_showq_message_size_bytes_count)",
    ),
    Quantity(
        "deferred",
        "Deferred queue",
        "messages",
        'sum by (host) (postfix_showq_message_size_bytes_count{queue="deferred"})',
    ),
    Quantity(
        "deferrals",
        "SMTP deliveries deferred",
        "msg/s",
        "sum by (host) (rate(postfix_smtp_deferred_messages_total[{w}]))",
    ),
    Quantity(
        "deliveries",
        "Deliveries into mailboxes",
        "msg/s",
        'sum by (host) (rate(dovecot_mail_deliveries_bucket{le="+Inf"}[{w}]))',
    ),
    Quantity(
        "finished",
        "Messages Postfix finished",
        "msg/s",
        "sum by (host) (rate(postfix_qmgr_messages_removed_total[{w}]))",
    ),
    Quantity(
        "scan_ms",
        "rspamd scan time (average)",
        "ms",
        "1000 * max by (host) (rspamd_scan_time_average)",
    ),
    Quantity(
        "cpu",
        "CPU busy",
        "%",
        '100 * (1 - avg by (host) (rate(node_cpu_seconds_total{mode="idle"}[{w}])))',
    ),
)


class QuantityJSON(TypedDict):
    key: str
    title: str
    unit: str
    query: str
    #: host -> [[seconds from the run's start, value], ...]
    hosts: dict[str, list[list[float]]]


class ServerSeriesJSON(TypedDict):
    prometheus: str
    #: unix times of the window asked
    start: float
    end: float
    step_s: float
    rate_window_s: int
    quantities: list[QuantityJSON]
    #: keys of the quantities no host exported
    missing: list[str]


@dataclass(frozen=True)
class ServerSeries:
    """The series of every quantity over one window."""

    data: ServerSeriesJSON

    def hosts(self, key: str) -> dict[str, list[list[float]]]:
        for quantity in self.data["quantities"]:
            if quantity["key"] == key:
                return quantity["hosts"]
        raise KeyError(key)


def _by_host(series: list[Series], origin: float) -> dict[str, list[list[float]]]:
    found: dict[str, list[list[float]]] = {}
    for one in series:
        host = one.labels.get("host") or one.labels.get("instance") or "?"
        points = [[round(t - origin, 3), round(v, 4)] for t, v in one.points if math.isfinite(v)]
        if points:
            found.setdefault(host, []).extend(points)
    return {host: sorted(points) for host, points in sorted(found.items())}


def server_series(
    client: PrometheusClient,
    start: float,
    end: float,
    *,
    origin: float | None = None,
    quantities: tuple[Quantity, ...] = QUANTITIES,
) -> ServerSeries:
    """Every quantity from ``start`` to ``end`` (unix times), times given as seconds from
    ``origin`` (the run's start; ``start`` when not given). The step is the server's scrape
    interval or finer than needed for about _POINTS points, whichever is longer; rates span
    SCRAPES_PER_WINDOW scrapes (or two steps)."""
    interval = client.scrape_interval()
    step = max(interval, (end - start) / _POINTS)
    window = math.ceil(max(SCRAPES_PER_WINDOW * interval, 2 * step))
    found: list[QuantityJSON] = []
    for quantity in quantities:
        query = quantity.promql(window)
        hosts = _by_host(client.query_range(query, start, end, step), origin or start)
        found.append(
            {
                "key": quantity.key,
                "title": quantity.title,
                "unit": quantity.unit,
                "query": query,
                "hosts": hosts,
            }
        )
    return ServerSeries(
        {
            "prometheus": client.base_url,
            "start": round(start, 3),
            "end": round(end, 3),
            "step_s": round(step, 3),
            "rate_window_s": window,
            "quantities": found,
            "missing": [q["key"] for q in found if not q["hosts"]],
        }
    )
