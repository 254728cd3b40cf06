"""A lab's life: ``up`` builds what is missing and starts it, ``down`` removes every trace."""

from __future__ import annotations

import ipaddress
import shutil
import time
from dataclasses import dataclass
from typing import Any

import docker.errors
from docker import DockerClient

from harness.config import Paths
from harness.errors import LabError
from harness.lab.containers import (
    ContainerSpec,
    published_ports,
    published_udp_port,
    remove_lab_containers,
    run_container,
    wait_for_ssh,
    wait_for_systemd,
)
from harness.lab.distros import get_distro
from harness.lab.dns import DNS_COMMAND, DNS_PACKAGES, dns_files
from harness.lab.engine import cgroup_version
from harness.lab.images import BuildReport, ImageBuilder
from harness.lab.inventory import write_inventory, write_known_hosts
from harness.lab.names import (
    LAB_LABEL,
    bridge_name,
    container_name,
    dns_container_name,
    network_name,
    validate_lab_name,
)
from harness.lab.network import (
    create_network,
    egress_rule_present,
    install_egress_rule,
    remove_egress_rule,
    remove_network,
)
from harness.lab.packages import role_packages
from harness.lab.pki import CRL_FILE, LabCA, crl_url
from harness.lab.receivers import RECEIVER_PACKAGES, start_receiver
from harness.lab.sshkeys import load_or_create_client_key, new_keypair
from harness.lab.state import DnsState, HostState, LabState
from harness.lab.topology import Topology
from harness.lab.zones import lab_zones, wait_until_served
from harness.ui import step

__all__ = ["DNS_DISTRO", "DownReport", "Lab", "UpReport"]

#: The distro of the lab's infrastructure containers (DNS).
DNS_DISTRO = "debian12"
_FIRST_HOST_OFFSET = 10


@dataclass
class UpReport:
    state: LabState
    already_up: bool
    seconds: float


@dataclass
class DownReport:
    containers: int
    networks: int
    rules: int
    folder_removed: bool
    seconds: float


class Lab:
    """The lab called ``name``; its state lives in ``paths.lab(name)``."""

    def __init__(self, client: DockerClient, paths: Paths, name: str) -> None:
        self.client = client
        self.paths = paths
        self.name = validate_lab_name(name)
        self.folder = paths.lab(name)

    # -- inspection ---------------------------------------------------------------------------

    def state(self) -> LabState | None:
        return LabState.load(self.folder)

    def container_states(self) -> dict[str, str]:
        """Container name -> engine status, for every container carrying this lab's label."""
        found = self.client.containers.list(all=True, filters={"label": f"{LAB_LABEL}={self.name}"})
        return {c.name: c.status for c in found}

    def has_leftovers(self) -> bool:
        nets = self.client.networks.list(filters={"label": f"{LAB_LABEL}={self.name}"})
        return bool(self.container_states() or nets or egress_rule_present(self.name))

    def is_up(self, state: LabState) -> bool:
        live = self.container_states()
        wanted = [h.container for h in state.hosts] + [state.dns.container]
        return (
            all(live.get(c) == "running" for c in wanted)
            and egress_rule_present(self.name)
            and state.inventory.is_file()
        )

    def status(self) -> dict[str, Any]:
        """The lab as JSON-ready data: state, live container status, firewall rule."""
        state = self.state()
        live = self.container_states()
        data: dict[str, Any] = {
            "name": self.name,
            "folder": str(self.folder),
            "up": bool(state and self.is_up(state)),
            "egress_rule": egress_rule_present(self.name),
            "containers": live,
        }
        if state is not None:
            data["state"] = state.to_json()
        return data

    # -- up -----------------------------------------------------------------------------------

    def build_images(self, topology: Topology) -> dict[str, BuildReport]:
        """Build (or find) every image ``topology`` needs, keyed by host distro and ``dns``."""
        builder = ImageBuilder(self.client, self.paths.build)
        reports: dict[str, BuildReport] = {}
        for name in topology.distros:
            distro = get_distro(name)
            reports[name] = builder.ensure(distro, role_packages(self.paths.roles, distro))
        reports["dns"] = builder.ensure(get_distro(DNS_DISTRO), DNS_PACKAGES)
        for name in dict.fromkeys(h.distro for h in topology.hosts if h.receiver):
            reports[f"receiver-{name}"] = builder.ensure(get_distro(name), RECEIVER_PACKAGES)
        return reports

    def up(self, topology: Topology) -> UpReport:
        started = time.monotonic()
        state = self.state()
        if state is not None and self.is_up(state):
            return UpReport(state=state, already_up=True, seconds=time.monotonic() - started)
        if state is not None or self.has_leftovers():
            with step(f"clean up what a previous up of lab {self.name!r} left"):
                self.down()
        images = self.build_images(topology)
        self.folder.mkdir(parents=True, exist_ok=True)
        cgroups = cgroup_version()
        with step(f"network {network_name(self.name)} (bridge {bridge_name(self.name)})") as s:
            net = create_network(self.client, self.name)
            install_egress_rule(self.name)
            subnet = ipaddress.IPv4Network(net.attrs["IPAM"]["Config"][0]["Subnet"])
            s.note = f"{subnet}, egress dropped"
        client_pub = load_or_create_client_key(self.folder / "id_ed25519", f"mailstack-{self.name}")
        dns_ip = str(subnet.network_address + 2)
        addresses = {
            h.name: str(subnet.network_address + _FIRST_HOST_OFFSET + i)
            for i, h in enumerate(topology.hosts)
        }
        hosts = self._start_hosts(
            topology,
            images=images,
            addresses=addresses,
            dns_ip=dns_ip,
            client_pub=client_pub,
            cgroups=cgroups,
        )
        state = LabState(
            name=self.name,
            folder=self.folder,
            network=network_name(self.name),
            bridge=bridge_name(self.name),
            subnet=str(subnet),
            domains=[d.name for d in topology.domains],
            # the port is known once the DNS container runs (below)
            dns=DnsState(container=dns_container_name(self.name), ip=dns_ip, port=0),
            hosts=hosts,
            cgroup_version=cgroups,
        )
        ca = LabCA(self.folder / "pki", self.name, crl_url(topology.primary_domain))
        certificates = {host.name: ca.issue(host.fqdn, host.name) for host in hosts}
        receivers = [host for host in hosts if host.receiver]
        if receivers:
            with step(f"start {len(receivers)} provider-like receiver(s)") as s:
                for host in receivers:
                    s.update(f"{host.name} ({host.receiver})")
                    start_receiver(self.client, host, certificates[host.name])
                s.note = ", ".join(f"{h.name}: {h.receiver}" for h in receivers)
        state.save()
        write_known_hosts(state)
        write_inventory(state, self.paths.lab_group_vars)
        # The DNS starts last: it serves the zones made from the inventory just written (the
        # hosts need no DNS while they boot; their own names are in their /etc/hosts).
        with step("lab DNS (NSD): the zones of the inventory") as s:
            zones = lab_zones(state)
            state.dns = self._start_dns(
                topology, images["dns"].tag, dns_ip, zones, {CRL_FILE: ca.crl()}, cgroups
            )
            wait_until_served(state, [origin for origin, _ in zones])
            s.note = f"{', '.join(o.rstrip('.') for o, _ in zones) or 'no zones'}; " + (
                f"{state.dns.ip}, 127.0.0.1:{state.dns.port}"
            )
        state.save()
        write_inventory(state, self.paths.lab_group_vars)
        return UpReport(state=state, already_up=False, seconds=time.monotonic() - started)

    def _start_dns(
        self,
        topology: Topology,
        image: str,
        ip: str,
        zones: list[tuple[str, str]],
        pki: dict[str, bytes],
        cgroups: int,
    ) -> DnsState:
        spec = ContainerSpec(
            lab=self.name,
            name=dns_container_name(self.name),
            image=image,
            hostname="dns",
            domainname=topology.primary_domain,
            network=network_name(self.name),
            ip=ip,
            ports=(53,),
            udp_ports=(53,),
            command=DNS_COMMAND,
            systemd=False,
        )
        cid = run_container(self.client, spec, cgroups, dns_files(zones, pki))
        return DnsState(
            container=spec.name,
            ip=ip,
            port=published_udp_port(self.client, cid, 53),
            zones=[origin for origin, _ in zones],
        )

    def _start_hosts(
        self,
        topology: Topology,
        *,
        images: dict[str, BuildReport],
        addresses: dict[str, str],
        dns_ip: str,
        client_pub: str,
        cgroups: int,
    ) -> list[HostState]:
        hosts: list[HostState] = []
        # The hosts ask the lab's DNS directly, as a server asks its resolver: PTR lookups
        # then get the zones' names (mx1.example.test), not Docker's container names.
        resolv_conf = self.folder / "resolv.conf"
        resolv_conf.write_text(f"nameserver {dns_ip}\noptions timeout:1 attempts:2\n")
        with step(f"start {len(topology.hosts)} host(s)") as s:
            for spec in topology.hosts:
                s.update(spec.name)
                host_key = new_keypair(f"{spec.name}@mailstack-{self.name}")
                cspec = ContainerSpec(
                    lab=self.name,
                    name=container_name(self.name, spec.name),
                    image=images[f"receiver-{spec.distro}" if spec.receiver else spec.distro].tag,
                    hostname=spec.name,
                    domainname=topology.domain_of(spec.name),
                    network=network_name(self.name),
                    ip=addresses[spec.name],
                    ports=spec.ports,
                    dns=(dns_ip,),
                    cpus=spec.resources.cpus,
                    memory=spec.resources.memory,
                    aliases=(topology.fqdn(spec.name),),
                    resolv_conf=resolv_conf,
                )
                files = {
                    "etc/ssh/ssh_host_ed25519_key": (host_key.private_openssh, 0o600),
                    "etc/ssh/ssh_host_ed25519_key.pub": (
                        (host_key.public_openssh + "\n").encode(),
                        0o644,
                    ),
                    "root/.ssh/authorized_keys": ((client_pub + "\n").encode(), 0o600),
                }
                cid = run_container(self.client, cspec, cgroups, files)
                hosts.append(
                    HostState(
                        name=spec.name,
                        fqdn=topology.fqdn(spec.name),
                        distro=spec.distro,
                        image=cspec.image,
                        container=cspec.name,
                        ip=cspec.ip,
                        groups=list(spec.groups),
                        ports=published_ports(self.client, cid),
                        host_key=host_key.public_openssh,
                        receiver=spec.receiver,
                        mx_for=[d.name for d in topology.domains if spec.name in d.mx]
                        if spec.receiver
                        else [],
                    )
                )
        with step("wait for systemd and SSH") as s:
            for host in hosts:
                s.update(host.name)
                wait_for_systemd(self.client, host.container, host.name)
                wait_for_ssh(host.ssh_port, host.name)
        return hosts

    # -- down ---------------------------------------------------------------------------------

    def down(self) -> DownReport:
        """Remove containers, network, firewall rule and state; safe on a half-up lab."""
        started = time.monotonic()
        containers = remove_lab_containers(self.client, self.name)
        try:
            networks = remove_network(self.client, self.name)
        except docker.errors.APIError as exc:
            raise LabError(
                f"could not remove network {network_name(self.name)}: {exc.explanation}",
                hint="a container outside the lab may still be attached",
            ) from None
        rules = remove_egress_rule(self.name)
        existed = self.folder.exists()
        shutil.rmtree(self.folder, ignore_errors=True)
        return DownReport(
            containers=containers,
            networks=networks,
            rules=rules,
            folder_removed=existed,
            seconds=time.monotonic() - started,
        )
