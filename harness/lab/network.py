"""The lab network: a bridge with a fixed name, its subnet, and the rule that keeps it hermetic.

``iptables -I DOCKER-USER -i <bridge> ! -o <bridge> -j DROP`` drops every packet a lab container
sends towards anything outside the lab, while ports published on 127.0.0.1 still reach it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from collections.abc import Iterable

import docker.errors
from docker import DockerClient
from docker.models.networks import Network
from docker.types import IPAMConfig, IPAMPool

from harness.errors import LabError
from harness.lab.names import LAB_LABEL, bridge_name, network_name

__all__ = [
    "create_network",
    "egress_rule",
    "egress_rule_present",
    "install_egress_rule",
    "pick_subnet",
    "remove_egress_rule",
    "remove_network",
]

#: Lab subnets are /24s carved from this pool, chosen so they overlap nothing the host routes.
SUBNET_POOL = ipaddress.IPv4Network("10.213.0.0/16")


def _host_routes() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(
        ["ip", "-4", "route", "show"], capture_output=True, text=True, check=False
    ).stdout
    routes = []
    for line in out.splitlines():
        dst = line.split()[0] if line.split() else ""
        if dst and dst != "default":
            try:
                routes.append(ipaddress.IPv4Network(dst, strict=False))
            except ValueError:
                continue
    return routes


def _docker_subnets(client: DockerClient) -> list[ipaddress.IPv4Network]:
    subnets = []
    for net in client.networks.list():
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
            try:
                found = ipaddress.ip_network(cfg.get("Subnet", ""), strict=False)
            except ValueError:
                continue
            if isinstance(found, ipaddress.IPv4Network):
                subnets.append(found)
    return subnets


def pick_subnet(lab: str, taken: Iterable[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """A /24 of SUBNET_POOL that overlaps none of ``taken``; the same lab name tries the same
    one first, so a lab keeps its addresses across runs when it can."""
    candidates = list(SUBNET_POOL.subnets(new_prefix=24))
    start = int(hashlib.sha256(lab.encode()).hexdigest(), 16) % len(candidates)
    used = list(taken)
    for i in range(len(candidates)):
        subnet = candidates[(start + i) % len(candidates)]
        if not any(subnet.overlaps(other) for other in used):
            return subnet
    raise LabError(f"no free /24 left in {SUBNET_POOL}", hint="take down labs you no longer use")


def create_network(client: DockerClient, lab: str) -> Network:
    subnet = pick_subnet(lab, [*_host_routes(), *_docker_subnets(client)])
    gateway = str(next(subnet.hosts()))
    return client.networks.create(
        network_name(lab),
        driver="bridge",
        options={"com.docker.network.bridge.name": bridge_name(lab)},
        ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet), gateway=gateway)]),
        labels={LAB_LABEL: lab},
        check_duplicate=True,
    )


def remove_network(client: DockerClient, lab: str) -> int:
    removed = 0
    for net in client.networks.list(filters={"label": f"{LAB_LABEL}={lab}"}):
        try:
            net.remove()
            removed += 1
        except docker.errors.NotFound:
            continue
    return removed


#: the chain Docker leaves to the admin, consulted before its own forwarding rules
FIREWALL_CHAIN = "DOCKER-USER"


def egress_rule(lab: str) -> list[str]:
    """The rule, as iptables arguments after the -I/-C/-D verb."""
    bridge = bridge_name(lab)
    return [FIREWALL_CHAIN, "-i", bridge, "!", "-o", bridge, "-j", "DROP"]


def _iptables(verb: str, rule: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["iptables", "-w", verb, *rule], capture_output=True, text=True, check=False
    )


def rule_present(rule: list[str]) -> bool:
    """``rule`` (chain first, as iptables arguments after the verb) is in place."""
    return _iptables("-C", rule).returncode == 0


def add_rule(rule: list[str], what: str) -> None:
    """Put ``rule`` first in its chain, once (a rule already there is left alone)."""
    if rule_present(rule):
        return
    done = _iptables("-I", rule)
    if done.returncode != 0:
        raise LabError(
            f"could not install {what}: iptables -I {' '.join(rule)}: {done.stderr.strip()}",
            hint=f"the lab needs root and iptables with Docker's {FIREWALL_CHAIN} chain",
        )


def remove_rule(rule: list[str]) -> int:
    """Delete ``rule`` until none is left (a failed run may have added it twice); how many."""
    removed = 0
    while rule_present(rule):
        if _iptables("-D", rule).returncode != 0:
            break
        removed += 1
    return removed


def egress_rule_present(lab: str) -> bool:
    return rule_present(egress_rule(lab))


def install_egress_rule(lab: str) -> None:
    add_rule(egress_rule(lab), "the lab's egress rule")


def remove_egress_rule(lab: str) -> int:
    return remove_rule(egress_rule(lab))


def outside_address(subnet: str) -> str:
    """The lab's stand-in for a sender out on the internet: the subnet's last usable address,
    on this machine's side of the lab bridge. Traffic from it is told apart from the admin's
    own (verify and monitoring come from the gateway), as a drained MX must tell them apart."""
    net = ipaddress.ip_network(subnet)
    return str(net.broadcast_address - 1)


def ensure_outside_address(lab: str, subnet: str) -> str:
    """Put outside_address on the lab's bridge (once; it goes with the bridge at lab down)."""
    address = outside_address(subnet)
    done = subprocess.run(
        ["ip", "addr", "replace", f"{address}/32", "dev", bridge_name(lab)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise LabError(
            f"could not add {address} to the bridge of lab {lab!r}: {done.stderr.strip()}",
            hint="the lab needs root (ip addr on its own bridge)",
        )
    return address
