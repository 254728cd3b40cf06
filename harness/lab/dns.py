"""The lab's DNS server: dnsmasq, authoritative for the lab zones, refusing everything else.

With egress dropped, a lookup that tries to leave the lab would hang until it times out and make
Postfix look dead; this server answers every query at once instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.lab.topology import Topology

__all__ = ["DNS_PACKAGES", "dnsmasq_command"]

#: What the DNS container's image needs; baked like any other package set.
DNS_PACKAGES = ("dnsmasq-base",)


def dnsmasq_command(topology: Topology, addresses: Mapping[str, str]) -> list[str]:
    """dnsmasq's command line for ``topology``, ``addresses`` mapping host name -> IPv4."""
    cmd = [
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",  # no upstream: names outside the lab are refused, never forwarded
        "--no-hosts",
        "--bogus-priv",  # reverse lookups of private addresses stay local
        "--user=root",
        "--log-facility=-",
        "--log-queries",
        "--local-ttl=60",
    ]
    for dom in topology.domains:
        cmd.append(f"--local=/{dom.name}/")  # authoritative: unknown names are NXDOMAIN
        for pref, mx in enumerate(dom.mx, start=1):
            cmd.append(f"--mx-host={dom.name},{topology.fqdn(mx)},{pref * 10}")
    for host in topology.hosts:
        ip = addresses[host.name]
        cmd.append(f"--host-record={topology.fqdn(host.name)},{host.name},{ip}")
    return cmd
