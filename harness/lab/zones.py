"""The zones a lab serves: `mailstack dns zone` on the lab's own inventory, forward and reverse,
served by the lab's NSD container — made at `lab up`, made again by `mailstack dns publish`
after the inventory (or a DKIM key) changed."""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdtypes.ANY.SOA
from docker import DockerClient

from harness.dns.records import Record
from harness.dns.zone import Zone, build_zones, utc_serial
from harness.errors import LabError
from harness.hosts import resolve_hosts
from harness.lab.containers import files_tar, published_udp_port
from harness.lab.dns import nsd_files
from harness.lab.inventory import LOOPBACK, write_inventory
from harness.lab.state import LabState

__all__ = [
    "lab_zones",
    "next_serial",
    "publish_lab_zones",
    "publish_zones",
    "serve_zones",
    "served_serial",
    "wait_until_served",
]

#: TTL of the receivers' records (the mail zones take theirs from the inventory).
_LAB_TTL = 60
#: How long NSD may take to serve re-read zone files.
_RELOAD_SECONDS = 20


def lab_zones(state: LabState, serial: int | None = None) -> list[tuple[str, str]]:
    """(origin, zone text) of every zone the lab's inventory makes, reverse zones included,
    plus those of the provider-like receivers' domains (MX, A and PTR of each receiver)."""
    serial = serial or utc_serial()
    zones: list[Zone] = []
    if any("mail" in h.groups for h in state.hosts):
        inventory = str(state.inventory)
        zones = build_zones(resolve_hosts(inventory), serial=serial, reverse=True, source=inventory)
    zones += _receiver_zones(state, zones, serial)
    _add_pki_name(state, zones)
    return [(z.origin, z.text()) for z in zones]


def _add_pki_name(state: LabState, zones: list[Zone]) -> None:
    """The name the lab's certificates give for their CRL (``pki.<primary domain>``), on the
    DNS container that serves it."""
    if not state.domains:
        return
    origin = f"{state.domains[0]}."
    home = next((z for z in zones if z.origin == origin), None)
    if home is not None:
        home.records.append(Record(f"pki.{origin}", "A", state.dns.ip, _LAB_TTL))


def _receiver_zones(state: LabState, zones: list[Zone], serial: int) -> list[Zone]:
    """A zone per receiver domain (SOA, NS, MX to the receiver, its A); its PTR goes into the
    reverse zone the mail hosts made (or a new one). ``zones`` gain those PTRs."""
    receivers = [h for h in state.hosts if h.receiver]
    if not receivers:
        return []
    ns = f"ns.{state.domains[0]}."
    ttl = _LAB_TTL
    made: list[Zone] = []
    for host in receivers:
        fqdn = f"{host.fqdn}."
        for domain in host.mx_for:
            origin = f"{domain}."
            records = [
                Record(
                    origin, "SOA", f"{ns} hostmaster.{origin} {serial} 3600 900 1209600 {ttl}", ttl
                ),
                Record(origin, "NS", ns, ttl),
                Record(origin, "MX", f"10 {fqdn}", ttl),
                Record(origin, "TXT", "v=spf1 -all", ttl),
            ]
            if fqdn.endswith("." + origin):
                records.append(Record(fqdn, "A", host.ip, ttl))
            made.append(Zone(origin, serial, ttl, records, domains=[domain]))
        reverse = ipaddress.ip_address(host.ip).reverse_pointer + "."
        origin = reverse.partition(".")[2]
        home = next((z for z in [*zones, *made] if z.origin == origin), None)
        if home is None:
            soa = f"{ns} hostmaster.{state.domains[0]}. {serial} 3600 900 1209600 {ttl}"
            home = Zone(
                origin,
                serial,
                ttl,
                [Record(origin, "SOA", soa, ttl), Record(origin, "NS", ns, ttl)],
            )
            made.append(home)
        home.records.append(Record(reverse, "PTR", fqdn, ttl))
    return made


def served_serial(state: LabState, origin: str) -> int | None:
    """The SOA serial the lab's DNS serves for ``origin`` now (None: not served)."""
    query = dns.message.make_query(origin, "SOA")
    try:
        reply = dns.query.udp(query, LOOPBACK, port=state.dns.port, timeout=1)
    except (OSError, dns.exception.DNSException):
        return None
    for rrset in reply.answer:
        for rdata in rrset:
            if isinstance(rdata, dns.rdtypes.ANY.SOA.SOA):
                return int(rdata.serial)
    return None


def wait_until_served(state: LabState, origins: list[str], serial: int | None = None) -> None:
    """NSD loads zone files in its own time (at start, after a signal): wait until every
    zone answers (with ``serial``, when given), so the caller's next lookup sees them."""
    deadline = time.monotonic() + _RELOAD_SECONDS

    def ready(origin: str) -> bool:
        served = served_serial(state, origin)
        return served is not None and (serial is None or served == serial)

    while not all(ready(o) for o in origins):
        if time.monotonic() > deadline:
            raise LabError(
                f"the lab DNS of {state.name!r} does not serve serial {serial} after "
                f"{_RELOAD_SECONDS} s",
                hint=f"docker logs {state.dns.container}",
            )
        time.sleep(0.1)


def publish_lab_zones(lab: str) -> list[str]:
    """`mailstack dns publish` as a function: the lab's DNS serves what its inventory says now
    (after a converge made DKIM keys, or after the inventory changed)."""
    from harness.config import paths  # noqa: PLC0415
    from harness.lab.engine import ensure_engine  # noqa: PLC0415
    from harness.lab.require import require_lab  # noqa: PLC0415

    state = require_lab(lab, or_inventory=False)
    client = ensure_engine(paths().engine_log)
    return publish_zones(client, state, paths().lab_group_vars)


def next_serial(state: LabState) -> int:
    """A serial above the one served, even within the same minute, so a reload shows."""
    served = [s for s in (served_serial(state, o) for o in state.dns.zones) if s is not None]
    return max([utc_serial(), *(s + 1 for s in served)])


def publish_zones(client: DockerClient, state: LabState, group_vars: Path) -> list[str]:
    """Serve what the inventory makes now. Returns the origins served."""
    serial = next_serial(state)
    return serve_zones(client, state, lab_zones(state, serial), serial, group_vars)


def serve_zones(
    client: DockerClient,
    state: LabState,
    zones: list[tuple[str, str]],
    serial: int,
    group_vars: Path,
) -> list[str]:
    """Serve ``zones`` (origin, text) made with ``serial``: new zone files and a SIGHUP (NSD
    re-reads changed zone files); a changed set of zones needs a restart, after which the
    published port is read again and the state and inventory are rewritten."""
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
    wait_until_served(state, origins, serial)
    return origins
