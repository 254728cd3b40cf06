"""Topology files: which hosts a lab has, what they run, and which mail domains it serves.

A topology is YAML::

    domains:
      - name: example.test      # or just "example.test"; MX defaults to the first host
        mx: [mx1]               # a host's name lives under the first domain it is MX for
    hosts:
      - name: mx1
        distro: debian12
        groups: [mail]
        ports: [4190]           # published on 127.0.0.1 in addition to DEFAULT_PORTS
        resources: {cpus: 1.5, memory: 1g}
      - name: gmail             # a provider-like receiver (harness/receiver), not a mail host:
        receiver: gmail-like    # a profile of harness/receiver/profiles.yml; MX of its domains

Every mistake is reported with the file and the field that holds it (``hosts[1].distro``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from harness.errors import TopologyError
from harness.lab.distros import DISTROS

__all__ = [
    "DEFAULT_PORTS",
    "DomainSpec",
    "HostSpec",
    "Resources",
    "Topology",
    "default_topology",
    "load_topology",
    "parse_topology",
]

#: Ports every lab host publishes on 127.0.0.1: SSH, SMTP, submissions, submission, IMAP, IMAPS.
DEFAULT_PORTS: tuple[int, ...] = (22, 25, 465, 587, 143, 993)

_HOST_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$")
_DOMAIN_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_MEMORY = re.compile(r"^[1-9][0-9]*[kmg]?$")
_TOP_KEYS = {"description", "domains", "hosts"}
_HOST_KEYS = {"name", "distro", "groups", "ports", "resources", "receiver"}
_DOMAIN_KEYS = {"name", "mx"}
_RESOURCE_KEYS = {"cpus", "memory"}


@dataclass(frozen=True)
class Resources:
    cpus: float | None = None
    memory: str | None = None


@dataclass(frozen=True)
class HostSpec:
    name: str
    distro: str
    groups: tuple[str, ...] = ()
    extra_ports: tuple[int, ...] = ()
    resources: Resources = field(default_factory=Resources)
    #: a receiver profile's name: the host runs harness/receiver instead of the mail stack
    receiver: str = ""

    @property
    def ports(self) -> tuple[int, ...]:
        """All container ports to publish: the defaults, then the host's own, without repeats."""
        return tuple(dict.fromkeys((*DEFAULT_PORTS, *self.extra_ports)))


@dataclass(frozen=True)
class DomainSpec:
    name: str
    mx: tuple[str, ...]


@dataclass(frozen=True)
class Topology:
    source: str
    hosts: tuple[HostSpec, ...]
    domains: tuple[DomainSpec, ...]

    @property
    def primary_domain(self) -> str:
        return self.domains[0].name

    def domain_of(self, host: str) -> str:
        """The domain a host's name lives under: the first it is MX for, else the primary."""
        return next((d.name for d in self.domains if host in d.mx), self.primary_domain)

    def fqdn(self, host: str) -> str:
        return f"{host}.{self.domain_of(host)}"

    @property
    def distros(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(h.distro for h in self.hosts))


class _Parser:
    """Walks the YAML tree, raising TopologyError with the path of the first bad field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str, hint: str | None = None) -> TopologyError:
        return TopologyError(self.source, where, message, hint=hint)

    def mapping(self, value: object, where: str, allowed: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected a mapping, got {_kind(value)}")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise self.fail(
                f"{where}.{unknown[0]}" if where else unknown[0],
                "unknown key",
                hint=f"allowed keys: {', '.join(sorted(allowed))}",
            )
        return value

    def seq(self, value: object, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {_kind(value)}")
        return value

    def string(self, value: object, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"expected a non-empty string, got {value!r}")
        return value

    def topology(self, doc: object) -> Topology:
        top = self.mapping(doc, "", _TOP_KEYS) if doc is not None else {}
        if "hosts" not in top:
            raise self.fail("hosts", "missing", hint="a topology needs at least one host")
        hosts = self.seq(top["hosts"], "hosts")
        if not hosts:
            raise self.fail("hosts", "empty", hint="a topology needs at least one host")
        specs: list[HostSpec] = []
        seen: dict[str, int] = {}
        for i, raw in enumerate(hosts):
            spec = self.host(raw, f"hosts[{i}]")
            if spec.name in seen:
                raise self.fail(
                    f"hosts[{i}].name",
                    f"duplicate host {spec.name!r} (already hosts[{seen[spec.name]}])",
                    hint="give every host its own name",
                )
            seen[spec.name] = i
            specs.append(spec)
        if "domains" not in top:
            raise self.fail("domains", "missing", hint="name at least one mail domain under .test")
        raw_domains = self.seq(top["domains"], "domains")
        if not raw_domains:
            raise self.fail("domains", "empty", hint="name at least one mail domain under .test")
        domains: list[DomainSpec] = []
        names: set[str] = set()
        for i, raw in enumerate(raw_domains):
            dom = self.domain(raw, f"domains[{i}]", seen, default_mx=specs[0].name)
            if dom.name in names:
                raise self.fail(f"domains[{i}].name", f"duplicate domain {dom.name!r}")
            names.add(dom.name)
            domains.append(dom)
        return Topology(source=self.source, hosts=tuple(specs), domains=tuple(domains))

    def host(self, raw: object, where: str) -> HostSpec:
        m = self.mapping(raw, where, _HOST_KEYS)
        if "name" not in m:
            raise self.fail(f"{where}.name", "missing")
        name = self.string(m["name"], f"{where}.name")
        if not _HOST_NAME.match(name):
            raise self.fail(
                f"{where}.name",
                f"invalid host name {name!r}",
                hint="use lower-case letters, digits and '-', starting with a letter, 32 at most",
            )
        distro = self.string(m.get("distro", "debian12"), f"{where}.distro")
        if distro not in DISTROS:
            raise self.fail(
                f"{where}.distro",
                f"unknown distro {distro!r}",
                hint=f"choose one of: {', '.join(DISTROS)}",
            )
        groups = tuple(
            self.group(g, f"{where}.groups[{j}]")
            for j, g in enumerate(self.seq(m.get("groups", []), f"{where}.groups"))
        )
        ports = tuple(
            self.port(p, f"{where}.ports[{j}]")
            for j, p in enumerate(self.seq(m.get("ports", []), f"{where}.ports"))
        )
        res = self.resources(m.get("resources", {}), f"{where}.resources")
        receiver = self.receiver(m.get("receiver"), f"{where}.receiver", groups)
        return HostSpec(name, distro, groups, ports, res, receiver)

    def receiver(self, value: object, where: str, groups: tuple[str, ...]) -> str:
        if value is None:
            return ""
        from harness.receiver.catalogue import load_catalogue  # noqa: PLC0415 -- only if used

        name = self.string(value, where)
        profiles = sorted(load_catalogue())
        if name not in profiles:
            raise self.fail(where, f"unknown receiver profile {name!r}", hint=", ".join(profiles))
        if "mail" in groups:
            raise self.fail(
                where,
                "a receiver is not a mail host",
                hint="take it out of group mail (the roles would configure Postfix on it)",
            )
        return name

    def group(self, value: object, where: str) -> str:
        name = self.string(value, where)
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name) or name in {"all", "ungrouped"}:
            raise self.fail(
                where,
                f"invalid group name {name!r}",
                hint="Ansible group names use letters, digits and '_'; 'all' and 'ungrouped' "
                "are reserved",
            )
        return name

    def port(self, value: object, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise self.fail(where, f"invalid port {value!r}", hint="a whole number from 1 to 65535")
        return value

    def resources(self, raw: object, where: str) -> Resources:
        m = self.mapping(raw, where, _RESOURCE_KEYS)
        cpus = m.get("cpus")
        if cpus is not None and (
            isinstance(cpus, bool) or not isinstance(cpus, int | float) or cpus <= 0
        ):
            raise self.fail(f"{where}.cpus", f"invalid cpus {cpus!r}", hint="a positive number")
        memory = m.get("memory")
        if memory is not None:
            memory = str(memory).lower()
            if not _MEMORY.match(memory):
                raise self.fail(
                    f"{where}.memory",
                    f"invalid memory {m['memory']!r}",
                    hint="bytes, or a number with k, m or g: 512m, 1g",
                )
        return Resources(cpus=float(cpus) if cpus is not None else None, memory=memory)

    def domain(
        self, raw: object, where: str, hosts: Mapping[str, int], default_mx: str
    ) -> DomainSpec:
        if isinstance(raw, str):
            raw = {"name": raw}
        m = self.mapping(raw, where, _DOMAIN_KEYS)
        if "name" not in m:
            raise self.fail(f"{where}.name", "missing")
        name = self.string(m["name"], f"{where}.name").lower().rstrip(".")
        labels = name.split(".")
        if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
            raise self.fail(f"{where}.name", f"invalid domain name {name!r}")
        if labels[-1] != "test":
            raise self.fail(
                f"{where}.name",
                f"domain {name!r} is not under .test",
                hint="lab domains live under the reserved .test TLD (RFC 6761), e.g. example.test",
            )
        mx_raw = self.seq(m.get("mx", [default_mx]), f"{where}.mx")
        mx: list[str] = []
        for j, raw_host in enumerate(mx_raw):
            host = self.string(raw_host, f"{where}.mx[{j}]")
            if host not in hosts:
                raise self.fail(
                    f"{where}.mx[{j}]",
                    f"unknown host {host!r}",
                    hint=f"MX hosts must be lab hosts: {', '.join(hosts)}",
                )
            mx.append(host)
        return DomainSpec(name=name, mx=tuple(mx))


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def parse_topology(text: str, source: str = "<topology>") -> Topology:
    """Parse topology YAML ``text``; ``source`` names it in errors."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(yaml)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise TopologyError(source, where, f"not valid YAML: {problem}") from None
    return _Parser(source).topology(doc)


def load_topology(path: Path) -> Topology:
    """Read and parse the topology file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TopologyError(
            str(path), "(file)", f"cannot read: {exc.strerror}", hint="check the --topology path"
        ) from None
    return parse_topology(text, str(path))


def default_topology() -> Topology:
    """The embedded default: ``mx1`` (Debian 12) serving ``example.test`` and ``mx2`` (Debian 13)
    serving ``peer.test``."""
    text = resources.files("harness.lab").joinpath("default-topology.yml").read_text("utf-8")
    return parse_topology(text, "default topology")
