"""What a running lab is made of, saved as ``state.json`` in the lab's folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DnsState", "HostState", "LabState"]


@dataclass
class HostState:
    name: str
    fqdn: str
    distro: str
    image: str
    container: str
    ip: str
    groups: list[str]
    #: container port -> host port on 127.0.0.1
    ports: dict[int, int] = field(default_factory=dict)
    host_key: str = ""
    #: the receiver profile it runs ("" for a mail host) and the domains it is MX of
    receiver: str = ""
    mx_for: list[str] = field(default_factory=list)

    @property
    def ssh_port(self) -> int:
        return self.ports[22]


@dataclass
class DnsState:
    container: str
    ip: str
    port: int
    #: the zones it serves (origins), as last published
    zones: list[str] = field(default_factory=list)


@dataclass
class LabState:
    name: str
    folder: Path
    network: str
    bridge: str
    subnet: str
    domains: list[str]
    dns: DnsState
    hosts: list[HostState]
    cgroup_version: int

    @property
    def inventory(self) -> Path:
        return self.folder / "inventory" / "hosts.yml"

    @property
    def private_key(self) -> Path:
        return self.folder / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.folder / "known_hosts"

    @property
    def state_file(self) -> Path:
        return self.folder / "state.json"

    def host(self, name: str) -> HostState | None:
        return next((h for h in self.hosts if h.name == name), None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["folder"] = str(self.folder)
        data["inventory"] = str(self.inventory)
        return data

    def save(self) -> None:
        self.state_file.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> LabState | None:
        path = folder / "state.json"
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        data.pop("inventory", None)
        hosts = [
            HostState(**{**h, "ports": {int(k): int(v) for k, v in h["ports"].items()}})
            for h in data.pop("hosts")
        ]
        dns = DnsState(**data.pop("dns"))
        return cls(**{**data, "folder": Path(data["folder"]), "hosts": hosts, "dns": dns})
