"""Lab containers: systemd as PID 1, fixed addresses on the lab network, keys put in before boot."""

from __future__ import annotations

import io
import socket
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
from docker import DockerClient

from harness.errors import LabError
from harness.lab.names import LAB_LABEL

__all__ = [
    "ContainerSpec",
    "files_tar",
    "free_ports",
    "published_ports",
    "remove_lab_containers",
    "run_container",
    "systemd_host_options",
    "wait_for_ssh",
    "wait_for_systemd",
]

LOOPBACK = "127.0.0.1"


def systemd_host_options(cgroup_version: int) -> dict[str, Any]:
    """HostConfig options that let systemd run as PID 1 without --privileged.

    systemd must see the cgroup it was started in and write below it: the host cgroup namespace
    plus the host hierarchy mounted read-write gives it that on both v1 (verified on these
    machines) and v2 (the recipe molecule's systemd images use). On v2 the private namespace
    would leave Docker's read-only cgroup mount, which systemd cannot use.
    """
    if cgroup_version not in (1, 2):
        raise LabError(f"unknown cgroup version {cgroup_version}")
    return {
        # NET_ADMIN: the host's own firewall in its network namespace (fail2ban's nftables
        # bans), as on a real server.
        "cap_add": ["SYS_ADMIN", "NET_ADMIN"],
        "security_opt": ["seccomp=unconfined"],
        "tmpfs": {"/run": "rw,mode=755", "/run/lock": "rw,mode=1777", "/tmp": "rw,mode=1777"},  # noqa: S108
        "binds": {"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}},
        "cgroupns": "host",
    }


@dataclass(frozen=True)
class ContainerSpec:
    lab: str
    name: str
    image: str
    hostname: str
    domainname: str
    network: str
    ip: str
    ports: tuple[int, ...]
    dns: tuple[str, ...] = ()
    command: tuple[str, ...] | None = None
    systemd: bool = True
    cpus: float | None = None
    memory: str | None = None
    udp_ports: tuple[int, ...] = ()
    aliases: tuple[str, ...] = ()
    #: a file mounted read-only as /etc/resolv.conf: the container then asks those name
    #: servers directly, not Docker's embedded DNS (whose PTR answers name containers)
    resolv_conf: Path | None = None


def files_tar(files: Mapping[str, tuple[bytes, int]]) -> bytes:
    # Real modification times: a file dated 1970 looks unchanged to programs that compare
    # times (NSD skips a zone file whose time equals the zone's, which starts at 0).
    now = int(time.time())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs = sorted({p.rsplit("/", 1)[0] for p in files if "/" in p})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mtime = now
            info.mode = 0o700 if d.endswith(".ssh") else 0o755
            tar.addfile(info)
        for path, (data, mode) in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = mode
            info.mtime = now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def free_ports(count: int, kind: socket.SocketKind) -> list[int]:
    """``count`` distinct ports of ``kind`` (SOCK_STREAM or SOCK_DGRAM) free on the loopback
    address now (held open together while chosen, so none comes back twice)."""
    socks = [socket.socket(socket.AF_INET, kind) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind((LOOPBACK, 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def run_container(
    client: DockerClient,
    spec: ContainerSpec,
    cgroup_version: int,
    files: Mapping[str, tuple[bytes, int]] | None = None,
) -> str:
    """Create ``spec``, copy ``files`` (path relative to / -> content, mode) in, start it.

    Returns the container id.
    """
    api = client.api
    # Host ports are chosen here, not left to the engine: the engine picks new ones each time a
    # container starts, and a host started again after a hard stop must keep its address.
    tcp = free_ports(len(spec.ports), socket.SOCK_STREAM)
    udp = free_ports(len(spec.udp_ports), socket.SOCK_DGRAM)
    port_bindings: dict[str, Any] = {
        f"{p}/tcp": (LOOPBACK, h) for p, h in zip(spec.ports, tcp, strict=True)
    }
    port_bindings.update(
        {f"{p}/udp": (LOOPBACK, h) for p, h in zip(spec.udp_ports, udp, strict=True)}
    )
    host_options: dict[str, Any] = systemd_host_options(cgroup_version) if spec.systemd else {}
    if spec.cpus:
        host_options["nano_cpus"] = int(spec.cpus * 1e9)
    if spec.memory:
        host_options["mem_limit"] = spec.memory
    if spec.resolv_conf is not None:
        host_options["binds"] = {
            **host_options.get("binds", {}),
            str(spec.resolv_conf): {"bind": "/etc/resolv.conf", "mode": "ro"},
        }
    host_config = api.create_host_config(
        port_bindings=port_bindings,
        dns=list(spec.dns) or None,
        **host_options,
    )
    networking = api.create_networking_config(
        {
            spec.network: api.create_endpoint_config(
                ipv4_address=spec.ip, aliases=[spec.hostname, *spec.aliases]
            )
        }
    )
    created = api.create_container(
        spec.image,
        command=list(spec.command) if spec.command else None,
        name=spec.name,
        hostname=spec.hostname,
        domainname=spec.domainname,
        detach=True,
        ports=[(p, "tcp") for p in spec.ports] + [(p, "udp") for p in spec.udp_ports],
        labels={LAB_LABEL: spec.lab},
        host_config=host_config,
        networking_config=networking,
        stop_signal="SIGRTMIN+3" if spec.systemd else None,
    )
    cid: str = created["Id"]
    if files:
        api.put_archive(cid, "/", files_tar(files))
    api.start(cid)
    return cid


def published_ports(client: DockerClient, cid: str) -> dict[int, int]:
    """Container TCP port -> host port on 127.0.0.1, as the engine assigned them."""
    info = client.api.inspect_container(cid)
    ports: dict[int, int] = {}
    for key, bindings in (info["NetworkSettings"]["Ports"] or {}).items():
        port, proto = key.split("/")
        if proto == "tcp" and bindings:
            ports[int(port)] = int(bindings[0]["HostPort"])
    return ports


def published_udp_port(client: DockerClient, cid: str, port: int) -> int:
    info = client.api.inspect_container(cid)
    bindings = (info["NetworkSettings"]["Ports"] or {}).get(f"{port}/udp") or []
    if not bindings:
        raise LabError(f"container {cid[:12]} publishes no {port}/udp")
    return int(bindings[0]["HostPort"])


def wait_for_systemd(client: DockerClient, cid: str, name: str, timeout: float = 90.0) -> str:
    """Wait until systemd in ``cid`` has finished booting; returns its state (running/degraded)."""
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline:
        exec_id = client.api.exec_create(cid, ["systemctl", "is-system-running"])["Id"]
        raw = client.api.exec_start(exec_id)
        out = raw.decode(errors="replace").strip() if isinstance(raw, bytes) else ""
        state = out.splitlines()[-1] if out else "unknown"
        if state in {"running", "degraded"}:
            return state
        if client.api.inspect_container(cid)["State"]["Status"] != "running":
            logs = client.api.logs(cid, tail=5).decode(errors="replace").strip()
            raise LabError(f"host {name}: container stopped while booting: {logs}")
        time.sleep(0.5)
    raise LabError(
        f"host {name}: systemd did not finish booting within {timeout:.0f} s (state {state})",
        hint=f"look inside: docker exec -it {cid[:12]} systemctl list-jobs",
    )


def wait_for_ssh(port: int, name: str, timeout: float = 60.0) -> None:
    """Wait until an SSH server answers with its banner on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
                sock.settimeout(2)
                banner = sock.recv(64)
                if banner.startswith(b"SSH-"):
                    return
                last = f"unexpected banner {banner!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.3)
    raise LabError(f"host {name}: SSH on 127.0.0.1:{port} did not answer ({last})")


def remove_lab_containers(client: DockerClient, lab: str) -> int:
    removed = 0
    for c in client.containers.list(all=True, filters={"label": f"{LAB_LABEL}={lab}"}):
        try:
            c.remove(force=True, v=True)
            removed += 1
        except docker.errors.NotFound:
            continue
    return removed
