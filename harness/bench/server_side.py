"""Where a bench run's server-side series come from, and attaching them to its result.

The Prometheus server is the one given (``--prometheus URL``) or, for an inventory with a
host in group ``monitoring`` (the prometheus role's hosts), that host's: at the address the
fleet reaches it by (``mail_common_fleet_address``, else ``mail_dns_ipv4``, else
``ansible_host``) and its ``prometheus_port``, else the prometheus role's default port.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import yaml

from harness.bench.model import BenchRun
from harness.config import paths
from harness.errors import BenchError
from harness.hosts import group_hostvars
from harness.metrics.prometheus import PrometheusClient
from harness.metrics.window import SCRAPES_PER_WINDOW, ServerSeriesJSON, server_series
from harness.ui import step

__all__ = ["MONITORING_GROUP", "attach_server_series", "prometheus_for", "window_series"]

MONITORING_GROUP = "monitoring"
_ADDRESS_VARS = ("mail_common_fleet_address", "mail_dns_ipv4", "ansible_host")
#: Scrapes to wait after the window ends, so its last seconds are in Prometheus.
_SETTLE_SCRAPES = 1
#: Scrapes shown before the run's start.
_LEAD_SCRAPES = 5


def _role_default(role: str, name: str, roles: Path) -> object:
    defaults = yaml.safe_load((roles / role / "defaults" / "main.yml").read_text()) or {}
    return defaults.get(name)


def prometheus_for(url: str | None, inventory: str | None) -> PrometheusClient | None:
    """The Prometheus to ask: ``url`` ("none": no server), else the inventory's monitoring
    host, else None."""
    if url == "none":
        return None
    if url:
        return PrometheusClient(url)
    if inventory is None:
        return None
    hosts = group_hostvars(inventory, MONITORING_GROUP)
    if not hosts:
        return None
    name, values = next(iter(hosts.items()))
    address = next((str(values[v]) for v in _ADDRESS_VARS if values.get(v)), name)
    port = values.get("prometheus_port") or _role_default(
        "prometheus", "prometheus_port", paths().roles
    )
    if not str(port).isdigit():
        raise BenchError(
            f"prometheus_port of {name} is {port!r}, not a port",
            hint="set it to the port Prometheus listens on, or give --prometheus URL",
        )
    host = f"[{address}]" if ":" in address else address
    return PrometheusClient(f"http://{host}:{port}")


def window_series(client: PrometheusClient, started: float, end: float) -> ServerSeriesJSON:
    """Every quantity from a few scrapes before ``started`` (the servers at rest, to compare)
    to one rate window after ``end`` (so the rates count the last deliveries in full), on the
    axis of seconds from ``started``; waits until Prometheus has scraped that far."""
    interval = client.scrape_interval()
    start = started - _LEAD_SCRAPES * interval
    end += SCRAPES_PER_WINDOW * interval
    time.sleep(max(0.0, end + _SETTLE_SCRAPES * interval - time.time()))
    return server_series(client, start, end, origin=started).data


def attach_server_series(data: BenchRun, client: PrometheusClient) -> None:
    """Add ``data["server"]``: the window from the run's start to the end of its drain (its
    last 250 when it was not drained). A Prometheus that cannot answer raises MetricsError: a
    report without the series asked for would look like a quiet server."""
    started = dt.datetime.fromisoformat(data["started"]).timestamp()
    delivery = data.get("delivery")
    drain = (delivery["drain_seconds_after_last_250"] if delivery else None) or 0.0
    end = started + data["seconds"] + drain
    with step(f"server series from {client.base_url}") as s:
        data["server"] = window_series(client, started, end)
        missing = data["server"]["missing"]
        s.note = f"{len(data['server']['quantities']) - len(missing)} quantities" + (
            f"; no host exports {', '.join(missing)}" if missing else ""
        )
