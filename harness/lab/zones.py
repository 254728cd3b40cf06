"""The zones a lab serves: `mailstack dns zone` on the lab's own inventory, forward and reverse,
served by the lab's NSD container — made at `lab up`, made again by `mailstack dns publish`
after the inventory (or a DKIM key) changed."""

from __future__ import annotations

from pathlib import Path

from docker import DockerClient

from harness.dns.zone import build_zones, utc_serial
from harness.hosts import resolve_hosts
from harness.lab.containers import files_tar, published_udp_port
from harness.lab.dns import nsd_files
from harness.lab.inventory import write_inventory
from harness.lab.state import LabState

__all__ = ["lab_zones", "publish_zones"]


def lab_zones(state: LabState) -> list[tuple[str, str]]:
    """(origin, zone text) of every zone the lab's inventory makes, reverse zones included;
    none when the lab has no host in group mail (nothing to publish)."""
    if not any("mail" in h.groups for h in state.hosts):
        return []
    inventory = str(state.inventory)
    zones = build_zones(
        resolve_hosts(inventory), serial=utc_serial(), reverse=True, source=inventory
    )
    return [(z.origin, z.text()) for z in zones]


def publish_zones(client: DockerClient, state: LabState, group_vars: Path) -> list[str]:
    """Serve what the inventory makes now: new zone files and a SIGHUP (NSD re-reads changed
    zone files); a changed set of zones needs a restart, after which the published port is
    read again and the state and inventory are rewritten. Returns the origins served."""
    zones = lab_zones(state)
    origins = [o for o, _ in zones]
    container = client.containers.get(state.dns.container)
    client.api.put_archive(container.id, "/", files_tar(nsd_files(zones)))
    if origins == state.dns.zones:
        container.kill(signal="HUP")
    else:
        container.restart(timeout=5)
        state.dns.port = published_udp_port(client, container.id, 53)
        state.dns.zones = origins
        state.save()
        write_inventory(state, group_vars)
    return origins
